"""Retention by time and by size against a real broker checking every 100 ms.

Each topic is first filled with retention off, its raw batches and segment files are
recorded, and only then is retention switched on with IncrementalAlterConfigs: so the
test knows exactly which segments must go (the oldest ones that are wholly expired or
over the size budget), that the log start offset must land on the first survivor's
base offset, and that every surviving byte must be unchanged.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from contracts.launcher import BrokerProcess
from tests.broker.robustness import wire
from tests.broker.robustness.clients import KafkaConsumer, TopicPartition, kafka
from tests.broker.robustness.conftest import StartBroker
from tests.broker.robustness.support import (
    log_digests,
    metric,
    scan_segment,
    scrape,
    wait_until,
)

OFFSET_OUT_OF_RANGE = 1
SEGMENT_BYTES = 2000
HOUR_MS = 3_600_000
RETENTION_CONFIG = {"retention_check_interval_ms": 100}


@pytest.fixture
def broker(start_broker: StartBroker) -> BrokerProcess:
    return start_broker(config=RETENTION_CONFIG)


def create_topic(broker: BrokerProcess, name: str, **config: str) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    settings = {"segment.bytes": str(SEGMENT_BYTES), "retention.ms": "-1", **config}
    admin.create_topics([NewTopic(name, 1, 1, config=settings)])[name].result(timeout=30)


def set_config(broker: BrokerProcess, topic: str, **values: str) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    entries = [
        ConfigEntry(k.replace("_", "."), v, incremental_operation=AlterConfigOpType.SET)
        for k, v in values.items()
    ]
    resource = ConfigResource("topic", topic, incremental_configs=entries)
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)


def produce(broker: BrokerProcess, topic: str, batches: int, timestamp_ms: int, tag: str) -> None:
    with wire.RawConnection(broker.host, broker.port) as conn:
        for b in range(batches):
            values = [f"{tag}-{b:03d}-{i}".encode() * 3 for i in range(8)]
            batch = wire.make_batch(values, timestamp_ms=timestamp_ms)
            response = conn.produce(3, topic, [(0, batch)], acks=-1)
            assert int(response.responses[0].partition_responses[0].error_code.value) == 0


def offsets(broker: BrokerProcess, topic: str) -> tuple[int, int]:
    with wire.RawConnection(broker.host, broker.port) as conn:
        (e1, start), (e2, end) = (
            wire.list_offset(conn, topic, 0, wire.EARLIEST),
            wire.list_offset(conn, topic, 0, wire.LATEST),
        )
    assert e1 == e2 == 0
    return start, end


def raw_log(broker: BrokerProcess, topic: str, start: int, end: int) -> bytes:
    with wire.RawConnection(broker.host, broker.port) as conn:
        return wire.fetch_all(conn, topic, 0, start, end)


def segments(broker: BrokerProcess, topic: str) -> list[Path]:
    return sorted((broker.data_dir / f"{topic}-0").glob("*.log"))


def assert_only_old_segments_went(
    broker: BrokerProcess,
    topic: str,
    before_files: list[Path],
    before_digests: dict[str, str],
    before_bytes: bytes,
    survivors: list[Path],
) -> tuple[int, int]:
    """The survivors are the newest of the files before, unchanged; the log start is
    the first survivor's base offset; fetching from it returns the same bytes as
    before. Returns (log start, bytes deleted)."""
    first = int(survivors[0].stem)
    wait_until(lambda: offsets(broker, topic)[0] == first, 20, f"log start {first}")
    assert segments(broker, topic)[: len(survivors)] == survivors
    deleted = before_files[: len(before_files) - len(survivors)]
    assert deleted, "nothing was expected to be deleted"
    assert all(not path.exists() for path in deleted)
    after = log_digests(broker.data_dir / f"{topic}-0")
    for path in survivors:
        assert after[path.name] == before_digests[path.name], f"{path.name} changed"
    start, end = offsets(broker, topic)
    prefix = bytes_before(before_bytes, first)
    assert raw_log(broker, topic, start, end) == before_bytes[prefix:]
    return start, prefix


def bytes_before(data: bytes, offset: int) -> int:
    """Length of the batches in ``data`` (a log read from offset 0) below ``offset``."""
    pos = 0
    while pos < len(data):
        base = int.from_bytes(data[pos : pos + 8], "big", signed=True)
        if base >= offset:
            break
        pos += int.from_bytes(data[pos + 8 : pos + 12], "big", signed=True) + 12
    return pos


def test_time_retention_deletes_wholly_expired_segments_and_advances_the_log_start(
    broker: BrokerProcess,
) -> None:
    topic = "by-time"
    create_topic(broker, topic)
    now = int(time.time() * 1000)
    produce(broker, topic, 25, now - 2 * HOUR_MS, "old")
    produce(broker, topic, 25, now, "new")
    files = segments(broker, topic)
    digests = log_digests(broker.data_dir / f"{topic}-0")
    _, end = offsets(broker, topic)
    everything = raw_log(broker, topic, 0, end)
    # The first segment holding a record newer than the horizon, and all after it, stay.
    keep_from = next(
        i
        for i, path in enumerate(files)
        if any(b.max_timestamp >= now - HOUR_MS for b in scan_segment(path))
    )
    assert 2 <= keep_from < len(files) - 1
    survivors = files[keep_from:]

    set_config(broker, topic, retention_ms=str(HOUR_MS))
    start, deleted_bytes = assert_only_old_segments_went(
        broker, topic, files, digests, everything, survivors
    )
    assert 0 < start <= 25 * 8

    text = scrape(broker)
    assert metric(text, "tidewatch_partition_log_start_offset", topic=topic) == start
    deleted_metric = "tidewatch_partition_retention_deleted_bytes_total"
    assert metric(text, deleted_metric, topic=topic) == deleted_bytes
    assert f"deleted segment {topic}-0@0 " in broker.output()
    assert "older than retention.ms=3600000" in broker.output()


def test_size_retention_keeps_the_newest_segments_within_retention_bytes(
    broker: BrokerProcess,
) -> None:
    topic = "by-size"
    create_topic(broker, topic)
    produce(broker, topic, 40, int(time.time() * 1000), "sized")
    files = segments(broker, topic)
    digests = log_digests(broker.data_dir / f"{topic}-0")
    sizes = [p.stat().st_size for p in files]
    _, end = offsets(broker, topic)
    everything = raw_log(broker, topic, 0, end)
    budget = 3 * SEGMENT_BYTES
    # Kafka's rule: drop the oldest segment while the rest still reaches the budget.
    dropped, total = 0, sum(sizes)
    while dropped < len(files) - 1 and total - sizes[dropped] >= budget:
        total -= sizes[dropped]
        dropped += 1
    assert dropped >= 3
    survivors = files[dropped:]

    set_config(broker, topic, retention_bytes=str(budget))
    assert_only_old_segments_went(broker, topic, files, digests, everything, survivors)
    kept = sum(p.stat().st_size for p in segments(broker, topic))
    assert kept < budget + SEGMENT_BYTES
    assert "beyond retention.bytes=6000" in broker.output()


def test_a_consumer_below_the_log_start_gets_offset_out_of_range(broker: BrokerProcess) -> None:
    topic = "gone-below"
    create_topic(broker, topic, **{"retention.bytes": str(2 * SEGMENT_BYTES)})
    produce(broker, topic, 40, int(time.time() * 1000), "x")
    wait_until(lambda: offsets(broker, topic)[0] > 0, 20, "retention to advance the log start")
    # Retention may delete more on its next round; stop it so the log start read here is
    # the one the fetches meet, however slowly this test runs.
    set_config(broker, topic, retention_bytes="-1")
    start, _ = offsets(broker, topic)

    with wire.RawConnection(broker.host, broker.port) as conn:
        below = wire.fetch(conn, topic, 0, start - 1)
        at = wire.fetch(conn, topic, 0, start)
    assert below.error_code == OFFSET_OUT_OF_RANGE
    assert below.log_start_offset == start
    assert below.records == b""
    assert at.error_code == 0
    assert wire.batch_values(at.records)[0][0] == start

    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="none",
    )
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek(partition, 0)
        with pytest.raises(kafka.errors.OffsetOutOfRangeError):
            poll_until_error(consumer)
    finally:
        consumer.close()


def poll_until_error(consumer: KafkaConsumer) -> None:
    for _ in range(50):
        consumer.poll(timeout_ms=200)


def test_retention_shrunk_to_zero_empties_the_log_and_producing_continues_at_the_same_offsets(
    broker: BrokerProcess,
) -> None:
    topic = "emptied"
    create_topic(broker, topic)
    produce(broker, topic, 12, int(time.time() * 1000) - 5000, "before")
    _, end = offsets(broker, topic)
    assert len(segments(broker, topic)) >= 2

    set_config(broker, topic, retention_ms="0")
    wait_until(lambda: offsets(broker, topic) == (end, end), 20, "an empty log at the old end")
    with wire.RawConnection(broker.host, broker.port) as conn:
        assert wire.fetch(conn, topic, 0, 0).error_code == OFFSET_OUT_OF_RANGE
        assert wire.fetch(conn, topic, 0, end).records == b""
    assert sum(p.stat().st_size for p in segments(broker, topic)) == 0

    set_config(broker, topic, retention_ms="-1")
    produce(broker, topic, 2, int(time.time() * 1000), "after")
    assert offsets(broker, topic) == (end, end + 16)
    values = wire.batch_values(raw_log(broker, topic, end, end + 16))
    assert [offset for offset, _ in values] == list(range(end, end + 16))
    assert values[0][1] == b"after-000-0" * 3

    broker.restart()
    assert offsets(broker, topic) == (end, end + 16)
    assert wire.batch_values(raw_log(broker, topic, end, end + 16)) == values
