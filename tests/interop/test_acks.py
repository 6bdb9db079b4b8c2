"""Produce with acks=0, 1 and all from real clients (under both flush policies for
acks=all), and the acks=0 contract at the protocol level: no response at all, so the
correlation ids of later requests on the same connection stay in step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from kio.schema.errors import ErrorCode

from broker.records.record import Record, build_batch
from contracts.launcher import BrokerProcess
from tests.interop.checks import assert_same_records
from tests.interop.clients import FAMILIES, samples_for
from tests.interop.kcat import kcat_consume
from tests.interop.messages import BASE_TIMESTAMP_MS
from tests.interop.wire import WireClient

pytestmark = pytest.mark.interop

ACKS_OPTIONS: dict[str, Callable[[str], dict[str, object]]] = {
    "kcat": lambda acks: {"acks": acks},
    "confluent-kafka": lambda acks: {"acks": acks},
    # kafka-python's idempotence (on by default) needs acks=all.
    "kafka-python": lambda acks: {
        "acks": acks if acks == "all" else int(acks),
        "enable_idempotence": acks == "all",
    },
    "aiokafka": lambda acks: {"acks": acks if acks == "all" else int(acks)},
}
CASES = [(name, acks) for name in ACKS_OPTIONS for acks in ("0", "1", "all")]


@pytest.fixture(scope="module")
def durable_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    base = tmp_path_factory.mktemp("durable")
    process = BrokerProcess(base / "data", "--flush-policy", "durable").start()
    try:
        yield process
    finally:
        process.stop()


def _wait_for_end(bootstrap: str, topic: str, end: int, timeout_s: float = 10) -> int:
    """acks=0 returns before the broker has appended: wait (bounded) for the records."""
    with WireClient(bootstrap) as wire:
        deadline = time.monotonic() + timeout_s
        current = wire.log_end_offset(topic)
        while current < end and time.monotonic() < deadline:
            time.sleep(0.05)
            current = wire.log_end_offset(topic)
        return current


@pytest.mark.parametrize(
    ("name", "acks"), CASES, ids=[f"{name} with acks={acks}" for name, acks in CASES]
)
def test_every_acks_setting_stores_every_record_once(
    shared_broker: BrokerProcess, topic: str, name: str, acks: str
) -> None:
    client = FAMILIES[name]
    messages = samples_for(client, f"acks={acks} {name}")
    with WireClient(shared_broker.bootstrap) as wire:
        wire.create_topic(topic)
    client.produce(shared_broker.bootstrap, topic, messages, options=ACKS_OPTIONS[name](acks))
    assert _wait_for_end(shared_broker.bootstrap, topic, len(messages)) == len(messages)
    consumed = kcat_consume(shared_broker.bootstrap, topic, 0, len(messages))
    assert_same_records(consumed, messages)


@pytest.mark.parametrize(
    "name", list(ACKS_OPTIONS), ids=[f"{n} with acks=all" for n in ACKS_OPTIONS]
)
def test_acks_all_works_under_the_durable_flush_policy(
    durable_broker: BrokerProcess, topic: str, name: str
) -> None:
    client = FAMILIES[name]
    messages = samples_for(client, f"durable {name}")
    client.produce(durable_broker.bootstrap, topic, messages, options=ACKS_OPTIONS[name]("all"))
    consumed = FAMILIES["confluent-kafka"].consume(durable_broker.bootstrap, topic, len(messages))
    assert_same_records(consumed, messages)


# -- the protocol level -------------------------------------------------------------------


def _batch(value: bytes) -> bytes:
    return build_batch([Record(value, b"k", BASE_TIMESTAMP_MS)])


@pytest.mark.parametrize(
    "broker_name", ["interval", "durable"], ids=["interval flush", "durable flush"]
)
def test_acks_zero_gets_no_response_and_later_requests_stay_in_step(
    request: pytest.FixtureRequest, topic: str, broker_name: str
) -> None:
    broker = request.getfixturevalue(
        "shared_broker" if broker_name == "interval" else "durable_broker"
    )
    with WireClient(broker.bootstrap) as wire:
        wire.create_topic(topic)
        for i in range(3):
            wire.produce(topic, 0, _batch(f"fire and forget {i}".encode()), acks=0, send_only=True)
        assert not wire.readable_within(0.3), "acks=0 was answered"
        # The next acks=1 request on the same connection gets its own response.
        acked = wire.produce(topic, 0, _batch(b"acknowledged"), acks=1)
        assert (acked.error_code, acked.base_offset) == (ErrorCode.none, 3)
        # So do requests of other APIs.
        assert wire.log_end_offset(topic) == 4
    consumed = kcat_consume(broker.bootstrap, topic, 0, 4)
    assert [r.value for r in consumed] == [
        b"fire and forget 0",
        b"fire and forget 1",
        b"fire and forget 2",
        b"acknowledged",
    ]


def test_a_failed_acks_zero_produce_is_not_answered_either(wire: WireClient, topic: str) -> None:
    wire.create_topic(topic)
    # An unknown partition: Kafka still sends nothing for acks=0.
    wire.produce(topic, 7, _batch(b"nowhere"), acks=0, send_only=True)
    assert not wire.readable_within(0.3), "acks=0 was answered"
    assert wire.produce(topic, 0, _batch(b"somewhere"), acks=1).error_code == ErrorCode.none
