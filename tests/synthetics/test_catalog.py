"""Metric catalog conventions, and the lag monitor sharing the broker's group metrics."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from broker.metrics import catalog as broker_catalog
from contracts.lag.metrics import LAG_METRICS
from contracts.metrics import PROBE_LATENCY_BUCKETS_SECONDS, MetricSpec, MetricType
from synthetics.catalog import LAGMON_CATALOG, PROBE_CATALOG
from synthetics.metrics import Instruments

ALL = (*PROBE_CATALOG, *LAGMON_CATALOG)


@pytest.mark.parametrize("spec", ALL, ids=lambda s: s.name)
def test_names_follow_prometheus_conventions(spec: MetricSpec) -> None:
    assert re.fullmatch(r"tidewatch_(probe|lagmon)_[a-z0-9_]+", spec.name)
    assert spec.name.endswith("_total") == (spec.type is MetricType.COUNTER)
    if spec.type is MetricType.HISTOGRAM:
        assert spec.name.endswith("_seconds")
        assert spec.buckets == PROBE_LATENCY_BUCKETS_SECONDS
    assert spec.help.endswith(".")
    assert len(set(spec.all_labels)) == len(spec.all_labels)


def test_probe_metrics_carry_cluster_and_target_first() -> None:
    assert all(s.all_labels[:2] == ("cluster", "target") for s in PROBE_CATALOG)


def test_latency_histograms_are_per_partition_and_leader_broker() -> None:
    by_name = {s.name: s for s in PROBE_CATALOG}
    for name in (
        "tidewatch_probe_ack_latency_seconds",
        "tidewatch_probe_end_to_end_latency_seconds",
    ):
        assert by_name[name].labels == ("partition", "broker")
    for name in (
        "tidewatch_probe_connection_latency_seconds",
        "tidewatch_probe_metadata_latency_seconds",
    ):
        assert by_name[name].labels == ("broker",)


def test_every_spec_registers_on_a_fresh_registry() -> None:
    registry = CollectorRegistry()
    Instruments(registry, ALL)
    Instruments(CollectorRegistry(), ALL)  # no global state: a second registry works too


def test_the_lag_monitor_exports_the_broker_specs_themselves() -> None:
    broker_specs = {s.name: s for s in broker_catalog.CATALOG}
    for spec in LAG_METRICS:
        assert broker_specs[spec.name] is spec
    assert {s.name for s in LAG_METRICS} >= {
        "tidewatch_group_lag_records",
        "tidewatch_group_lag_seconds",
        "tidewatch_group_committed_offset",
        "tidewatch_group_partition_status_code",
        "tidewatch_group_status",
    }


def test_the_readme_documents_every_probe_metric() -> None:
    readme = (Path(__file__).parents[2] / "synthetics" / "README.md").read_text()
    missing = [s.name for s in (*PROBE_CATALOG, *LAGMON_CATALOG) if f"`{s.name}`" not in readme]
    assert not missing
