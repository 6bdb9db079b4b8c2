"""The probe against a live three-broker cluster (one cluster for the module; each test
probes its own topic, so the leaders a test moved do not matter to the next).

The probe creates its topic with one partition led by each broker and three replicas;
every partition's series carry its leader's id. A leader that stops with SIGTERM hands
its partition over: the probe counts a leader change and loses nothing. A leader killed
with SIGKILL is an outage of that broker: its connection checks fail while it is down,
the other brokers' checks and produces stay healthy once the ISR has shrunk, and
nothing acknowledged is lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from prometheus_client import CollectorRegistry

from contracts.broker_cluster import BrokerCluster
from synthetics.config import SlaConfig, TopicConfig
from synthetics.connection import ConnectionConfig
from synthetics.lagmon.config import parse_lag_config
from synthetics.lagmon.service import LagService
from synthetics.probe import TargetProbe
from tests.support.clusters import create_topic, running_cluster
from tests.synthetics.support import eventually, new_probe, running, target, value

pytestmark = pytest.mark.slow

BROKERS = (1, 2, 3)
SLA = SlaConfig(ack_seconds=1.0, end_to_end_seconds=1.0, lost_after_seconds=30.0)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerCluster]:
    with running_cluster(3, tmp_path_factory.mktemp("probe-brokers")) as running:
        yield running


def _probe(cluster: BrokerCluster, topic: str) -> tuple[TargetProbe, CollectorRegistry]:
    servers = tuple(cluster.bootstrap.split(","))
    connection = ConnectionConfig(servers, "tidewatch-probe-test", 5.0)
    return new_probe(
        target(servers[0], connection=connection, topic=TopicConfig(name=topic), sla=SLA)
    )


def _read_per_partition(probe: TargetProbe) -> dict[int, int]:
    return {s.partition: s.highest_sequence_read for s in probe.ledger.summary()}


async def _healthy(probe: TargetProbe, records: int = 5) -> None:
    """Until every partition of the topic has ``records`` of this probe read back."""
    await eventually(
        lambda: (
            probe.view is not None
            and len(_read_per_partition(probe)) == len(BROKERS)
            and min(_read_per_partition(probe).values()) >= records
        ),
        # Generous: on a busy machine the probe's first start can time out (5 s) and is
        # retried a round later; this only bounds a hang.
        timeout=90,
        what=lambda: f"records read per partition: {_read_per_partition(probe)}",
    )


def _leaders(probe: TargetProbe) -> dict[int, int]:
    assert probe.view is not None
    return {p.partition: p.leader for p in probe.view.partitions}


async def _all_read_back(probe: TargetProbe) -> None:
    """Until nothing acknowledged is overdue (every acknowledged record read)."""
    await eventually(
        lambda: "unread past" not in " ".join(probe.health().reasons),
        timeout=40,
        what=lambda: f"acknowledged records read back: {probe.health().reasons}",
    )


async def test_each_broker_leads_one_probe_partition_and_its_series_carry_its_id(
    cluster: BrokerCluster,
) -> None:
    probe, registry = _probe(cluster, "probe-spread")
    async with running(probe):
        await _healthy(probe)
        views = {v.partition: v for v in cluster.partitions() if v.topic == "probe-spread"}
        status = probe.status()

    assert sorted(v.leader for v in views.values()) == list(BROKERS)
    assert all(sorted(v.replicas) == list(BROKERS) for v in views.values())
    assert status["coverage"] == {"brokers": 3, "uncovered_brokers": [], "gap": 0}
    assert status["layout_problems"] == []
    for partition, view in views.items():
        series = {"partition": str(partition), "broker": str(view.leader)}
        assert value(registry, "tidewatch_probe_produce_successes_total", **series) >= 5
        assert value(registry, "tidewatch_probe_records_consumed_total", **series) >= 5
        assert value(registry, "tidewatch_probe_end_to_end_latency_seconds_count", **series) >= 5
        assert value(registry, "tidewatch_probe_leader_changes_total", **series) == 0
    for broker in BROKERS:
        assert value(registry, "tidewatch_probe_connection_attempts_total", broker=str(broker)) > 0
        assert value(registry, "tidewatch_probe_connection_errors_total", broker=str(broker)) == 0
    assert value(registry, "tidewatch_probe_records_lost_total") == 0


async def test_a_leader_stopped_with_sigterm_shows_as_a_leader_change_and_loses_nothing(
    cluster: BrokerCluster,
) -> None:
    probe, registry = _probe(cluster, "probe-handover")
    async with running(probe):
        await _healthy(probe)
        old = _leaders(probe)[0]
        try:
            await asyncio.to_thread(cluster.brokers[old].stop)
            await eventually(
                lambda: value(registry, "tidewatch_probe_leader_changes_total", partition="0") >= 1,
                what="the probe to see partition 0 change leader",
            )
            read_at_change = _read_per_partition(probe)[0]
            await eventually(
                lambda: _read_per_partition(probe)[0] >= read_at_change + 5,
                what="records of partition 0 read from its new leader",
            )
            await _all_read_back(probe)
        finally:
            await asyncio.to_thread(cluster.restart, old)
        status = probe.status()

    (change,) = status["leader_changes"]
    assert (change["partition"], change["from_broker"]) == (0, old)
    assert change["to_broker"] in set(BROKERS) - {old}
    new = str(change["to_broker"])
    assert value(registry, "tidewatch_probe_leader_changes_total", partition="0", broker=new) == 1
    assert value(registry, "tidewatch_probe_produce_successes_total", partition="0", broker=new) > 0
    t = probe.tally
    assert (t.lost, t.leader_changes) == (0, 1)
    assert value(registry, "tidewatch_probe_records_lost_total") == 0
    assert t.consumed - t.duplicated >= t.produced - len(BROKERS)


async def test_a_leader_killed_with_sigkill_is_an_outage_of_that_broker_only(
    cluster: BrokerCluster,
) -> None:
    probe, registry = _probe(cluster, "probe-outage")

    def errors(broker: int) -> float:
        return value(registry, "tidewatch_probe_connection_errors_total", broker=str(broker))

    def produced(broker: int) -> tuple[float, float]:
        labels = {"broker": str(broker)}
        return (
            value(registry, "tidewatch_probe_produce_successes_total", **labels),
            value(registry, "tidewatch_probe_produce_attempts_total", **labels),
        )

    async with running(probe):
        await _healthy(probe)
        leaders = _leaders(probe)
        (partition,) = [p for p, leader in leaders.items() if leader == 2]
        others = [b for b in BROKERS if b != 2]
        try:
            cluster.kill(2)
            await eventually(
                lambda: (
                    value(
                        registry, "tidewatch_probe_leader_changes_total", partition=str(partition)
                    )
                    >= 1
                    and errors(2) >= 2
                ),
                what="a leader change and failed connection checks of broker 2",
            )
            for p in leaders:  # acks=all waits for broker 2 until it leaves every ISR
                await asyncio.to_thread(cluster.wait_for_isr, "probe-outage", p, others)
            rounds, before = probe.tally.rounds, {b: produced(b) for b in others}
            errors_of_2 = errors(2)
            await eventually(
                lambda: probe.tally.rounds >= rounds + 10 and errors(2) >= errors_of_2 + 2,
                what="ten more rounds, with broker 2's connection checks still failing",
            )
            await _all_read_back(probe)
            after = {b: produced(b) for b in others}
            health = probe.health()
        finally:
            await asyncio.to_thread(cluster.restart, 2)

    for b in others:
        assert errors(b) == 0, f"broker {b} failed a connection check"
        successes, attempts = (a - z for a, z in zip(after[b], before[b], strict=True))
        assert attempts >= 10
        assert successes >= attempts - len(BROKERS), f"broker {b} was not healthy"
    assert "brokers failing the connection check: 2" in health.reasons
    assert probe.tally.lost == 0
    assert value(registry, "tidewatch_probe_records_lost_total") == 0


async def _produce_and_commit(bootstrap: str, topic: str, records: int, group: str) -> None:
    """``records`` records to partition 0, then ``group`` commits offset 4 and leaves."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(records):
            await producer.send_and_wait(topic, b"order %d" % i, partition=0)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.commit({TopicPartition(topic, 0): OffsetAndMetadata(4, "")})
    finally:
        await consumer.stop()


