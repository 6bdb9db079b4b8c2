"""On-call dashboard: what the alerts point at. Replication first (what a broker failure
breaks: dashboards/replication.py), then consumer lag and status, retention headroom,
hot partitions, broker and storage health, request errors and latency, auth failures
and probe loss and duplicates. Alert thresholds are drawn from the same values the
rules use."""

from __future__ import annotations

from typing import Final

from broker.metrics import catalog as m
from contracts import alerts as a
from contracts.alerts import DASHBOARD_ONCALL, AlertThresholds
from contracts.lag.status import LagStatus
from contracts.promql import NotRe, Re, regex_union, selector
from contracts.scrape import BROKER_JOB, UP_SERIES
from dashboards.layout import (
    RATE,
    Board,
    Query,
    Threshold,
    scope_variables,
    scoped,
    status_mappings,
)
from dashboards.replication import oncall_row as replication_row
from synthetics.catalog import ProbeMetrics

__all__ = ["UID", "oncall"]

UID: Final = "tidewatch-oncall"
_STATUS_COLORS: Final = {
    LagStatus.OK: "green",
    LagStatus.WARN: "yellow",
    LagStatus.REWIND: "blue",
    LagStatus.STALL: "orange",
    LagStatus.STOP: "red",
}
LAG_STATUS_MAPPINGS: Final = status_mappings(
    {int(s): (s.name, color) for s, color in _STATUS_COLORS.items()}
)


def _broker(board: Board, t: AlertThresholds) -> None:
    board.row("Broker health")
    board.stat(
        "Broker up",
        f"1 when Prometheus scrapes the broker ({a.BROKER_UNREACHABLE}).",
        [Query(scoped(UP_SERIES, job=BROKER_JOB), "{{instance}}")],
        "none",
        thresholds=[Threshold(1, "green")],
        base_color="red",
    )
    board.stat(
        "Connections open",
        "Client connections currently open per broker.",
        [Query(f"sum by (broker) ({scoped(m.CONNECTIONS_OPEN)})", "broker {{broker}}")],
        "none",
    )
    flush = scoped(m.FLUSH_DURATION, "_bucket")
    board.timeseries(
        "Storage errors and flush latency",
        f"Appends/flushes refused by the disk per 5m ({a.BROKER_STORAGE_ERRORS} pages on "
        f"any) and the fsync p99 ({a.BROKER_FLUSH_SLOW} above the dashed line).",
        [
            Query(
                f"sum by (broker) (increase({scoped(m.STORAGE_ERRORS)}[5m]))",
                "storage errors per 5m, broker {{broker}}",
            ),
            Query(
                f"histogram_quantile(0.99, sum by (broker, le) (rate({flush}[{RATE}])))",
                "fsync p99 (s), broker {{broker}}",
            ),
        ],
        "short",
        thresholds=[Threshold(t.flush_p99_seconds)],
    )
    board.timeseries(
        "Data directory free space",
        "Share of the data directory's file system still free, per broker. Below "
        f"{t.disk_free_ticket_ratio:.0%} for {t.disk_free_ticket_for} tickets, below "
        f"{t.disk_free_page_ratio:.0%} for {t.disk_free_page_for} pages (the dashed lines; "
        f"{a.BROKER_DISK_NEARLY_FULL}).",
        [
            Query(
                m.data_dir_free_ratio(scoped(m.DATA_DIR_FREE_BYTES), scoped(m.DATA_DIR_SIZE_BYTES)),
                "broker {{broker}}",
            )
        ],
        "percentunit",
        thresholds=[
            Threshold(t.disk_free_page_ratio, "orange"),
            Threshold(t.disk_free_ticket_ratio, "green"),
        ],
        base_color="red",
    )


def _consumers(board: Board, t: AlertThresholds) -> None:
    board.row("Consumer groups")
    board.timeseries(
        "Consumer lag (seconds)",
        "Age of the oldest unconsumed record per group and topic, from stored timestamps. "
        "Above the dashed line (the lag SLA) for 5 minutes pages.",
        [
            Query(
                f"max by (group, topic) ({scoped(m.GROUP_LAG_SECONDS)})",
                "{{group}} / {{topic}}",
            )
        ],
        "s",
        thresholds=[Threshold(t.lag_sla_seconds)],
    )
    board.timeseries(
        "Consumer lag (records)",
        "Records waiting per group and topic (high watermark minus committed offset).",
        [Query(f"sum by (group, topic) ({scoped(m.GROUP_LAG_RECORDS)})", "{{group}} / {{topic}}")],
        "short",
    )
    board.table(
        "Lag status",
        "Worst Burrow-style status per group and topic (STALL/STOP for 10 minutes tickets); "
        "GET /status/groups on the broker says why.",
        [
            Query(
                f"max by (group, topic) ({scoped(m.GROUP_PARTITION_STATUS)})",
                table=True,
            )
        ],
        "none",
        mappings=LAG_STATUS_MAPPINGS,
    )
    board.timeseries(
        "Group members",
        "Members per group, and rebalances started in the last 15 minutes.",
        [
            Query(f"sum by (group) ({scoped(m.GROUP_MEMBERS)})", "members {{group}}"),
            Query(
                f"sum by (group) (increase({scoped(m.GROUP_REBALANCES)}[15m]))",
                "rebalances/15m {{group}}",
            ),
        ],
        "short",
    )
    board.timeseries(
        "Retention headroom",
        "Time until retention deletes the oldest unconsumed record, per group and topic "
        "(absent when caught up). Below 6 h tickets, below 1 h pages, for groups beyond "
        "the lag SLA.",
        [
            Query(
                f"min by (group, topic) ({scoped(m.GROUP_RETENTION_HEADROOM)})",
                "{{group}} / {{topic}}",
            )
        ],
        "s",
        thresholds=[
            Threshold(t.retention_headroom_page_seconds, "orange"),
            Threshold(t.retention_headroom_ticket_seconds, "green"),
        ],
        base_color="red",
    )


