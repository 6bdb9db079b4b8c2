"""The replication panels' queries (dashboards/replication.py), evaluated by a real
Prometheus that scrapes a real three-broker cluster.

Three ``tidewatch broker`` processes (``BrokerCluster``, quick replication timings), a
topic of three partitions with replication factor 3 and ``min.insync.replicas=2`` (one
partition led by each broker), a few acks=all records so every follower's lag series
exists, and Prometheus scraping each broker's ``/metrics`` every second as the broker
job, with the generated scrape settings. Nothing is faulted: on a healthy cluster the
counts are zero-valued series, which are data. Every query of every replication panel
must be valid PromQL and return data; the answers must also say what the cluster is
(three brokers up and registered, one controller, every follower of every partition).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from alerts.scrape import prometheus_config
from contracts.broker_cluster import BrokerCluster
from contracts.scrape import UP
from dashboards.build import PanelQuery, panel_queries
from dashboards.build import build as build_dashboards
from dashboards.replication import BROKERS_AND_CONTROLLER, FOLLOWER_LAG, REPLICA_DETAIL
from tests.dashboards.support import (
    PrometheusServer,
    answers,
    expand,
    poll,
    query,
    replication_panels,
)
from tests.support import tools
from tests.support.clusters import create_topic, running_cluster

PROMETHEUS = tools.find_tool(tools.PROMETHEUS)
pytestmark = [
    pytest.mark.slow,
    tools.requires(tools.PROMETHEUS),
]

BROKERS, TOPIC, PARTITIONS, RECORDS = 3, "payments", 3, 30
NODES = set(range(1, BROKERS + 1))

DASHBOARDS = {name: json.loads(text) for name, text in build_dashboards().items()}
PANELS = replication_panels(DASHBOARDS)
QUERIES = [
    q for d in DASHBOARDS.values() for q in panel_queries(d) if (q.dashboard, q.panel) in PANELS
]


def _produce(bootstrap: str) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for i in range(RECORDS):
        producer.produce(TOPIC, value=b"x" * 100, partition=i % PARTITIONS)
    assert producer.flush(30) == 0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerCluster]:
    with running_cluster(BROKERS, tmp_path_factory.mktemp("replication")) as running:
        create_topic(
            running.bootstrap,
            TOPIC,
            partitions=PARTITIONS,
            configs={"min.insync.replicas": "2"},
        )
        for partition in range(PARTITIONS):
            running.wait_for_isr(TOPIC, partition, NODES)
        _produce(running.bootstrap)
        yield running


@pytest.fixture(scope="module")
def live(cluster: BrokerCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prometheus scraping every broker of ``cluster``; yields its URL once it has
    scraped each of them."""
    (cluster_label,) = {b.ready.cluster for b in cluster.brokers.values()}
    targets = [str(b.ready.http) for b in cluster.brokers.values()]
    config = prometheus_config(
        [],
        broker_targets=targets,
        cluster=cluster_label,
        alertmanagers=(),
        scrape_interval="1s",
        evaluation_interval="1s",
    )
    assert PROMETHEUS is not None
    prometheus = PrometheusServer(PROMETHEUS, tmp_path_factory.mktemp("prometheus"), config)
    try:
        url = prometheus.start()
        poll("a scrape of every broker", lambda: answers(url, f"count({UP} == 1) == {BROKERS}"))
        yield url
    finally:
        prometheus.stop()


def _result(url: str, q: PanelQuery) -> list[dict[str, Any]]:
    answer = query(url, expand(q.expr))
    assert answer.get("status") == "success", f"{q.where}: {answer.get('error')}"
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def _panel(dashboard_panel: str) -> list[PanelQuery]:
    return [q for q in QUERIES if q.panel == dashboard_panel]


def test_every_replication_panel_query_is_valid_and_returns_data(live: str) -> None:
    for q in QUERIES:  # invalid PromQL fails at once, naming the query
        _result(live, q)
    # Rates and increases need two scrapes of the counters; wait for them, then name
    # whatever is still empty.
    empty = list(QUERIES)

    def all_have_data() -> bool:
        empty[:] = [q for q in empty if not _result(live, q)]
        return not empty

    try:
        poll("every replication query to return data", all_have_data, timeout=60)
    except AssertionError:
        raise AssertionError(
            "no data:\n" + "\n".join(f"{q.where}: {q.expr}" for q in empty)
        ) from None


def _values(url: str, q: PanelQuery) -> list[tuple[dict[str, str], float]]:
    return [(r["metric"], float(r["value"][1])) for r in _result(url, q)]


def test_the_brokers_panel_counts_three_brokers_up_and_registered_and_one_controller(
    live: str, cluster: BrokerCluster
) -> None:
    up, registered, fenced, controllers, controller = _panel(BROKERS_AND_CONTROLLER)
    expected = {
        up.where: [float(BROKERS)],
        registered.where: [float(BROKERS)],
        fenced.where: [0.0],
        controllers.where: [1.0],
    }

    def counts() -> dict[str, list[float]]:
        return {
            q.where: [v for _, v in _values(live, q)] for q in (up, registered, fenced, controllers)
        }

    poll(f"{expected}", lambda: counts() == expected)
    (active,) = _values(live, controller)
    assert active[0]["broker"] == str(cluster.controller_id())


def test_follower_lag_has_a_line_per_broker_each_follows_some_partition(live: str) -> None:
    (lag,) = _panel(FOLLOWER_LAG)
    assert {m["replica"] for m, _ in _values(live, lag)} == {str(n) for n in NODES}


def _of_topic(url: str, q: PanelQuery, *labels: str) -> dict[tuple[str, ...], float]:
    """The query's values for the test topic's series, by ``labels``; each series once."""
    rows = [(tuple(m[x] for x in labels), v) for m, v in _values(url, q) if m["topic"] == TOPIC]
    values = dict(rows)
    assert len(values) == len(rows), f"{q.where}: a series reported twice: {rows}"
    return values


def test_replica_detail_shows_each_partition_once_and_each_of_its_followers(
    live: str, cluster: BrokerCluster
) -> None:
    leader, replicas, isr, epoch, preferred, *follower_lag = _panel(REPLICA_DETAIL)
    partitions = {(str(p),) for p in range(PARTITIONS)}
    for q in (leader, replicas, isr, epoch, preferred):
        assert set(_of_topic(live, q, "partition")) == partitions, q.where
    assert set(_of_topic(live, replicas, "partition").values()) == {float(BROKERS)}
    leaders = _of_topic(live, leader, "partition")
    assert leaders == {(str(p),): float(cluster.leader_of(TOPIC, p)) for p in range(PARTITIONS)}
    followers = {
        (str(p), str(n)) for p in range(PARTITIONS) for n in NODES if leaders[(str(p),)] != n
    }
    for q in follower_lag:
        assert set(_of_topic(live, q, "partition", "replica")) == followers, q.where
