"""Burn-rate arithmetic from the SRE workbook, as pure functions.

A burn rate is the error ratio divided by the error budget (1 - objective): at a burn
rate of 1 the budget lasts exactly the SLO period. Times are in seconds.
"""

from __future__ import annotations

import math

__all__ = [
    "budget_fraction_consumed",
    "burn_rate_factor",
    "detection_time_seconds",
    "error_ratio_for_burn_rate",
    "time_to_exhaustion_seconds",
]


def burn_rate_factor(budget_fraction: float, period_seconds: float, window_seconds: float) -> float:
    """The burn rate that spends ``budget_fraction`` of the budget in ``window_seconds``.

    ``round`` to 10 significant digits keeps 0.02 * 720 == 14.4 exactly as written in
    the workbook (binary floating point would give 14.400000000000002).
    """
    return float(f"{budget_fraction * period_seconds / window_seconds:.10g}")


def budget_fraction_consumed(
    burn_rate: float, window_seconds: float, period_seconds: float
) -> float:
    """Share of the period's budget spent by ``burn_rate`` sustained over a window."""
    return burn_rate * window_seconds / period_seconds


def time_to_exhaustion_seconds(
    burn_rate: float, period_seconds: float, budget_remaining_ratio: float = 1.0
) -> float:
    """How long the remaining budget lasts at a constant burn rate (inf when not burning)."""
    if budget_remaining_ratio <= 0:
        return 0.0
    if not burn_rate > 0:
        return math.inf
    return budget_remaining_ratio * period_seconds / burn_rate


def error_ratio_for_burn_rate(burn_rate: float, objective_ratio: float) -> float:
    return burn_rate * (1 - objective_ratio)


def detection_time_seconds(
    objective_ratio: float, error_ratio: float, window_seconds: float, burn_rate: float
) -> float:
    """Workbook: time for a window alert to fire after errors start at ``error_ratio``.

    ``(1 - SLO) / error_ratio * window * burn_rate``; infinite when the error ratio never
    reaches the alert threshold.
    """
    if error_ratio <= 0 or error_ratio < burn_rate * (1 - objective_ratio):
        return math.inf
    return (1 - objective_ratio) / error_ratio * window_seconds * burn_rate
