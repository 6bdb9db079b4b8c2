"""Data deleted or damaged behind the probe's back: retention shrunk to nothing counts
the unread records as lost; a record with a bad checksum counts as corrupted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from contracts.launcher import BrokerProcess
from synthetics.config import SlaConfig, TopicConfig
from synthetics.record import ProbeRecord, encode_value
from tests.synthetics.support import eventually, new_probe, running, target, value


@pytest.fixture
def fast_retention_broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    config = tmp_path / "broker.yaml"
    config.write_text("retention_check_interval_ms: 100\n")
    process = BrokerProcess(tmp_path / "data", "--config", str(config)).start()
    try:
        yield process
    finally:
        process.stop()


async def _log_start_offsets(bootstrap: str, topic: str, partitions: int) -> list[int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        starts = await consumer.beginning_offsets(tps)
        return [starts[tp] for tp in tps]
    finally:
        await consumer.stop()


async def test_records_deleted_by_retention_before_they_are_read_count_as_lost(
    fast_retention_broker: BrokerProcess,
) -> None:
    bootstrap = fast_retention_broker.bootstrap
    sla = SlaConfig(ack_seconds=1.0, end_to_end_seconds=0.5, lost_after_seconds=1.5)
    probe, registry = new_probe(target(bootstrap, sla=sla, topic=TopicConfig(partitions=2)))
    await probe.start()
    try:
        assert probe.consumer is not None
        probe.consumer.pause(*probe.consumer.assignment())  # a consumer that fell behind
        for _ in range(3):
            probe.produce_round()
        await eventually(lambda: probe.tally.produced == 6, what="six acknowledged records")

        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, probe.topic, {"retention.ms": "1"})]
            )
        finally:
            await admin.close()

        async def deleted() -> bool:
            return await _log_start_offsets(bootstrap, probe.topic, 2) == [3, 3]

        await eventually(deleted, what="retention to delete every probe record")
        probe.consumer.resume(*probe.consumer.assignment())
        await probe.consume_once(0.5)  # out of range: the consumer skips to the log start

        def six_lost() -> bool:
            probe.sweep()
            return probe.tally.lost == 6

        await eventually(six_lost, what=lambda: f"six losses: {probe.tally}")
        # the consumer did resume: it skipped to the new log start, past the deleted records
        positions = [
            await probe.consumer.position(tp) for tp in sorted(probe.consumer.assignment())
        ]
        assert positions == [3, 3]
    finally:
        await probe.close()
    assert probe.tally.consumed == 0
    for partition in ("0", "1"):
        assert (
            value(registry, "tidewatch_probe_records_lost_total", partition=partition, broker="0")
            == 3
        )
    examples = probe.status()["recent"]["examples"]
    assert {(e["kind"], e["partition"], e["sequence"]) for e in examples} == {
        ("lost", p, s) for p in (0, 1) for s in range(3)
    }


async def test_a_record_with_a_bad_checksum_in_the_probe_topic_counts_as_corrupted(
    broker: BrokerProcess,
) -> None:
    probe, registry = new_probe(target(broker.bootstrap, topic=TopicConfig(partitions=2)))
    async with running(probe):
        await eventually(lambda: probe.tally.consumed >= 6, what="a healthy start")
        good = encode_value(ProbeRecord(probe.probe_id, 1, 10_000, 1))
        bad_checksum = good[:12] + b"%08x" % ((int(good[12:20], 16) + 1) % 2**32) + good[20:]
        misplaced = encode_value(ProbeRecord(probe.probe_id, 0, 10_001, 1))  # written to 1
        other_probe = encode_value(ProbeRecord("0123456789abcdef", 1, 0, 1))
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
        await producer.start()
        try:
            for payload in (bad_checksum, misplaced, other_probe):
                await producer.send_and_wait(probe.topic, payload, partition=1)
        finally:
            await producer.stop()
        await eventually(
            lambda: probe.tally.foreign == 1, what=lambda: f"the three records read: {probe.tally}"
        )
    t = probe.tally
    assert t.corrupted == 2
    assert (
        value(registry, "tidewatch_probe_records_corrupted_total", partition="1", broker="0") == 2
    )
    assert value(registry, "tidewatch_probe_records_corrupted_total", partition="0") == 0
    assert (t.lost, t.duplicated) == (0, 0)
    reasons = [
        e["reason"] for e in probe.status()["recent"]["examples"] if e["kind"] == "corrupted"
    ]
    assert any("checksum mismatch" in r for r in reasons)
    assert any("written to partition 0 read from 1" in r for r in reasons)