def _partitions(board: Board, t: AlertThresholds) -> None:
    board.row("Partitions")
    rate = f"rate({scoped(m.PARTITION_BYTES_APPENDED)}[{RATE}])"
    board.timeseries(
        "Hottest partitions (skew)",
        "Per topic, the busiest partition's bytes/s over the topic's average per partition "
        "(2 = twice its fair share; at or above the dashed line for 30m tickets).",
        [
            Query(
                f"max by (topic) ({rate}) / avg by (topic) ({rate})",
                "{{topic}}",
            )
        ],
        "none",
        thresholds=[Threshold(t.hot_partition_skew_ratio, "orange")],
    )
    board.bars(
        "Hottest partitions (bytes/s)",
        "The ten partitions receiving the most bytes per second.",
        [
            Query(
                f"topk(10, sum by (topic, partition) ({rate}))",
                "{{topic}}/{{partition}}",
                instant=True,
            )
        ],
        "Bps",
    )


def _requests(board: Board, t: AlertThresholds) -> None:
    board.row("Requests")
    unexpected = NotRe(regex_union((m.NO_ERROR, *m.EXPECTED_ERRORS)))
    failed = f"sum by (api) (rate({scoped(m.REQUESTS, error=unexpected)}[{RATE}]))"
    total = f"sum by (api) (rate({scoped(m.REQUESTS)}[{RATE}]))"
    board.timeseries(
        "Request errors by API",
        "Share of requests per API failing with unexpected error codes (rebalance churn "
        "excluded); above the dashed line for 10 minutes tickets.",
        [Query(f"(({failed}) or (0 * {total})) / {total}", "{{api}}")],
        "percentunit",
        thresholds=[Threshold(t.request_error_ratio, "orange")],
    )
    duration = scoped(m.REQUEST_DURATION, "_bucket")
    board.timeseries(
        "Request latency p99 by API",
        "99th percentile of time from a request's arrival to its response being queued.",
        [
            Query(
                f"histogram_quantile(0.99, sum by (api, le) (rate({duration}[{RATE}])))",
                "{{api}}",
            )
        ],
        "s",
    )
    denied = scoped(m.REQUESTS, error=Re(regex_union(m.AUTH_ERRORS)))
    board.timeseries(
        "Authentication and authorization failures",
        "Denied requests per 10 minutes by API and error (only with SASL/ACLs configured).",
        [Query(f"sum by (api, error) (increase({denied}[10m]))", "{{api}} {{error}}")],
        "short",
        thresholds=[Threshold(t.auth_failures_per_10m, "orange")],
    )


def _probes(board: Board, probes: ProbeMetrics) -> None:
    board.row("Probes")
    queries = []
    for kind, spec in (("lost", probes.lost), ("duplicated", probes.duplicated)):
        by = probes.by(spec)
        queries.append(
            Query(
                f"sum by ({by}) (increase({selector(spec)}[10m]))",
                f"{kind} " + " ".join(f"{{{{{label}}}}}" for label in by.split(", ") if label),
            )
        )
    board.timeseries(
        "Probe loss and duplicates",
        "Probe records acknowledged but never read back (pages) and read twice (tickets), "
        "per 10 minutes.",
        queries,
        "short",
        width=24,
    )


def oncall(probes: ProbeMetrics, thresholds: AlertThresholds) -> Board:
    board = Board(
        UID,
        DASHBOARD_ONCALL,
        "Where every Tidewatch alert points: replication, lag, retention, hot partitions, "
        "broker, requests, probes.",
        ["on-call"],
    )
    scope_variables(board)
    replication_row(board, thresholds)
    _consumers(board, thresholds)
    _partitions(board, thresholds)
    _broker(board, thresholds)
    _requests(board, thresholds)
    _probes(board, probes)
    return board
