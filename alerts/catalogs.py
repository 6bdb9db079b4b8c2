"""Every metric name dashboards and rules may use, gathered from the catalogs that define
them: the broker's (native and compatibility names), the SLO engine's conventions, the
probe and lag-monitor catalogs (synthetics/catalog.py), and the one series Prometheus
makes itself (``up``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from alerts.promql import HISTOGRAM_SUFFIXES, MetricLike, metric_names
from alerts.scrape import UP
from broker.metrics import catalog as broker_catalog
from slo import conventions as slo_conventions
from synthetics import catalog as synthetics_catalog

__all__ = ["UnknownMetricError", "check_expression", "known_metric_names", "recorded_names"]


class UnknownMetricError(ValueError):
    """An expression uses a metric name that no catalog defines."""


def _names(spec: MetricLike) -> set[str]:
    names = {spec.name}
    if str(getattr(spec, "type", "")) == "histogram":
        names.update(spec.name + suffix for suffix in HISTOGRAM_SUFFIXES)
    return names


def _slo_names() -> set[str]:
    names = {
        getattr(slo_conventions, attribute)
        for attribute in slo_conventions.__all__
        if attribute.startswith("RULE_")
    }
    names.update(slo_conventions.sli_error_ratio_rule(w) for w in slo_conventions.ALERT_WINDOWS)
    names.update(spec.name for spec in slo_conventions.ENGINE_METRICS if "{" not in spec.name)
    return names


def known_metric_names(extra: Iterable[str] = ()) -> frozenset[str]:
    """Catalog names (histograms with their series suffixes), plus ``extra`` (the names
    recorded by generated rules, whose record names come from the SLO conventions)."""
    specs: list[MetricLike] = [
        *broker_catalog.CATALOG,
        *broker_catalog.COMPAT_CATALOG,
        *synthetics_catalog.PROBE_CATALOG,
        *synthetics_catalog.LAGMON_CATALOG,
    ]
    names: set[str] = {UP, *_slo_names(), *extra}
    for spec in specs:
        names.update(_names(spec))
    return frozenset(names)


def recorded_names(rule_file: Mapping[str, Any]) -> set[str]:
    """``record:`` names of a rule file structure (``{"groups": [...]}``)."""
    return {
        rule["record"]
        for group in rule_file.get("groups", [])
        for rule in group.get("rules", [])
        if "record" in rule
    }


def check_expression(expr: str, known: frozenset[str], where: str) -> None:
    unknown = sorted(metric_names(expr) - known)
    if unknown:
        raise UnknownMetricError(f"{where}: metric(s) defined in no catalog: {', '.join(unknown)}")
