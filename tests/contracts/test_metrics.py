"""The one metric specification type and the latency bucket ladder."""

from __future__ import annotations

import pytest

from broker.metrics import catalog as broker_catalog
from contracts.lag.metrics import LAG_METRICS
from contracts.metrics import (
    BROKER_LATENCY_BUCKETS_SECONDS,
    LATENCY_BUCKETS_SECONDS,
    LOAD_LATENCY_BUCKETS_SECONDS,
    PROBE_LATENCY_BUCKETS_SECONDS,
    MetricSpec,
    MetricType,
    latency_buckets,
    series_names,
)
from loadtest.metrics import LOAD_CATALOG
from slo import conventions as slo_conventions
from synthetics import catalog as synthetics_catalog

CATALOGS = {
    "broker": broker_catalog.CATALOG,
    "broker compatibility names": broker_catalog.COMPAT_CATALOG,
    "probe": synthetics_catalog.PROBE_CATALOG,
    "lag monitor": synthetics_catalog.LAGMON_CATALOG,
    "slo engine": slo_conventions.ENGINE_METRICS,
    "load generator": LOAD_CATALOG,
}


def test_a_counter_family_drops_total_and_other_types_keep_their_name() -> None:
    counter = MetricSpec("x_total", MetricType.COUNTER, "", "X.")
    gauge = MetricSpec("x_total_size", MetricType.GAUGE, "", "X.")
    assert (counter.family, gauge.family) == ("x", "x_total_size")


def test_common_labels_lead_every_series() -> None:
    spec = MetricSpec("x", MetricType.GAUGE, "", "X.", ("topic",), common=("cluster", "b"))
    assert spec.all_labels == ("cluster", "b", "topic")


def test_a_histogram_stores_three_more_series() -> None:
    spec = MetricSpec("x_seconds", MetricType.HISTOGRAM, "seconds", "X.")
    assert series_names([spec]) == {
        "x_seconds",
        "x_seconds_bucket",
        "x_seconds_sum",
        "x_seconds_count",
    }


@pytest.mark.parametrize("catalog", CATALOGS.values(), ids=list(CATALOGS))
def test_every_catalog_uses_the_one_spec_type(catalog: tuple[MetricSpec, ...]) -> None:
    assert catalog
    assert all(type(spec) is MetricSpec for spec in catalog)


def test_the_broker_and_the_lag_monitor_export_the_same_group_specs() -> None:
    assert set(LAG_METRICS) <= set(broker_catalog.CATALOG)
    assert {spec.common for spec in broker_catalog.CATALOG} == {broker_catalog.BROKER_LABELS}


# Pinned: the bounds are part of what users scrape (every histogram series, and SLO
# latency thresholds must be bounds); a change here is a change for users.
@pytest.mark.parametrize(
    ("buckets", "first", "last", "count"),
    [
        pytest.param(BROKER_LATENCY_BUCKETS_SECONDS, 0.0001, 10.0, 16, id="broker"),
        pytest.param(PROBE_LATENCY_BUCKETS_SECONDS, 0.001, 60.0, 15, id="probe"),
        pytest.param(LOAD_LATENCY_BUCKETS_SECONDS, 0.005, 60.0, 13, id="load_generator"),
    ],
)
def test_each_part_exports_a_stretch_of_the_one_latency_ladder(
    buckets: tuple[float, ...], first: float, last: float, count: int
) -> None:
    assert (buckets[0], buckets[-1], len(buckets)) == (first, last, count)
    start = LATENCY_BUCKETS_SECONDS.index(first)
    assert buckets == LATENCY_BUCKETS_SECONDS[start : start + count]


def test_the_ladder_rises_strictly() -> None:
    assert list(LATENCY_BUCKETS_SECONDS) == sorted(set(LATENCY_BUCKETS_SECONDS))


def test_a_stretch_must_start_and_end_on_the_ladder() -> None:
    assert latency_buckets(1.0, 5.0) == (1.0, 2.5, 5.0)
    with pytest.raises(ValueError, match="not a stretch"):
        latency_buckets(0.002, 1.0)
    with pytest.raises(ValueError, match="not a stretch"):
        latency_buckets(5.0, 1.0)


@pytest.mark.parametrize(
    "catalog",
    [broker_catalog.CATALOG, synthetics_catalog.PROBE_CATALOG, LOAD_CATALOG],
    ids=["broker", "probe", "load generator"],
)
def test_every_histogram_carries_its_bounds(catalog: tuple[MetricSpec, ...]) -> None:
    histograms = [s for s in catalog if s.type is MetricType.HISTOGRAM]
    assert histograms
    assert all(s.buckets for s in histograms)
    assert all(not s.buckets for s in catalog if s.type is not MetricType.HISTOGRAM)
