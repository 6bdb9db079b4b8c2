"""Executive dashboard: is the platform available, how much flows through it, how much
error budget is left, and which topics carry the traffic."""

from __future__ import annotations

from typing import Final

from broker.metrics import catalog as m
from contracts.alerts import BROKER_UNREACHABLE
from contracts.promql import Re, regex_union, selector
from contracts.scrape import BROKER_JOB, UP_SERIES
from dashboards.layout import RATE, Board, Query, Threshold, scope_variables, scoped
from dashboards.replication import brokers_and_controller
from slo import conventions as c
from synthetics.catalog import ProbeMetrics

__all__ = ["UID", "executive"]

UID: Final = "tidewatch-executive"
TITLE: Final = "Tidewatch Executive"
_SLO_LEGEND: Final = "{{sloth_service}} / {{sloth_slo}}"


def ratio_ok(bad: str, total: str, by: str) -> str:
    """``1 - bad/total`` per ``by``, with a missing ``bad`` series read as zero."""
    bad_sum = f"sum by ({by}) (rate({bad}[{RATE}]))"
    total_sum = f"sum by ({by}) (rate({total}[{RATE}]))"
    return f"1 - (({bad_sum}) or (0 * {total_sum})) / {total_sum}"


def _availability(board: Board, probes: ProbeMetrics) -> None:
    board.row("Availability")
    board.stat(
        "Brokers up",
        f"Broker scrape targets answering, per cluster ({BROKER_UNREACHABLE} pages on 0).",
        [Query(f"sum by (cluster) ({scoped(UP_SERIES, job=BROKER_JOB)})", "{{cluster}}")],
        "none",
        thresholds=[Threshold(1, "green")],
        base_color="red",
    )
    produce_ok = ratio_ok(
        scoped(m.REQUESTS, api="produce", error=Re(regex_union(m.SERVER_ERRORS))),
        scoped(m.REQUESTS, api="produce"),
        "cluster",
    )
    fetch_ok = ratio_ok(
        scoped(m.REQUESTS, api="fetch", error=Re(regex_union(m.SERVER_ERRORS))),
        scoped(m.REQUESTS, api="fetch"),
        "cluster",
    )
    board.timeseries(
        "Produce and fetch success (broker)",
        "Share of produce and fetch requests answered without a server-side error code.",
        [Query(produce_ok, "produce {{cluster}}"), Query(fetch_ok, "fetch {{cluster}}")],
        "percentunit",
        width=18,
        min_value=None,
    )
    successes = f"sum by (cluster) (rate({selector(probes.produce_successes)}[{RATE}]))"
    attempts = f"sum by (cluster) (rate({selector(probes.produce_attempts)}[{RATE}]))"
    board.timeseries(
        "Availability per cluster (probes)",
        "Share of probe records the cluster acknowledged within the probe's ack SLA.",
        [Query(f"{successes} / {attempts}", "{{cluster}}")],
        "percentunit",
        width=24,
        min_value=None,
    )
    brokers_and_controller(board)


def _traffic(board: Board) -> None:
    board.row("Traffic")
    by_cluster = "sum by (cluster) (rate({}[" + RATE + "]))"
    board.timeseries(
        "Ingest",
        "Bytes and records appended per second (all partitions of the selected topics).",
        [
            Query(by_cluster.format(scoped(m.PARTITION_BYTES_APPENDED)), "bytes {{cluster}}"),
        ],
        "Bps",
    )
    board.timeseries(
        "Egress",
        "Bytes returned to fetch requests per second (consumers and replicas).",
        [Query(by_cluster.format(scoped(m.PARTITION_BYTES_FETCHED)), "bytes {{cluster}}")],
        "Bps",
    )
    board.timeseries(
        "Records in and out",
        "Records appended and fetched per second.",
        [
            Query(by_cluster.format(scoped(m.PARTITION_RECORDS_APPENDED)), "in {{cluster}}"),
            Query(by_cluster.format(scoped(m.PARTITION_RECORDS_FETCHED)), "out {{cluster}}"),
        ],
        "rps",
    )
    board.bars(
        "Top topics by traffic",
        "The ten topics with the most bytes appended per second.",
        [
            Query(
                f"topk(10, sum by (topic) (rate({scoped(m.PARTITION_BYTES_APPENDED)}[{RATE}])))",
                "{{topic}}",
                instant=True,
            )
        ],
        "Bps",
    )


def _budgets(board: Board) -> None:
    board.row("Error budgets")
    remaining = selector(c.METRIC_PERIOD_BUDGET_REMAINING)
    board.bars(
        "Error budget remaining per SLO",
        "Share of each SLO's error budget left in its period (event-weighted); below 0 the "
        "SLO is broken.",
        [Query(remaining, _SLO_LEGEND, instant=True)],
        "percentunit",
    )
    board.bars(
        "Burn rate per SLO (5m)",
        "How fast each SLO spends its budget now: 1 spends it exactly over the period.",
        [Query(selector(c.METRIC_CURRENT_BURN_RATE), _SLO_LEGEND, instant=True)],
        "none",
    )
    board.timeseries(
        "Error budget remaining over time",
        "Budget left per SLO.",
        [Query(remaining, _SLO_LEGEND)],
        "percentunit",
        width=24,
        min_value=None,
    )


def executive(probes: ProbeMetrics) -> Board:
    board = Board(
        UID,
        TITLE,
        "Availability, traffic and error budgets of the streaming platform at a glance.",
        ["executive"],
    )
    scope_variables(board)
    _availability(board, probes)
    _traffic(board)
    _budgets(board)
    return board