def _group(service: LagService, group: str) -> dict[str, Any] | None:
    """The group's figures from the last poll (None: the poll failed or missed it)."""
    (cluster,) = service.status()["clusters"]
    found = [g for g in cluster["groups"] if g["group"] == group] if cluster["up"] else []
    return found[0] if found else None


async def test_the_lag_monitor_follows_a_group_to_its_new_coordinator_when_the_old_is_killed(
    cluster: BrokerCluster,
) -> None:
    create_topic(cluster.bootstrap, "lagged")
    await _produce_and_commit(cluster.bootstrap, "lagged", 10, "billing")
    config = parse_lag_config(
        {"http": "off", "clusters": [{"name": "c", "bootstrap_servers": cluster.bootstrap}]},
        "lag.yaml",
        {},
    )
    service = LagService(config, CollectorRegistry())

    async def polled() -> dict[str, Any] | None:
        await service.poll()
        return _group(service, "billing")

    try:
        first = await polled()
        assert first is not None and first["lag_records"] == 6
        coordinator = first["coordinator"]
        cluster.kill(coordinator)
        try:
            await _produce_and_commit(cluster.bootstrap, "lagged", 5, "billing")

            async def moved() -> bool:
                g = await polled()
                return g is not None and g["coordinator"] != coordinator and g["lag_records"] == 11

            await eventually(moved, timeout=40, what=lambda: f"the group: {service.status()}")
            for _ in range(3):  # and it stays that way: no error left behind
                g = await polled()
                assert g is not None and g["lag_records"] == 11, service.status()
        finally:
            await asyncio.to_thread(cluster.restart, coordinator)
    finally:
        for m in service.monitors:
            await m.close()
