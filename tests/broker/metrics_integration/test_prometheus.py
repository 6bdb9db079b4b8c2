"""A real Prometheus scrapes two brokers - one with default metrics, one with the
kafka_exporter / kafka-lag-exporter compatibility names switched on - after traffic
that touches every part of the broker, and a three-broker cluster (for the replication
metrics), and answers a query for every metric of the catalogs. The tests iterate over CATALOG and COMPAT_CATALOG, so a metric added to a
catalog is covered here without touching this file.
"""

from __future__ import annotations

import pytest

from broker.metrics.catalog import BROKER_LABELS, CATALOG, COMPAT_CATALOG
from broker.metrics.replication_catalog import REPLICATION_CATALOG
from contracts.metrics import MetricSpec, MetricType
from tests.broker.metrics_integration.conftest import Scraped
from tests.broker.metrics_integration.traffic import COMMITTED, LAGGING_GROUP, PER_PARTITION, TOPIC
from tests.support import tools

pytestmark = [
    pytest.mark.interop,
    tools.requires(tools.PROMETHEUS),
]

FIRST_SCRAPE_S = 30  # the first scrape comes 5-6 s after Prometheus starts


def series_names(spec: MetricSpec) -> list[str]:
    """The series a spec's family exposes that must have samples."""
    if spec.type is MetricType.HISTOGRAM:
        return [f"{spec.name}_bucket", f"{spec.name}_count", f"{spec.name}_sum"]
    return [spec.name]


@pytest.mark.parametrize(
    "spec", CATALOG, ids=[f"{spec.name} is scraped with its labels" for spec in CATALOG]
)
def test_prometheus_answers_for_every_metric_of_the_catalog(
    spec: MetricSpec, scraped: Scraped
) -> None:
    # Replication figures need replicas: the three-broker cluster has them (follower
    # lag only exists where a partition has followers).
    job = "cluster" if spec in REPLICATION_CATALOG else "default"
    for name in series_names(spec):
        result = scraped.prometheus.wait_for(f'{name}{{job="{job}"}}', FIRST_SCRAPE_S)
        assert result, f"no samples of {name} in Prometheus"
        labels = set(result[0]["metric"])
        assert set(spec.all_labels) <= labels, (spec.all_labels, labels)
        assert {s["metric"]["cluster"] for s in result} == {"scraped"}


@pytest.mark.parametrize(
    "spec",
    COMPAT_CATALOG,
    ids=[f"{spec.name} is scraped in compatibility mode" for spec in COMPAT_CATALOG],
)
def test_prometheus_answers_for_every_compatibility_name(
    spec: MetricSpec, scraped: Scraped
) -> None:
    result = scraped.prometheus.wait_for(f'{spec.name}{{job="compat"}}', FIRST_SCRAPE_S)
    assert result, f"no samples of {spec.name} in Prometheus"
    labels = set(result[0]["metric"]) - {"__name__", "job", "instance"}
    assert labels <= set(spec.all_labels), "compatibility names carry their own labels"
    assert {"cluster", "broker"} <= labels, "and, like every series, cluster and broker"
    # Prometheus drops empty labels: the member labels of a group without members.
    assert set(spec.all_labels) - labels <= {"member_host", "consumer_id", "client_id"}


def test_compatibility_names_are_off_by_default_and_catalog_names_stay_on_with_them(
    scraped: Scraped,
) -> None:
    prometheus = scraped.prometheus
    assert prometheus.wait_for('tidewatch_group_lag_records{job="compat"}', FIRST_SCRAPE_S)
    assert prometheus.query('kafka_consumergroup_lag{job="default"}') == []
    assert prometheus.query('{__name__=~"kafka_.*", job="default"}') == []


def test_prometheus_sees_the_values_the_traffic_made(scraped: Scraped) -> None:
    prometheus = scraped.prometheus

    def value(promql: str) -> float:
        result = prometheus.wait_for(promql, FIRST_SCRAPE_S)
        assert len(result) == 1, (promql, result)
        return float(result[0]["value"][1])

    for partition, offset in COMMITTED.items():
        selector = f'group="{LAGGING_GROUP}", topic="{TOPIC}", partition="{partition}"'
        assert value(f'tidewatch_group_lag_records{{job="default", {selector}}}') == (
            PER_PARTITION - offset
        )
        assert value(f'tidewatch_group_committed_offset{{job="default", {selector}}}') == offset
        compat = f'consumergroup="{LAGGING_GROUP}", topic="{TOPIC}", partition="{partition}"'
        assert value(f"kafka_consumergroup_lag{{{compat}}}") == PER_PARTITION - offset
    assert (
        value(
            'sum(tidewatch_broker_requests_total{job="default", api="produce",'
            ' error="unknown_topic_or_partition"})'
        )
        == 1
    )
    assert (
        value('tidewatch_broker_malformed_requests_total{job="default", reason="unknown_api"}') == 1
    )
    quantile = value(
        "histogram_quantile(0.99, sum by (le) ("
        'tidewatch_broker_request_duration_seconds_bucket{job="default", api="produce"}))'
    )
    assert 0 < quantile <= 10
    assert set(BROKER_LABELS) == {"cluster", "broker"}
    assert {spec.common for spec in CATALOG} == {BROKER_LABELS}
