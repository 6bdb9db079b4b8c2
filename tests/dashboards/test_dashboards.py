"""The generated dashboards as JSON: valid against the SDK's models (generated from
Grafana's schema), deterministic, with the variables and panels the issue asks for and
the alert thresholds drawn where the alerts point."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from broker.metrics import catalog as m
from broker.metrics import replication_catalog as r
from contracts.alerts import DASHBOARD_ONCALL, REPLICATION_ALERTS, AlertThresholds
from contracts.metrics import series_names
from contracts.promql import metric_names
from contracts.scrape import BROKER_JOB, UP
from dashboards import replication
from dashboards.build import DASHBOARD_FILES, panel_queries
from synthetics.catalog import PROBE_CATALOG
from tests.dashboards.support import replication_panels, row_panels

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
        "Brokers and controller",
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
        "Under-replicated partitions",
        "Partitions under min ISR",
        "Offline partitions",
        "Follower lag (seconds) by broker",
        "ISR shrinks and expands",
    },
    "debug.json": {
        "Bytes appended per partition",
        "Offsets per partition",
        "Produce latency (heatmap)",
        "Fetch latency (heatmap)",
        "Request errors by code",
        "Retention headroom per partition",
        "Replica detail",
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
    # Replication: counts fire at the first partition; lag and churn at their thresholds.
    for title in ("Under-replicated partitions", "Partitions under min ISR", "Offline partitions"):
        assert _threshold_values(_panel("oncall.json", title)) == [1], title
    assert _threshold_values(_panel("oncall.json", "Follower lag (seconds) by broker")) == [
        t.follower_lag_seconds
    ]
    assert _threshold_values(_panel("oncall.json", "ISR shrinks and expands")) == [
        t.isr_flapping_changes
    ]


def test_replication_alert_windows_are_the_ones_the_panels_query() -> None:
    t = AlertThresholds()
    churn = _panel("oncall.json", "ISR shrinks and expands")
    assert all(f"[{t.isr_flapping_window}]" in q["expr"] for q in churn["targets"])
    offline = _panel("oncall.json", "Offline partitions")
    assert any(f"[{t.unclean_election_window}]" in q["expr"] for q in offline["targets"])


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


# --- replication (issue 13) ------------------------------------------------------------
REPLICATION_NAMES = series_names(r.REPLICATION_CATALOG)
PARTITION_STATE = {
    s.name for s in r.REPLICATION_CATALOG if s.name.startswith("tidewatch_partition_")
}
ALERT_TARGETS = (
    "Under-replicated partitions",
    "Partitions under min ISR",
    "Offline partitions",
    "Follower lag (seconds) by broker",
    "ISR shrinks and expands",
)


def _replication_queries() -> list[tuple[str, str, str]]:
    panels = replication_panels(COMMITTED)
    return [
        (q.where, q.panel, q.expr)
        for d in COMMITTED.values()
        for q in panel_queries(d)
        if (q.dashboard, q.panel) in panels
    ]


def test_the_oncall_replication_row_comes_first_in_the_order_a_broker_failure_is_read() -> None:
    document = COMMITTED["oncall.json"]
    assert document["title"] == DASHBOARD_ONCALL
    assert document["panels"][0] == {**document["panels"][0], "type": "row", "title": "Replication"}
    titles = row_panels(document, replication.ROW)
    positions = [titles.index(t) for t in ALERT_TARGETS]
    assert positions == sorted(positions)
    assert titles[0] == "Under-replicated partitions"
    assert titles[-1] == replication.CLIENT_ERRORS


def test_every_replication_alert_is_named_where_its_panel_describes_it() -> None:
    document = COMMITTED["oncall.json"]
    descriptions = " ".join(
        p["description"]
        for p in _panels(document)
        if p["title"] in row_panels(document, replication.ROW)
    )
    assert [a for a in REPLICATION_ALERTS if a not in descriptions] == []


def test_replication_panels_read_only_catalog_metrics() -> None:
    allowed = REPLICATION_NAMES | {m.REQUESTS.name, UP}
    queries = _replication_queries()
    assert len(queries) >= 20
    for where, _, expr in queries:
        assert metric_names(expr) <= allowed, where
    # ... and every panel reading the replication catalog is one of them.
    panels = replication_panels(COMMITTED)
    for document in COMMITTED.values():
        for q in panel_queries(document):
            if metric_names(q.expr) & REPLICATION_NAMES:
                assert (q.dashboard, q.panel) in panels, q.where


def test_partition_state_is_counted_once_per_partition_whoever_reports_it() -> None:
    # The active controller reports it (its broker and instance labels): every selector
    # of a partition-state metric is aggregated to one series per partition.
    checked = 0
    for where, _, expr in _replication_queries():
        for name in metric_names(expr) & PARTITION_STATE:
            selectors = len(re.findall(rf"\b{name}\{{", expr))
            wrapped = len(re.findall(rf"max by \(cluster, topic, partition\) \({name}\{{", expr))
            assert selectors == wrapped, where
            checked += selectors
    assert checked >= 10


def test_follower_lag_is_shown_per_follower_not_per_reporting_leader() -> None:
    lag = _panel("oncall.json", "Follower lag (seconds) by broker")
    (target,) = lag["targets"]
    assert target["expr"].startswith("max by (replica) (")
    assert target["legendFormat"] == "broker {{replica}}"


def test_replica_detail_is_one_table_with_a_named_column_per_figure() -> None:
    table = _panel("debug.json", "Replica detail")
    assert table["type"] == "table"
    assert all(t["format"] == "table" and t["instant"] for t in table["targets"])
    merge, organize = table["transformations"]
    assert merge["id"] == "merge" and organize["id"] == "organize"
    columns = organize["options"]["renameByName"]
    assert list(columns) == [f"Value #{t['refId']}" for t in table["targets"]]
    assert list(columns.values()) == [
        "leader",
        "replicas",
        "ISR size",
        "leader epoch",
        "preferred leader",
        "lag (records)",
        "lag (bytes)",
        "lag (seconds)",
    ]
    specs = [
        r.PARTITION_LEADER,
        r.PARTITION_REPLICAS,
        r.PARTITION_IN_SYNC_REPLICAS,
        r.PARTITION_LEADER_EPOCH,
        r.PARTITION_LEADER_IS_PREFERRED,
        r.REPLICA_LAG_RECORDS,
        r.REPLICA_LAG_BYTES,
        r.REPLICA_LAG_SECONDS,
    ]
    assert [metric_names(t["expr"]) for t in table["targets"]] == [{s.name} for s in specs]


def test_the_brokers_panel_shows_up_registered_fenced_and_the_controller() -> None:
    panel = _panel("executive.json", "Brokers and controller")
    names = [metric_names(t["expr"]) for t in panel["targets"]]
    assert names == [
        {UP},
        {r.CONTROLLER_REGISTERED_BROKERS.name},
        {r.CONTROLLER_FENCED_BROKERS.name},
        {r.CONTROLLER_ACTIVE.name},
        {r.CONTROLLER_ACTIVE.name},
    ]
    assert f'job="{BROKER_JOB}"' in panel["targets"][0]["expr"]
