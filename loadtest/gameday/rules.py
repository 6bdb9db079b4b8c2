"""The Prometheus rules a game day evaluates, compressed by its time scale.

One rule file per run, merged from:

- **the alert pack** (``tidewatch alerts build``, :mod:`alerts.build`): the
  infrastructure alerts and the platform SLOs' burn-rate rules, generated with the
  :class:`~contracts.alerts.AlertThresholds` the scenario may override;
- the scenario's own SLO specs, compiled by the SLO engine (``slo.rules``);
- extra rule files named by the scenario.

Compression (see :mod:`slo.timescale`) divides every range, ``offset`` and ``for`` by
the time scale; a ``for`` still spans :data:`MIN_FOR_SCRAPES` scrape intervals at least.
Thresholds that are *ages* (consumer lag in seconds, retention headroom: they grow with
the clock) are divided too, before the pack is generated: :data:`AGE_THRESHOLDS` lists
them, and a test makes every new ``*_seconds`` threshold declare whether it is an age or
a latency. Latencies are physical and stay as they are, and rates are per real second
either way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import yaml

from alerts.build import INFRASTRUCTURE_RULES_FILE, PROBE_GROUP, build
from alerts.platform_slos import platform_slo_specs
from contracts.alerts import AlertThresholds
from contracts.durations import format_duration, parse_duration_seconds
from contracts.metrics import series_names
from contracts.promql import metric_names
from slo.model import SLO
from slo.rules import generate as generate_slo_rules
from slo.rules import group_names
from slo.timescale import compress_rules
from synthetics.catalog import PROBE_METRICS

__all__ = [
    "AGE_THRESHOLDS",
    "LATENCY_THRESHOLDS",
    "LOAD_JOB",
    "MIN_FOR_SCRAPES",
    "build_rules",
    "compressed_thresholds",
    "min_for_seconds",
    "pack_slos",
    "scrape_interval",
]

LOAD_JOB: Final = "tidewatch-load"
# AlertThresholds fields that are ages (compressed) and latencies (left alone).
AGE_THRESHOLDS: Final = (
    "lag_sla_seconds",
    "retention_headroom_page_seconds",
    "retention_headroom_ticket_seconds",
    "follower_lag_seconds",  # the age of the oldest record a follower lacks
)
LATENCY_THRESHOLDS: Final = ("flush_p99_seconds",)
# A compressed ``for`` (not zero) spans at least this many scrapes, as many as the pack's
# shortest ``for`` (1m) spans in production at its 15 s scrape interval: a failed or late
# scrape or two cannot hold a condition that long (see min_for_seconds).
MIN_FOR_SCRAPES: Final = 4


def thresholds_with(overrides: Mapping[str, Any]) -> AlertThresholds:
    """The pack's defaults with a scenario's overrides (unknown names raise KeyError)."""
    known = {f.name for f in dataclasses.fields(AlertThresholds)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise KeyError(f"unknown alert thresholds {unknown}; known: {sorted(known)}")
    return dataclasses.replace(AlertThresholds(), **dict(overrides))


def compressed_thresholds(thresholds: AlertThresholds, time_scale: float) -> AlertThresholds:
    """Ages divided by ``time_scale`` (``for`` durations are compressed with the file)."""
    changes = {name: getattr(thresholds, name) / time_scale for name in AGE_THRESHOLDS}
    return dataclasses.replace(thresholds, **changes)


def for_seconds(duration: str, time_scale: float) -> float:
    """A pack ``for`` duration in compressed real seconds (for the in-process twins),
    with the same floor as the rule file's (:func:`min_for_seconds`)."""
    nominal = parse_duration_seconds(duration or "0s", allow_zero=True)
    if nominal == 0:
        return 0.0
    return max(nominal / time_scale, min_for_seconds(time_scale))


def probe_metric_names() -> frozenset[str]:
    """Every series name of the probe catalog (histograms with their suffixes)."""
    return series_names(PROBE_METRICS.specs())


def is_probe_slo(slo: SLO) -> bool:
    """Whether the SLO's SLI reads probe metrics (from its generated SLI recordings)."""
    sli_group = generate_slo_rules([slo])["groups"][0]
    probe = probe_metric_names()
    return any(metric_names(str(r["expr"])) & probe for r in sli_group["rules"])


def pack_slos(thresholds: AlertThresholds, probes: bool = False) -> list[SLO]:
    """The platform SLOs of the pack (their gauge thresholds already compressed); the
    probe SLOs only when a probe runs."""
    slos = platform_slo_specs(thresholds)
    return slos if probes else [s for s in slos if not is_probe_slo(s)]


def _without_probe_rules(groups: list[dict[str, Any]], t: AlertThresholds) -> list[dict[str, Any]]:
    """The pack's rules minus the probe alerts and the probe SLOs' groups: without a
    probe their no-data alerts would fire for nothing."""
    dropped = {PROBE_GROUP}
    for slo in platform_slo_specs(t):
        if is_probe_slo(slo):
            dropped.update(group_names(slo))
    return [g for g in groups if g["name"] not in dropped]


def build_rules(
    slos: Sequence[SLO],
    time_scale: float,
    thresholds: AlertThresholds | None = None,
    pack: bool = True,
    extra: Iterable[dict[str, Any]] = (),
    exclude: Iterable[str] = (),
    probes: bool = False,
) -> dict[str, Any]:
    """The rule file of a game day (see module docstring), without the excluded alerts,
    compressed by ``time_scale``. ``thresholds`` are nominal (uncompressed). The pack's
    probe alerts and SLOs are included only when a probe runs (``probes``): without one
    their no-data alerts would fire for nothing."""
    groups: list[dict[str, Any]] = []
    if pack:
        t = compressed_thresholds(thresholds or AlertThresholds(), time_scale)
        result = build(t)
        pack_groups = [
            *result.slo_rule_file["groups"],
            *yaml.safe_load(result.files[INFRASTRUCTURE_RULES_FILE])["groups"],
        ]
        groups.extend(pack_groups if probes else _without_probe_rules(pack_groups, t))
    if slos:
        groups.extend(generate_slo_rules(slos)["groups"])
    for doc in extra:
        groups.extend(doc.get("groups", []))
    dropped = set(exclude)
    if dropped:
        groups = [
            {**g, "rules": [r for r in g["rules"] if r.get("alert") not in dropped]} for g in groups
        ]
        groups = [g for g in groups if g["rules"]]
    return compress_rules(
        {"groups": groups}, time_scale, min_for_seconds=min_for_seconds(time_scale)
    )


def scrape_seconds(time_scale: float) -> float:
    """One nominal minute per scrape and evaluation, between 0.5 s and 1 s real."""
    return min(1.0, max(0.5, 60 / time_scale))


def scrape_interval(time_scale: float) -> str:
    """:func:`scrape_seconds` as a Prometheus duration."""
    return format_duration(scrape_seconds(time_scale))


def min_for_seconds(time_scale: float) -> float:
    """The shortest a compressed ``for`` may last: :data:`MIN_FOR_SCRAPES` scrape
    intervals. Compression divides ``for`` by the time scale but the scrape interval far
    less (15 s in production, 0.5 s at 120x: 30 times shorter, not 120), so the pack's
    ``for: 1m`` (four scrapes in production) would span a single scrape, and one slow
    ``/metrics`` answer on a busy machine would page."""
    return MIN_FOR_SCRAPES * scrape_seconds(time_scale)
