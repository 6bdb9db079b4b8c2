"""The generated dashboards as JSON: valid against the SDK's models (generated from
Grafana's schema), deterministic, with the variables and panels the issue asks for and
the alert thresholds drawn where the alerts point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from broker.metrics import catalog as m
from contracts.alerts import AlertThresholds
from contracts.promql import metric_names
from dashboards.build import DASHBOARD_FILES, panel_queries
from synthetics.catalog import PROBE_CATALOG

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = {
    n: json.loads((ROOT / "dashboards/generated" / n).read_text()) for n in DASHBOARD_FILES
}


def _panels(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in document["panels"] if p["type"] != "row"]


def _titles(document: dict[str, Any]) -> set[str]:
    return {p["title"] for p in _panels(document)}


def _variables(document: dict[str, Any]) -> list[str]:
    return [v["name"] for v in document["templating"]["list"]]


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_dashboard_round_trips_through_the_sdk_model_unchanged(name: str) -> None:
    text = (ROOT / "dashboards/generated" / name).read_text()
    model = Dashboard.from_json(json.loads(text))
    assert json.dumps(model, cls=JSONEncoder, sort_keys=True, indent=2) + "\n" == text


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_dashboard_has_stable_identity_and_no_timestamps(name: str) -> None:
    document = COMMITTED[name]
    assert document["uid"].startswith("tidewatch-")
    assert document["schemaVersion"] == 41
    assert not {"id", "created", "updated", "version", "iteration"} & set(document)
    ids = [p["id"] for p in document["panels"]]
    assert ids == list(range(1, len(ids) + 1))
    for panel in _panels(document):
        refs = [t["refId"] for t in panel["targets"]]
        assert refs == [chr(ord("A") + i) for i in range(len(refs))], panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_dashboard_uids_are_unique() -> None:
    assert len({d["uid"] for d in COMMITTED.values()}) == len(COMMITTED)


@pytest.mark.parametrize("name", ["executive.json", "oncall.json", "debug.json"])
def test_platform_dashboards_have_datasource_cluster_topic_and_group_variables(
    name: str,
) -> None:
    assert _variables(COMMITTED[name]) == ["datasource", "cluster", "topic", "group"]


def test_slo_dashboard_selects_service_and_slo_and_repeats_a_row_per_slo() -> None:
    document = COMMITTED["slos.json"]
    assert _variables(document) == ["datasource", "service", "slo"]
    rows = [p for p in document["panels"] if p["type"] == "row"]
    assert [r.get("repeat") for r in rows] == ["slo"]


# The panels the issue lists, by dashboard.
REQUIRED = {
    "executive.json": {
        "Brokers up",
        "Produce and fetch success (broker)",
        "Ingest",
        "Egress",
        "Error budget remaining per SLO",
        "Burn rate per SLO (5m)",
        "Top topics by traffic",
    },
    "oncall.json": {
        "Consumer lag (seconds)",
        "Consumer lag (records)",
        "Lag status",
        "Hottest partitions (skew)",
        "Broker up",
        "Request errors by API",
        "Request latency p99 by API",
        "Authentication and authorization failures",
        "Retention headroom",
        "Data directory free space",
    },
    "debug.json": {
        "Bytes appended per partition",
        "Offsets per partition",
        "Produce latency (heatmap)",
        "Fetch latency (heatmap)",
        "Request errors by code",
        "Retention headroom per partition",
    },
    "slos.json": {
        "Error budget remaining",
        "Burn rate per window",
        "Time to exhaustion",
        "SLI against objective",
    },
}
PROBE_PANELS = {
    "executive.json": {"Availability per cluster (probes)"},
    "oncall.json": {"Probe loss and duplicates"},
    "debug.json": {"Probe results per partition", "Probe end-to-end latency p99 per broker"},
    "slos.json": set(),
}


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_dashboard_has_the_panels_the_issue_lists(name: str) -> None:
    assert REQUIRED[name] <= _titles(COMMITTED[name])


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_dashboard_has_the_probe_panels(name: str) -> None:
    assert PROBE_PANELS[name] <= _titles(COMMITTED[name])


def test_probe_panels_select_on_probe_metrics_and_labels_never_on_the_scrape_job() -> None:
    # tidewatch up serves the probe metrics from the broker's endpoint (job
    # tidewatch-broker); a standalone probe is its own job: the panels must not care.
    probe_names = {s.name for s in PROBE_CATALOG}
    checked = 0
    for document in COMMITTED.values():
        for q in panel_queries(document):
            names = {n.removesuffix("_bucket") for n in metric_names(q.expr)}
            if names & probe_names:
                checked += 1
                assert "job" not in q.expr and "instance" not in q.expr, q.where
    assert checked >= 5


def _panel(name: str, title: str) -> dict[str, Any]:
    return next(p for p in _panels(COMMITTED[name]) if p["title"] == title)


def _threshold_values(panel: dict[str, Any]) -> list[float]:
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return [s["value"] for s in steps if s["value"] is not None]


def test_alert_thresholds_are_drawn_on_the_panels_the_alerts_point_at() -> None:
    t = AlertThresholds()
    assert _threshold_values(_panel("oncall.json", "Consumer lag (seconds)")) == [t.lag_sla_seconds]
    assert _threshold_values(_panel("oncall.json", "Retention headroom")) == [
        t.retention_headroom_page_seconds,
        t.retention_headroom_ticket_seconds,
    ]
    assert _threshold_values(_panel("oncall.json", "Hottest partitions (skew)")) == [
        t.hot_partition_skew_ratio
    ]
    assert _threshold_values(_panel("oncall.json", "Data directory free space")) == [
        t.disk_free_page_ratio,
        t.disk_free_ticket_ratio,
    ]


def test_slo_burn_panel_draws_the_page_and_ticket_thresholds_of_the_window_catalogue() -> None:
    burn = _panel("slos.json", "Burn rate per window")
    legends = [t["legendFormat"] for t in burn["targets"]]
    assert legends[-4:] == [
        "page threshold (1h/5m)",
        "page threshold (6h/30m)",
        "ticket threshold (1d/2h)",
        "ticket threshold (3d/6h)",
    ]
    # For a 30-day SLO the lines are the workbook's 14.4x, 6x, 3x and 1x.
    factors = [float(t["expr"].rsplit("*", 1)[1]) * 30 for t in burn["targets"][-4:]]
    assert factors == pytest.approx([14.4, 6, 3, 1])


def test_heatmaps_ask_prometheus_for_heatmap_formatted_buckets() -> None:
    for panel in _panels(COMMITTED["debug.json"]):
        if panel["type"] == "heatmap":
            (target,) = panel["targets"]
            assert target["format"] == "heatmap"
            assert "_bucket" in target["expr"] and "by (le)" in target["expr"]


def test_every_dashboard_query_filters_by_the_scope_variables_where_its_metric_has_them() -> None:
    with_topic = {s.name for s in m.CATALOG if "topic" in s.labels}
    with_group = {s.name for s in m.CATALOG if "group" in s.labels}
    checked = 0
    for name in ("executive.json", "oncall.json", "debug.json"):
        for q in panel_queries(COMMITTED[name]):
            names = {n.removesuffix("_bucket") for n in metric_names(q.expr)}
            if names & with_topic:
                checked += 1
                assert 'cluster=~"$cluster"' in q.expr and 'topic=~"$topic"' in q.expr, q.where
            if names & with_group:
                assert 'group=~"$group"' in q.expr, q.where
    assert checked > 10
