"""Torn and corrupt log tails, and corrupt index files, repaired at start.

Each test writes known batches with the raw client (so batch boundaries are known),
damages the files of a stopped broker by hand, restarts it, and checks that it recovers
to the last valid batch, reports what it dropped (log line and
``tidewatch_broker_recovery_truncated_bytes``), serves every record before the damage
to a real consumer, and takes new records at the right offset.

Note: after a *clean* shutdown the broker skips the CRC scan at the next start (as
Kafka skips recovery), so the corrupt-CRC case below follows a SIGKILL; a torn
(short) tail is found either way, because batch lengths are always checked.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from contracts.launcher import BrokerProcess
from tests.broker.robustness import wire
from tests.broker.robustness.clients import KafkaConsumer, KafkaProducer, TopicPartition
from tests.broker.robustness.conftest import StartBroker
from tests.broker.robustness.support import metric, scan_segment, scrape

RECORDS_PER_BATCH = 10


def create_topic(broker: BrokerProcess, name: str, **config: str) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(name, 1, 1, config=config)])[name].result(timeout=30)


def produce_batches(broker: BrokerProcess, topic: str, batches: int) -> list[bytes]:
    values: list[bytes] = []
    with wire.RawConnection(broker.host, broker.port) as conn:
        for b in range(batches):
            batch = [f"{topic}-{b:03d}-{i}".encode() * 4 for i in range(RECORDS_PER_BATCH)]
            response = conn.produce(3, topic, [(0, wire.make_batch(batch))], acks=-1)
            (partition,) = response.responses[0].partition_responses
            assert int(partition.error_code.value) == 0
            assert int(partition.base_offset) == len(values)
            values.extend(batch)
    return values


def consume(broker: BrokerProcess, topic: str) -> list[tuple[int, bytes]]:
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="none",
    )
    out: list[tuple[int, bytes]] = []
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek(partition, 0)
        end = consumer.end_offsets([partition])[partition]
        deadline = time.monotonic() + 30
        while len(out) < end and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=300).values():
                out.extend((r.offset, r.value) for r in records)
    finally:
        consumer.close()
    return out


def produce_one(broker: BrokerProcess, topic: str, value: bytes) -> int:
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=0)
    try:
        return int(producer.send(topic, value).get(timeout=30).offset)
    finally:
        producer.close(timeout=5)


def last_segment(broker: BrokerProcess, topic: str) -> Path:
    return sorted((broker.data_dir / f"{topic}-0").glob("*.log"))[-1]


def assert_reported(broker: BrokerProcess, topic: str, dropped: int, log_end: int) -> str:
    """The recovery log line for ``topic`` and the metric both report ``dropped``."""
    pattern = (
        rf"partition {topic}-0: dropped (\d+) bytes of torn or corrupt tail \((.*)\); "
        r"log now ends at offset (\d+)"
    )
    match = re.search(pattern, broker.output())
    assert match, f"no recovery report for {topic} in:\n{broker.output()}"
    assert (int(match.group(1)), int(match.group(3))) == (dropped, log_end)
    assert metric(scrape(broker), "tidewatch_broker_recovery_truncated_bytes") == dropped
    return match.group(2)


def test_a_tail_torn_in_the_middle_of_a_batch_is_cut_back_to_the_last_whole_batch(
    start_broker: StartBroker,
) -> None:
    broker = start_broker()
    create_topic(broker, "torn")
    values = produce_batches(broker, "torn", 20)
    assert broker.stop() == 0
    segment = last_segment(broker, "torn")
    batches = scan_segment(segment)
    last = batches[-1]
    cut = 37  # bytes removed from the end: the last batch is left torn
    os.truncate(segment, segment.stat().st_size - cut)

    broker.start()
    survivors = len(values) - last.records
    reason = assert_reported(broker, "torn", last.size - cut, survivors)
    assert f"position {last.position}" in reason
    assert segment.stat().st_size == last.position
    assert consume(broker, "torn") == list(enumerate(values[:survivors]))
    assert produce_one(broker, "torn", b"after the tear") == survivors
    assert consume(broker, "torn")[-1] == (survivors, b"after the tear")


def test_a_corrupt_last_batch_and_garbage_after_it_are_dropped_after_a_crash(
    start_broker: StartBroker,
) -> None:
    broker = start_broker()
    create_topic(broker, "corrupt")
    values = produce_batches(broker, "corrupt", 20)
    broker.kill()  # a crash: the next start scans with CRC checks
    segment = last_segment(broker, "corrupt")
    last = scan_segment(segment)[-1]
    with open(segment, "r+b") as f:
        f.seek(last.position + last.size - 20)  # inside the last record: CRC-covered
        f.write(b"\xff\xfe\xfd\xfc")
        f.seek(0, os.SEEK_END)
        f.write(b"garbage after the last batch" * 4)
    damaged_size = segment.stat().st_size

    broker.start()
    survivors = len(values) - last.records
    reason = assert_reported(broker, "corrupt", damaged_size - last.position, survivors)
    assert "CRC mismatch" in reason
    assert [b.base_offset for b in scan_segment(segment)][-1] == survivors - RECORDS_PER_BATCH
    assert consume(broker, "corrupt") == list(enumerate(values[:survivors]))
    assert produce_one(broker, "corrupt", b"after the damage") == survivors


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda raw: raw[:-3], id="an index file cut mid-entry"),
        pytest.param(lambda raw: raw[8:16] + raw[:8] + raw[16:], id="index entries out of order"),
        pytest.param(lambda raw: b"\xff" * len(raw), id="an index file of 0xff bytes"),
        pytest.param(lambda raw: raw[:8], id="an index file cut at an entry boundary"),
        pytest.param(lambda raw: b"", id="an emptied index file"),
    ],
)
def test_a_corrupt_index_of_a_middle_segment_is_rebuilt(
    start_broker: StartBroker, damage: object
) -> None:
    broker = start_broker()
    create_topic(broker, "indexed", **{"segment.bytes": "6000", "index.interval.bytes": "200"})
    values = produce_batches(broker, "indexed", 40)
    assert broker.stop() == 0
    segments = sorted((broker.data_dir / "indexed-0").glob("*.log"))
    assert len(segments) >= 4
    middle = segments[len(segments) // 2]
    index = middle.with_suffix(".index")
    original = index.read_bytes()
    assert len(original) >= 16, "the middle segment's index should hold several entries"
    index.write_bytes(damage(original))  # type: ignore[operator]

    broker.start()
    assert index.read_bytes() == original, "the index was not rebuilt"
    assert consume(broker, "indexed") == list(enumerate(values))
    # A fetch that starts inside the rebuilt segment finds the batch holding the offset.
    first = int(middle.stem)
    wanted = first + RECORDS_PER_BATCH + 3
    with wire.RawConnection(broker.host, broker.port) as conn:
        got = wire.fetch(conn, "indexed", 0, wanted)
    offsets = [offset for offset, _ in wire.batch_values(got.records)]
    assert offsets[0] <= wanted <= offsets[-1]
    assert metric(scrape(broker), "tidewatch_broker_recovery_truncated_bytes") == 0
