"""The replication metrics of a real three-broker cluster, read from each broker's
/metrics: one active controller, one series per partition cluster-wide, and a paused
follower seen from its leader (lag in records and seconds, the ISR shrink, recovery
after resume) while the live brokers keep answering scrapes."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from broker.records.record import Record, build_batch
from contracts.broker_cluster import BrokerCluster
from tests.broker.metrics_integration.conftest import REPLICATED_TOPIC
from tests.interop.wire import WireClient
from tests.support.clusters import create_topic

pytestmark = pytest.mark.interop

Samples = list[tuple[dict[str, str], float]]
SCRAPE_TIMEOUT_S = 10  # a scrape that waits on a paused peer would hit this


def scrape(cluster: BrokerCluster, node: int, name: str, **labels: str) -> Samples:
    """Samples of ``name`` on broker ``node`` matching ``labels``."""
    url = f"{cluster.brokers[node].http_url}/metrics"
    with urllib.request.urlopen(url, timeout=SCRAPE_TIMEOUT_S) as response:
        text = response.read().decode()
    found: Samples = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                found.append((sample.labels, sample.value))
    return found


def value(cluster: BrokerCluster, node: int, name: str, **labels: str) -> float:
    (only,) = scrape(cluster, node, name, **labels)
    return only[1]


def across(cluster: BrokerCluster, name: str, **labels: str) -> Samples:
    """Samples of ``name`` on every live broker."""
    return [s for node in _live(cluster) for s in scrape(cluster, node, name, **labels)]


def _live(cluster: BrokerCluster) -> list[int]:
    return [n for n, b in cluster.brokers.items() if b.running and not b.paused]


def test_exactly_one_broker_is_the_active_controller(replicated: BrokerCluster) -> None:
    def one_active() -> int | None:
        flags = across(replicated, "tidewatch_controller_active")
        active = [int(labels["broker"]) for labels, v in flags if v == 1]
        return active[0] if len(active) == 1 and len(flags) == 3 else None

    controller = replicated.wait_for(one_active, "exactly one active controller")

    assert controller == replicated.controller_id()
    assert value(replicated, controller, "tidewatch_controller_registered_brokers") == 3
    assert value(replicated, controller, "tidewatch_controller_fenced_brokers") == 0
    lag = scrape(replicated, controller, "tidewatch_quorum_voter_lag_records")
    assert {labels["voter"] for labels, _ in lag} == {"1", "2", "3"}


def test_every_partition_has_one_leader_series_in_the_cluster(replicated: BrokerCluster) -> None:
    leaders = {p: replicated.wait_for_leader(REPLICATED_TOPIC, p) for p in range(3)}

    for name in ("tidewatch_partition_leader", "kafka_topic_partition_leader"):
        series = across(replicated, name, topic=REPLICATED_TOPIC)
        assert sorted((int(labels["partition"]), v) for labels, v in series) == sorted(
            leaders.items()
        ), name
    isr = across(replicated, "kafka_topic_partition_in_sync_replica", topic=REPLICATED_TOPIC)
    assert [v for _, v in isr] == [3, 3, 3]
    led = {n: value(replicated, n, "tidewatch_broker_partitions_led") for n in (1, 2, 3)}
    assert sum(led.values()) >= 3


def test_a_paused_follower_lags_on_its_leader_and_catches_up_after_resume(
    replicated: BrokerCluster,
) -> None:
    cluster, topic = replicated, "lagging"
    controller = cluster.controller_id()
    leader, follower = sorted({1, 2, 3} - {controller})
    create_topic(cluster.bootstrap, topic, assignments={0: [leader, follower, controller]})
    cluster.wait_for_isr(topic, 0, {1, 2, 3})
    lag = {"topic": topic, "partition": "0", "replica": str(follower)}
    shrinks = value(cluster, leader, "tidewatch_broker_isr_shrinks_total")
    expands = value(cluster, leader, "tidewatch_broker_isr_expands_total")
    elections = _elections(cluster, controller)
    # The replicated topic has a partition led by each broker: one by the follower.
    assert any(cluster.leader_of(REPLICATED_TOPIC, p) == follower for p in range(3))

    cluster.pause(follower)
    try:
        _produce(cluster, leader, topic, count=5)
        cluster.wait_for(
            lambda: value(cluster, leader, "tidewatch_replica_lag_records", **lag) == 5,
            "five records of lag on the leader",
        )
        cluster.wait_for(
            lambda: value(cluster, leader, "tidewatch_replica_lag_seconds", **lag) > 0,
            "lag seconds above 0 on the leader",
        )
        assert value(cluster, leader, "tidewatch_replica_lag_bytes", **lag) > 0
        cluster.wait_for(
            lambda: value(cluster, leader, "tidewatch_broker_isr_shrinks_total") > shrinks,
            "the ISR shrink counted on the leader",
        )
        state = {"topic": topic, "partition": "0"}
        cluster.wait_for(
            lambda: (
                value(cluster, controller, "tidewatch_partition_under_replicated", **state) == 1
            ),
            "the partition under-replicated in the controller's view",
        )
        assert value(cluster, leader, "tidewatch_broker_under_replicated_partitions") >= 1
        # Its fencing moved the leadership it had: a clean election, timed.
        cluster.wait_for(
            lambda: _grew(_elections(cluster, controller), elections),
            "the election of a new leader for the paused broker's partition",
        )
        assert value(cluster, controller, "tidewatch_controller_fenced_brokers") == 1
        _assert_live_brokers_answer_quickly(cluster)
    finally:
        cluster.resume(follower)

    cluster.wait_for_isr(topic, 0, {1, 2, 3})
    for name in ("tidewatch_replica_lag_records", "tidewatch_replica_lag_seconds"):
        cluster.wait_for(_is_zero(cluster, leader, name, lag), f"{name} back to 0")
    assert value(cluster, leader, "tidewatch_broker_isr_expands_total") > expands


def _elections(cluster: BrokerCluster, controller: int) -> tuple[float, float]:
    """(clean elections, timed elections) counted by the controller."""
    return (
        value(cluster, controller, "tidewatch_controller_leader_elections_total", kind="clean"),
        value(cluster, controller, "tidewatch_controller_leader_election_duration_seconds_count"),
    )


def _grew(now: tuple[float, float], before: tuple[float, float]) -> bool:
    return all(a > b for a, b in zip(now, before, strict=True))


def _produce(cluster: BrokerCluster, leader: int, topic: str, count: int) -> None:
    now_ms = int(time.time() * 1000)
    batch = build_batch([Record(b"v%d" % i, timestamp_ms=now_ms) for i in range(count)])
    with WireClient(cluster.brokers[leader].bootstrap, timeout_s=30) as wire:
        assert wire.produce(topic, 0, batch, acks=1).error_code == 0


def _assert_live_brokers_answer_quickly(cluster: BrokerCluster) -> None:
    """Every live broker serves /metrics while a peer is paused (the scrape has a
    timeout: one that waited on the paused peer would fail here)."""
    for node in _live(cluster):
        assert value(cluster, node, "tidewatch_controller_active") in (0, 1)


def _is_zero(
    cluster: BrokerCluster, node: int, name: str, labels: dict[str, str]
) -> Callable[[], bool]:
    return lambda: value(cluster, node, name, **labels) == 0
