"""Every metric name the alert pack's rules may use: the names the parts export, from the
catalogs that define them (the broker's, native and compatibility names; the probe's and
lag monitor's; the SLO engine's recording rules and engine metrics), and the one series
Prometheus makes itself (``up``)."""

from __future__ import annotations

from collections.abc import Iterable

from broker.metrics import catalog as broker_catalog
from contracts.metrics import series_names
from contracts.scrape import UP
from slo import conventions as slo_conventions
from synthetics import catalog as synthetics_catalog

__all__ = ["known_metric_names"]


def known_metric_names(extra: Iterable[str] = ()) -> frozenset[str]:
    """Catalog names (histograms with their series suffixes), plus ``extra`` (the names
    recorded by generated rules, whose record names come from the SLO conventions)."""
    specs = (
        *broker_catalog.CATALOG,
        *broker_catalog.COMPAT_CATALOG,
        *synthetics_catalog.PROBE_CATALOG,
        *synthetics_catalog.LAGMON_CATALOG,
    )
    return series_names(specs) | {UP, *slo_conventions.METRIC_NAMES, *extra}
