"""Idempotent producers: real clients produce without errors with idempotence on, and the
broker answers retried, out-of-order and fenced batches the way Kafka does.

The protocol-level cases use the raw client: a producer id and epoch from
InitProducerId, batches built with explicit sequence numbers, and the log end offset
read with ListOffsets before and after, so "not stored twice" is observed, not assumed.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from kio.schema.errors import ErrorCode

from broker.records.record import Record, build_batch
from contracts.launcher import BrokerProcess
from tests.interop.checks import StoredBatch, assert_same_records, request_count, stored_batches
from tests.interop.clients import FAMILIES, samples_for
from tests.interop.kcat import kcat_consume
from tests.interop.messages import BASE_TIMESTAMP_MS, Message
from tests.interop.wire import WireClient

pytestmark = pytest.mark.interop

IDEMPOTENT = {
    "kafka-python": {},  # idempotent by default in kafka-python 3
    "confluent-kafka": {"enable.idempotence": True},
    "aiokafka": {"enable_idempotence": True},
}


def _assert_sequences_are_contiguous(batches: Sequence[StoredBatch]) -> None:
    """One producer id on every batch, sequences from 0 without gaps or repeats."""
    (producer_id,) = {b.producer_id for b in batches}
    assert producer_id >= 0
    expected = 0
    for batch in batches:
        assert batch.base_sequence == expected, (batch.base_sequence, expected)
        expected += batch.records_count


@pytest.mark.parametrize("name", list(IDEMPOTENT), ids=[f"{n} is idempotent" for n in IDEMPOTENT])
def test_idempotent_producers_of_real_clients_store_each_record_once(
    shared_broker: BrokerProcess, topic: str, name: str
) -> None:
    client = FAMILIES[name]
    inits_before = request_count(shared_broker.http_url, "init_producer_id")
    messages = samples_for(client, f"idempotent {name}")
    client.produce(shared_broker.bootstrap, topic, messages, options=IDEMPOTENT[name])
    assert request_count(shared_broker.http_url, "init_producer_id") > inits_before
    _assert_sequences_are_contiguous(stored_batches(shared_broker.data_dir, topic))
    consumed = kcat_consume(shared_broker.bootstrap, topic, 0, len(messages) + 1)
    assert_same_records(consumed, messages)


# -- the protocol level -------------------------------------------------------------------


def _batch(pid: int, epoch: int, sequence: int, count: int, tag: str) -> bytes:
    records = [
        Record(f"{tag} {sequence + i}".encode(), b"k", BASE_TIMESTAMP_MS + sequence + i)
        for i in range(count)
    ]
    return build_batch(records, producer_id=pid, producer_epoch=epoch, base_sequence=sequence)


def _expected(tag: str, sequences: range) -> list[Message]:
    return [
        Message(f"{tag} {s}".encode(), b"k", timestamp_ms=BASE_TIMESTAMP_MS + s) for s in sequences
    ]


def test_a_resent_idempotent_batch_gets_its_original_offset_and_is_not_stored_again(
    shared_broker: BrokerProcess, wire: WireClient, topic: str
) -> None:
    wire.create_topic(topic)
    pid, epoch = wire.init_producer_id()
    batches = [_batch(pid, epoch, seq, 3, "retry") for seq in (0, 3, 6)]
    first = [wire.produce(topic, 0, b) for b in batches]
    assert [(r.error_code, r.base_offset) for r in first] == [
        (ErrorCode.none, 0),
        (ErrorCode.none, 3),
        (ErrorCode.none, 6),
    ]
    end = wire.log_end_offset(topic)

    # The latest batch again (a retry after a lost response), then an older one.
    for index in (2, 1):
        again = wire.produce(topic, 0, batches[index])
        assert (again.error_code, again.base_offset) == (ErrorCode.none, first[index].base_offset)
        assert wire.log_end_offset(topic) == end

    # The producer carries on after the retries as if nothing happened.
    after = wire.produce(topic, 0, _batch(pid, epoch, 9, 1, "retry"))
    assert (after.error_code, after.base_offset) == (ErrorCode.none, end)
    consumed = kcat_consume(shared_broker.bootstrap, topic, 0, 20)
    assert_same_records(consumed, _expected("retry", range(10)))


def test_a_gap_in_sequence_numbers_is_out_of_order_and_not_stored(
    wire: WireClient, topic: str
) -> None:
    wire.create_topic(topic)
    pid, epoch = wire.init_producer_id()
    assert wire.produce(topic, 0, _batch(pid, epoch, 0, 2, "gap")).error_code == ErrorCode.none
    end = wire.log_end_offset(topic)
    skipped = wire.produce(topic, 0, _batch(pid, epoch, 5, 1, "gap"))
    assert skipped.error_code == ErrorCode.out_of_order_sequence_number
    assert wire.log_end_offset(topic) == end
    # The expected sequence is still accepted afterwards.
    assert wire.produce(topic, 0, _batch(pid, epoch, 2, 1, "gap")).error_code == ErrorCode.none


def test_a_new_producer_must_start_at_sequence_zero(wire: WireClient, topic: str) -> None:
    wire.create_topic(topic)
    pid, epoch = wire.init_producer_id()
    late = wire.produce(topic, 0, _batch(pid, epoch, 7, 1, "late"))
    assert late.error_code == ErrorCode.out_of_order_sequence_number
    assert wire.log_end_offset(topic) == 0


def test_a_batch_from_an_older_epoch_is_fenced(wire: WireClient, topic: str) -> None:
    wire.create_topic(topic)
    pid, epoch = wire.init_producer_id()
    assert wire.produce(topic, 0, _batch(pid, epoch, 0, 1, "old")).error_code == ErrorCode.none

    # InitProducerId v3+ with the current id and epoch bumps the epoch.
    assert wire.init_producer_id(pid, epoch) == (pid, epoch + 1)
    assert wire.produce(topic, 0, _batch(pid, epoch + 1, 0, 1, "new")).error_code == ErrorCode.none
    end = wire.log_end_offset(topic)

    stale = wire.produce(topic, 0, _batch(pid, epoch, 1, 1, "old"))
    assert stale.error_code == ErrorCode.invalid_producer_epoch
    assert wire.log_end_offset(topic) == end


def test_producer_ids_are_never_handed_out_twice_by_a_running_broker(wire: WireClient) -> None:
    ids = [wire.init_producer_id()[0] for _ in range(5)]
    assert len(set(ids)) == len(ids)


def test_producer_ids_stay_unique_across_a_restart(broker: BrokerProcess) -> None:
    with WireClient(broker.bootstrap) as wire:
        before = {wire.init_producer_id()[0] for _ in range(3)}
    broker.restart()
    with WireClient(broker.bootstrap) as wire:
        after = {wire.init_producer_id()[0] for _ in range(3)}
    assert before.isdisjoint(after), (before, after)
