"""The SRE workbook's burn-rate tables ("Alerting on SLOs"), reproduced.

Table 5-4 (99.9% SLO, 30-day period): burn rate, error rate and time to exhaust the
budget. Table 5-8: the recommended multiwindow alerts and the budget each one consumes
before it fires. Detection times follow the workbook's formula
``(1 - SLO) / error_ratio * window * burn_rate``; the engine, fed a constant error ratio
after three clean days, must fire at the first evaluation step at or after that time.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from slo.burnrate import (
    budget_fraction_consumed,
    burn_rate_factor,
    detection_time_seconds,
    error_ratio_for_burn_rate,
    time_to_exhaustion_seconds,
)
from slo.engine import Engine
from slo.windows import conditions_for_period, load
from tests.slo.support import api_slo

DAY = 86_400
HOUR = 3_600
PERIOD_30D = 30 * DAY


@pytest.mark.parametrize(
    ("burn_rate", "error_ratio", "exhaustion_seconds"),
    [
        pytest.param(1, 0.001, 30 * DAY, id="burn_1_is_0.1_percent_errors_and_lasts_30_days"),
        pytest.param(2, 0.002, 15 * DAY, id="burn_2_is_0.2_percent_errors_and_lasts_15_days"),
        pytest.param(10, 0.01, 3 * DAY, id="burn_10_is_1_percent_errors_and_lasts_3_days"),
        pytest.param(1000, 1.0, 43.2 * 60, id="burn_1000_is_all_errors_and_lasts_43_minutes"),
    ],
)
def test_workbook_table_of_burn_rate_versus_time_to_exhaustion(
    burn_rate: float, error_ratio: float, exhaustion_seconds: float
) -> None:
    assert error_ratio_for_burn_rate(burn_rate, 0.999) == pytest.approx(error_ratio)
    assert time_to_exhaustion_seconds(burn_rate, PERIOD_30D) == pytest.approx(exhaustion_seconds)


def test_recommended_alerts_match_the_workbook_for_a_30_day_period() -> None:
    rows = [
        (c.severity, c.long_seconds, c.short_seconds, c.factor)
        for c in conditions_for_period(PERIOD_30D)
    ]
    assert rows == [
        ("page", HOUR, 300, 14.4),
        ("page", 6 * HOUR, 1800, 6.0),
        ("ticket", DAY, 2 * HOUR, 3.0),
        ("ticket", 3 * DAY, 6 * HOUR, 1.0),
    ]
    consumed = [
        budget_fraction_consumed(c.factor, c.long_seconds, PERIOD_30D)
        for c in conditions_for_period(PERIOD_30D)
    ]
    assert consumed == pytest.approx([0.02, 0.05, 0.10, 0.10])


@given(
    period_days=st.integers(min_value=1, max_value=400),
    catalog_row=st.integers(min_value=0, max_value=3),
)
def test_threshold_times_window_over_period_equals_the_budget_fraction(
    period_days: int, catalog_row: int
) -> None:
    period = period_days * DAY
    row = load().conditions[catalog_row]
    factor = burn_rate_factor(row.budget_percent / 100, period, row.long_seconds)
    assert factor * row.long_seconds / period == pytest.approx(row.budget_percent / 100, rel=1e-9)
    condition = conditions_for_period(period)[catalog_row]
    assert condition.factor == factor


def _first_firing_after(
    error_ratio: float, severity: str, step: int, clean_steps: int, max_steps: int
) -> float:
    """Feed a constant error ratio after ``clean_steps``; seconds until ``severity`` fires."""
    slo = api_slo()
    engine = Engine([slo], step_seconds=step)
    events = 100_000.0
    for i in range(clean_steps + max_steps):
        bad = events * error_ratio if i >= clean_steps else 0.0
        engine.record(i * step, np.array([bad]), np.array([events]), np.array([True]))
        if i >= clean_steps:
            ev = engine.evaluate()
            if (ev.page if severity == "page" else ev.ticket)[0]:
                return float((i - clean_steps + 1) * step)
    return math.inf


def _workbook_detection(error_ratio: float, severity: str) -> float:
    times = [
        max(
            detection_time_seconds(0.999, error_ratio, c.long_seconds, c.factor),
            detection_time_seconds(0.999, error_ratio, c.short_seconds, c.factor),
        )
        for c in conditions_for_period(PERIOD_30D)
        if c.severity == severity
    ]
    return min(times)


@pytest.mark.parametrize(
    ("error_ratio", "severity", "workbook_seconds"),
    [
        pytest.param(1.0, "page", 0.864 * 60, id="all_errors_page_in_0.864_minutes"),
        pytest.param(0.1, "page", 8.64 * 60, id="10_percent_errors_page_in_8.64_minutes"),
        pytest.param(0.02, "page", 43.2 * 60, id="2_percent_errors_page_in_43.2_minutes"),
        pytest.param(0.007, "page", 6 * HOUR * 6 / 7, id="0.7_percent_errors_page_via_6x_6h"),
        pytest.param(0.0035, "ticket", DAY * 3 / 3.5, id="0.35_percent_errors_ticket_via_3x_1d"),
    ],
)
def test_engine_detects_a_constant_burn_when_the_workbook_says(
    error_ratio: float, severity: str, workbook_seconds: float
) -> None:
    assert _workbook_detection(error_ratio, severity) == pytest.approx(workbook_seconds)
    step = 60
    expected = math.ceil(workbook_seconds / step) * step
    measured = _first_firing_after(error_ratio, severity, step, 3 * 1440, expected // step + 2)
    assert measured == expected


def test_a_burn_below_every_threshold_never_alerts() -> None:
    assert _first_firing_after(0.0009, "ticket", 300, 3 * 288, 3 * 288) == math.inf
