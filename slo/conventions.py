"""Every machine-read name of the SLO engine, defined once.

Recording-rule names and labels are Sloth-compatible (Sloth's public Grafana dashboards
work on our rules); names that Sloth does not have use the ``tidewatch_slo`` prefix.
Dashboards, alerts and tests import these names; nothing else spells them.
"""

from __future__ import annotations

from typing import Final, Literal

from contracts.metrics import MetricSpec, MetricType

__all__ = [
    "ALERT_WINDOWS",
    "ENGINE_METRICS",
    "LABEL_ID",
    "LABEL_SERVICE",
    "LABEL_SEVERITY",
    "LABEL_SLO",
    "LABEL_WINDOW",
    "METRIC_NAMES",
    "RECORDED_NAMES",
    "RULE_CURRENT_BURN_RATE",
    "RULE_ERROR_BUDGET",
    "RULE_OBJECTIVE",
    "RULE_PERIOD_BUDGET_REMAINING",
    "RULE_PERIOD_BURN_RATE",
    "RULE_SLI_ERROR_EVENTS",
    "RULE_SLI_SLICE_ERROR",
    "RULE_SLI_TOTAL_EVENTS",
    "RULE_SLO_INFO",
    "RULE_TIME_PERIOD_DAYS",
    "RUNBOOK_BURN_RATE",
    "RUNBOOK_NO_DATA",
    "SEVERITY_PAGE",
    "SEVERITY_TICKET",
    "sli_error_ratio_rule",
]

# --- Labels (Sloth) -------------------------------------------------------------------
LABEL_ID: Final = "sloth_id"
LABEL_SERVICE: Final = "sloth_service"
LABEL_SLO: Final = "sloth_slo"
LABEL_WINDOW: Final = "sloth_window"
LABEL_SEVERITY: Final = "sloth_severity"
LABEL_BURN_WINDOWS: Final = "tidewatch_slo_windows"

SEVERITY_PAGE: Final = "page"
SEVERITY_TICKET: Final = "ticket"
Severity = Literal["page", "ticket"]

# --- Recording rules ------------------------------------------------------------------
_SLI_ERROR_PREFIX: Final = "slo:sli_error:ratio_rate"


def sli_error_ratio_rule(window: str) -> str:
    """Sloth's per-window error ratio name, e.g. ``slo:sli_error:ratio_rate5m``."""
    return f"{_SLI_ERROR_PREFIX}{window}"


RULE_OBJECTIVE: Final = "slo:objective:ratio"
RULE_ERROR_BUDGET: Final = "slo:error_budget:ratio"
RULE_TIME_PERIOD_DAYS: Final = "slo:time_period:days"
RULE_CURRENT_BURN_RATE: Final = "slo:current_burn_rate:ratio"
RULE_PERIOD_BURN_RATE: Final = "slo:period_burn_rate:ratio"
RULE_PERIOD_BUDGET_REMAINING: Final = "slo:period_error_budget_remaining:ratio"
RULE_SLO_INFO: Final = "sloth_slo_info"
# Not in Sloth: the 5m event rates that make the period ratio event-weighted, and the
# per-evaluation slice judgement of time-slice SLIs.
RULE_SLI_ERROR_EVENTS: Final = "tidewatch_slo:sli_error_events:rate5m"
RULE_SLI_TOTAL_EVENTS: Final = "tidewatch_slo:sli_total_events:rate5m"
RULE_SLI_SLICE_ERROR: Final = "tidewatch_slo:sli_slice_error:bool"

# The windows every SLO records, shortest first (Sloth's set). The period is added per SLO.
ALERT_WINDOWS: Final = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
CURRENT_WINDOW: Final = "5m"
# Window whose burn rate estimates time to exhaustion (long enough not to flap).
EXHAUSTION_WINDOW: Final = "1h"

RUNBOOK_BURN_RATE: Final = "runbooks/slo-error-budget-burn.md"
RUNBOOK_NO_DATA: Final = "runbooks/slo-no-data.md"

SLOTH_MODE: Final = "cli-gen-prom"
SLOTH_VERSION_LABEL: Final = "sloth_version"
GENERATOR_VERSION: Final = "tidewatch-slo/v1"


# Every name the recording rules record, for the check that dashboards and alerts only
# read names that exist.
RECORDED_NAMES: Final[tuple[str, ...]] = (
    *(sli_error_ratio_rule(window) for window in ALERT_WINDOWS),
    RULE_SLI_ERROR_EVENTS,
    RULE_SLI_TOTAL_EVENTS,
    RULE_SLI_SLICE_ERROR,
    RULE_OBJECTIVE,
    RULE_ERROR_BUDGET,
    RULE_TIME_PERIOD_DAYS,
    RULE_CURRENT_BURN_RATE,
    RULE_PERIOD_BURN_RATE,
    RULE_PERIOD_BUDGET_REMAINING,
    RULE_SLO_INFO,
)


