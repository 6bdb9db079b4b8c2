"""The lag monitor against a real broker: a group that stops consuming has lag in
seconds that grows with the clock (exactly: from the stored timestamp of the record at
the committed offset), turns STOP, and is exported under the broker's own metric names
and labels, with the same values the broker reports for the same group."""

from __future__ import annotations

import time
import urllib.request
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from contracts.clock import ManualClock
from contracts.lag.metrics import LAG_METRICS
from contracts.launcher import BrokerProcess
from synthetics.lagmon.config import parse_lag_config
from synthetics.lagmon.service import LagService

TOPIC = "orders"


async def _produce_and_commit(
    bootstrap: str, timestamps_ms: list[int], group: str, committed: int
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for i, ts in enumerate(timestamps_ms):
            await producer.send_and_wait(TOPIC, b"order %d" % i, partition=0, timestamp_ms=ts)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:  # a consumer that processed `committed` records, committed, and stopped
        consumer.assign([TopicPartition(TOPIC, 0)])
        await consumer.commit({TopicPartition(TOPIC, 0): OffsetAndMetadata(committed, "")})
    finally:
        await consumer.stop()


def _series(text: str, group: str) -> dict[str, tuple[dict[str, str], float]]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.labels.get("group") == group and s.name.startswith("tidewatch_group_"):
                key = s.name + "".join(
                    f",{k}={v}" for k, v in sorted(s.labels.items()) if k in ("status", "state")
                )
                out[key] = (s.labels, s.value)
    return out


async def test_lag_seconds_of_a_stopped_group_grow_with_the_clock_and_match_the_broker(
    broker: BrokerProcess,
) -> None:
    now_ms = time.time_ns() // 1_000_000
    timestamps = [now_ms - 60_000 + i * 1000 for i in range(10)]
    await _produce_and_commit(broker.bootstrap, timestamps, "billing", committed=4)

    clock = ManualClock(time_ns=now_ms * 1_000_000)
    config = parse_lag_config(
        {
            "http": "off",
            "status": {"min_stop_seconds": "30s"},
            "clusters": [{"name": "local", "bootstrap_servers": broker.bootstrap}],
        },
        "lag.yaml",
        {},
    )
    service = LagService(config, CollectorRegistry(), clock)
    try:
        await service.poll()
        first = _only_group(service, "billing")
        clock.advance(100)
        await service.poll()
        later = _only_group(service, "billing")
        exposition = _exposition(service.registry)
    finally:
        for m in service.monitors:
            await m.close()

    (p1,) = first["partitions"]
    (p2,) = later["partitions"]
    assert (p1["committed_offset"], p1["high_watermark"], p1["lag_records"]) == (4, 10, 6)
    assert p1["lag_seconds"] == (now_ms - timestamps[4]) / 1000  # exact: the record at offset 4
    assert p2["lag_seconds"] == p1["lag_seconds"] + 100
    assert p1["status"] == "OK"
    assert (p2["status"], later["status"]) == ("STOP", "STOP")
    assert "no commit for 100 s" in p2["reason"]
    assert later["coordinator"] == 0

    with urllib.request.urlopen(f"{broker.http_url}/metrics", timeout=10) as response:
        from_broker = _series(response.read().decode(), "billing")
    from_monitor = _series(exposition, "billing")
    for spec in LAG_METRICS:
        names = {k for k in from_monitor if k.split(",")[0] == spec.name}
        if spec.name == "tidewatch_group_retention_headroom_seconds":
            continue  # exact on the broker, a lower bound here (see the tracker docstring)
        assert names, f"{spec.name} not exported by the monitor"
        assert names <= set(from_broker), f"{spec.name}: the broker has no such series"
        for key in names:
            monitor_labels, monitor_value = from_monitor[key]
            broker_labels, broker_value = from_broker[key]
            assert monitor_labels.keys() == broker_labels.keys()
            assert (monitor_labels["cluster"], monitor_labels["broker"]) == (
                broker_labels["cluster"],
                broker_labels["broker"],
            )
            if spec.name in (
                "tidewatch_group_committed_offset",
                "tidewatch_group_lag_records",
                "tidewatch_group_members",
            ):
                assert monitor_value == broker_value, key


def _only_group(service: LagService, group: str) -> dict[str, Any]:
    (cluster,) = service.status()["clusters"]
    assert cluster["up"], cluster["error"]
    matching: list[dict[str, Any]] = [g for g in cluster["groups"] if g["group"] == group]
    (g,) = matching
    return g


def _exposition(registry: CollectorRegistry) -> str:
    from prometheus_client import generate_latest

    return generate_latest(registry).decode()
