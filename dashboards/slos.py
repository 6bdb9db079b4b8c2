"""SLO dashboard: one row per SLO (repeated over the ``slo`` variable) with budget
remaining, time to exhaustion, the SLI against its objective, and the burn rate of every
window with the multiwindow alert thresholds drawn.

It reads only the Sloth-compatible recording rules (slo/conventions.py), so it works for
any SLO compiled by ``tidewatch slo generate`` or ``tidewatch alerts build``. The
threshold lines are computed per SLO from its period and the alert-window catalogue
(slo/windows): factor = budget share x period / long window.
"""

from __future__ import annotations

from typing import Final

from contracts.alerts import DASHBOARD_SLOS
from contracts.durations import format_duration
from contracts.metrics import MetricSpec
from contracts.promql import Re, Series, selector
from dashboards.layout import Board, Query, Threshold
from slo import conventions as c
from slo import windows

__all__ = ["UID", "slos"]

UID: Final = "tidewatch-slos"
_SLO: Final = Re("$slo")
_IDS: Final = (c.LABEL_ID, c.LABEL_SERVICE, c.LABEL_SLO)
_DAYS: Final = Series(c.RULE_TIME_PERIOD_DAYS, _IDS)


def _sel(spec: MetricSpec | Series) -> str:
    return selector(spec, sloth_id=_SLO)


def _no_window(spec: MetricSpec | Series) -> str:
    """The period rules keep the ``sloth_window`` label of the period ratio they divide
    (as Sloth's do); drop it so they match the metadata rules one to one."""
    return f"max without ({c.LABEL_WINDOW}) ({_sel(spec)})"


def _window_ratio(window: str) -> str:
    spec = Series(c.sli_error_ratio_rule(window), (*_IDS, c.LABEL_WINDOW))
    return f"max without ({c.LABEL_WINDOW}) ({_sel(spec)})"


def _burn(window: str) -> str:
    return f"({_window_ratio(window)} / {_sel(c.METRIC_ERROR_BUDGET)})"


def _thresholds() -> list[Query]:
    out = []
    for cond in windows.load().conditions:
        long_w, short_w = format_duration(cond.long_seconds), format_duration(cond.short_seconds)
        share = cond.budget_percent / 100
        expr = f"{_sel(_DAYS)} * {86_400 * share / cond.long_seconds!r}"
        out.append(Query(expr, f"{cond.severity} threshold ({long_w}/{short_w})"))
    return out


def slos() -> Board:
    board = Board(
        UID,
        DASHBOARD_SLOS,
        "Per SLO: error budget remaining, time to exhaustion, SLI against objective, and "
        "burn rate per window with the page and ticket thresholds.",
        ["slo"],
    )
    objective = selector(c.METRIC_OBJECTIVE, sloth_service=Re("$service"))
    board.variable("service", "Service", f"label_values({c.RULE_OBJECTIVE}, {c.LABEL_SERVICE})")
    board.variable("slo", "SLO", f"label_values({objective}, {c.LABEL_ID})")
    board.row("SLO $slo", repeat="slo")
    remaining = _no_window(c.METRIC_PERIOD_BUDGET_REMAINING)
    board.stat(
        "Error budget remaining",
        "Share of the period's error budget left (event-weighted; below 0 = SLO broken).",
        [Query(remaining, "{{sloth_slo}}")],
        "percentunit",
        thresholds=[Threshold(0, "orange"), Threshold(0.25, "green")],
        base_color="red",
    )
    days = _sel(_DAYS)
    exhaustion = f"clamp_min({remaining}, 0) * {days} * 86400 / {_burn(c.EXHAUSTION_WINDOW)}"
    board.stat(
        "Time to exhaustion",
        "Time until the remaining budget is spent at the current 1h burn rate (infinite "
        "when not burning).",
        [Query(exhaustion, "{{sloth_slo}}")],
        "s",
        thresholds=[Threshold(86_400, "orange"), Threshold(7 * 86_400, "green")],
        base_color="red",
    )
    board.timeseries(
        "SLI against objective",
        "Good ratio over 5 minutes and over the whole period, against the objective.",
        [
            Query(f"1 - {_window_ratio(c.CURRENT_WINDOW)}", "SLI (5m)"),
            Query(
                f"1 - {_no_window(c.METRIC_PERIOD_BURN_RATE)} * {_sel(c.METRIC_ERROR_BUDGET)}",
                "SLI (period)",
            ),
            Query(_sel(c.METRIC_OBJECTIVE), "objective"),
        ],
        "percentunit",
        min_value=None,
    )
    board.timeseries(
        "Burn rate per window",
        "Error ratio over each window divided by the error budget (1 = on track to spend "
        "exactly the budget). An alert fires when both windows of a pair exceed its line.",
        [Query(_burn(w), f"burn {w}") for w in c.ALERT_WINDOWS] + _thresholds(),
        "none",
        width=24,
    )
    return board