# --- In-process metrics catalog -------------------------------------------------------
_GAUGE: Final = MetricType.GAUGE
_SLO_LABELS: Final = (LABEL_ID, LABEL_SERVICE, LABEL_SLO)

# One family per window, named as the recording rules: slo:sli_error:ratio_rate5m, ...
METRIC_SLI_ERROR_RATIO: Final = MetricSpec(
    sli_error_ratio_rule("{window}"),
    _GAUGE,
    "ratio",
    "Error ratio of the SLI over the window in sloth_window (the period included).",
    (*_SLO_LABELS, LABEL_WINDOW),
)
METRIC_OBJECTIVE: Final = MetricSpec(
    RULE_OBJECTIVE, _GAUGE, "ratio", "Objective of the SLO (0-1).", _SLO_LABELS
)
METRIC_ERROR_BUDGET: Final = MetricSpec(
    RULE_ERROR_BUDGET, _GAUGE, "ratio", "Error budget of the SLO: 1 - objective.", _SLO_LABELS
)
METRIC_CURRENT_BURN_RATE: Final = MetricSpec(
    RULE_CURRENT_BURN_RATE, _GAUGE, "ratio", "Burn rate over the last 5m.", _SLO_LABELS
)
METRIC_PERIOD_BURN_RATE: Final = MetricSpec(
    RULE_PERIOD_BURN_RATE, _GAUGE, "ratio", "Burn rate over the whole period.", _SLO_LABELS
)
METRIC_PERIOD_BUDGET_REMAINING: Final = MetricSpec(
    RULE_PERIOD_BUDGET_REMAINING,
    _GAUGE,
    "ratio",
    "Event-weighted error budget remaining over the period (1 = untouched, <0 = overspent).",
    _SLO_LABELS,
)
METRIC_BURN_RATE: Final = MetricSpec(
    "tidewatch_slo_burn_rate_ratio",
    _GAUGE,
    "ratio",
    "Burn rate (error ratio / error budget) over the window in sloth_window.",
    (*_SLO_LABELS, LABEL_WINDOW),
)
METRIC_ALERT_FIRING: Final = MetricSpec(
    "tidewatch_slo_alert_firing",
    _GAUGE,
    "",
    "1 when the multiwindow burn-rate alert of that severity fires, else 0.",
    (*_SLO_LABELS, LABEL_SEVERITY, LABEL_BURN_WINDOWS),
)
METRIC_TIME_TO_EXHAUSTION: Final = MetricSpec(
    "tidewatch_slo_time_to_exhaustion_seconds",
    _GAUGE,
    "seconds",
    "Time until the remaining budget is spent at the 1h burn rate (+Inf when not burning).",
    _SLO_LABELS,
)
METRIC_DATA_COVERAGE: Final = MetricSpec(
    "tidewatch_slo_data_coverage_ratio",
    _GAUGE,
    "ratio",
    "Share of evaluation steps in the window that had data (gaps are neither good nor bad).",
    (*_SLO_LABELS, LABEL_WINDOW),
)
METRIC_NO_DATA: Final = MetricSpec(
    "tidewatch_slo_no_data",
    _GAUGE,
    "",
    "1 when the SLI has had no data for longer than the no-data alert delay.",
    _SLO_LABELS,
)
METRIC_TICK_DURATION: Final = MetricSpec(
    "tidewatch_slo_tick_duration_seconds",
    _GAUGE,
    "seconds",
    "Wall time of the last evaluation tick (sampling, ingest and evaluation).",
    (),
)
METRIC_SLOS: Final = MetricSpec(
    "tidewatch_slo_slos", _GAUGE, "", "Number of SLOs the engine evaluates.", ()
)

ENGINE_METRICS: Final = (
    METRIC_SLI_ERROR_RATIO,
    METRIC_OBJECTIVE,
    METRIC_ERROR_BUDGET,
    METRIC_CURRENT_BURN_RATE,
    METRIC_PERIOD_BURN_RATE,
    METRIC_PERIOD_BUDGET_REMAINING,
    METRIC_BURN_RATE,
    METRIC_ALERT_FIRING,
    METRIC_TIME_TO_EXHAUSTION,
    METRIC_DATA_COVERAGE,
    METRIC_NO_DATA,
    METRIC_TICK_DURATION,
    METRIC_SLOS,
)

# Every name the engine exports (one family per window stands for its windows' names).
METRIC_NAMES: Final[tuple[str, ...]] = (
    *RECORDED_NAMES,
    *(spec.name for spec in ENGINE_METRICS if spec is not METRIC_SLI_ERROR_RATIO),
)
