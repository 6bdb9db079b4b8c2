"""Build every dashboard (pure: returns file name -> JSON text) and list their queries.

Each query's metric names are checked against the catalogs dashboards read (the broker's,
the probe's and lag monitor's, the SLO engine's names, and Prometheus' ``up``) before
anything is returned, so a renamed metric fails the build instead of leaving a dead panel.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from broker.metrics import catalog as broker_catalog
from contracts.alerts import AlertThresholds
from contracts.metrics import series_names
from contracts.promql import check_expression
from contracts.scrape import UP
from dashboards.debug import debug
from dashboards.executive import executive
from dashboards.layout import Board, render_dashboard
from dashboards.oncall import oncall
from dashboards.slos import slos
from slo import conventions as slo_conventions
from synthetics import catalog as synthetics_catalog

__all__ = [
    "DASHBOARD_FILES",
    "PanelQuery",
    "build",
    "known_metric_names",
    "panel_queries",
    "variable_queries",
]

DASHBOARD_FILES: Final = ("executive.json", "oncall.json", "debug.json", "slos.json")


@dataclass(frozen=True, slots=True)
class PanelQuery:
    dashboard: str
    panel: str
    ref_id: str
    expr: str

    @property
    def where(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref_id}"


def known_metric_names() -> frozenset[str]:
    """Every series name a dashboard query may select."""
    specs = (
        *broker_catalog.CATALOG,
        *synthetics_catalog.PROBE_CATALOG,
        *synthetics_catalog.LAGMON_CATALOG,
    )
    return series_names(specs) | {UP, *slo_conventions.METRIC_NAMES}


def _boards(thresholds: AlertThresholds) -> list[Board]:
    probes = synthetics_catalog.PROBE_METRICS
    return [executive(probes), oncall(probes, thresholds), debug(probes), slos()]


def build(thresholds: AlertThresholds | None = None) -> dict[str, str]:
    thresholds = thresholds or AlertThresholds()
    files = {
        name: render_dashboard(board.build())
        for name, board in zip(DASHBOARD_FILES, _boards(thresholds), strict=True)
    }
    known = known_metric_names()
    for text in files.values():
        document = json.loads(text)
        for q in panel_queries(document):
            check_expression(q.expr, known, q.where)
        for name, query in variable_queries(document):
            check_expression(_label_values_selector(query), known, f"variable {name}")
    return files


def _panels(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in document.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def panel_queries(document: dict[str, Any]) -> list[PanelQuery]:
    """Every Prometheus query of a dashboard JSON document, in panel order."""
    return [
        PanelQuery(document["title"], panel["title"], target["refId"], target["expr"])
        for panel in _panels(document)
        for target in panel.get("targets", [])
    ]


def variable_queries(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, query) of the dashboard's ``label_values`` query variables."""
    return [
        (v["name"], v["query"])
        for v in document.get("templating", {}).get("list", [])
        if v.get("type") == "query"
    ]


def _label_values_selector(query: str) -> str:
    """``label_values(SELECTOR, label)`` -> ``SELECTOR``."""
    inner = query.removeprefix("label_values(").removesuffix(")")
    return inner.rpartition(",")[0]


def label_values_parts(query: str) -> tuple[str, str]:
    """``label_values(SELECTOR, label)`` -> (SELECTOR, label)."""
    inner = query.removeprefix("label_values(").removesuffix(")")
    selector, _, label = inner.rpartition(",")
    return selector.strip(), label.strip()
