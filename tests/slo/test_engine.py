"""The in-process engine: budgets, gaps, calendar windows, time slices, exhaustion."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slo.engine import Engine, calendar_period_start
from slo.model import CalendarWindow
from slo.spec import load_text

HOUR = 3_600
DAY = 86_400


def _slo(objective: float = 99.9, window: str = "30d", extra: str = "") -> str:
    return f"""
version: tidewatch/v1
service: svc
slos:
  - name: ok
    objective: {objective!r}
    window: {window}
    sli:
      events: {{bad: bad_total, total: all_total}}
{extra}
"""


def _engine(text: str, step: int) -> Engine:
    return Engine(load_text(text, "t.yaml"), step_seconds=step)


def _feed(engine: Engine, start: int, bad: list[float], total: list[float]) -> None:
    step = engine.step_seconds
    for i, (b, t) in enumerate(zip(bad, total, strict=True)):
        engine.record(start + i * step, np.array([b]), np.array([t]), np.array([True]))


@settings(max_examples=25, deadline=None)
@given(
    objective=st.floats(min_value=90.0, max_value=99.99),
    period_days=st.sampled_from([1, 7, 28, 30]),
    events=st.floats(min_value=1.0, max_value=1e6),
)
def test_constant_burn_rate_of_one_consumes_whole_budget(
    objective: float, period_days: int, events: float
) -> None:
    engine = _engine(_slo(objective, f"{period_days}d"), HOUR)
    budget = engine.slos[0].error_budget_ratio
    steps = period_days * 24
    _feed(engine, 0, [events * budget] * steps, [events] * steps)
    result = engine.evaluate()
    assert result.period_burn_rate[0] == pytest.approx(1.0, rel=1e-9)
    assert result.budget_remaining[0] == pytest.approx(0.0, abs=1e-9)


@settings(max_examples=25, deadline=None)
@given(
    volumes=st.lists(st.floats(min_value=0.0, max_value=1e5), min_size=168, max_size=168),
    where=st.integers(min_value=0, max_value=167),
)
def test_errors_adding_up_to_the_budget_spend_it_exactly_whatever_the_traffic_shape(
    volumes: list[float], where: int
) -> None:
    # Event-weighted: all the period's allowed errors in one hour spend the whole budget,
    # even when traffic is very uneven (an average of per-step ratios would not).
    engine = _engine(_slo(99.0, "7d"), HOUR)
    if sum(volumes) == 0:
        volumes[where] = 1.0
    bad = [0.0] * len(volumes)
    total_budget = sum(volumes) * engine.slos[0].error_budget_ratio
    bad[where] = total_budget
    volumes[where] = max(volumes[where], total_budget)
    _feed(engine, 0, bad, volumes)
    result = engine.evaluate()
    expected = 1 - total_budget / sum(volumes) / engine.slos[0].error_budget_ratio
    assert result.budget_remaining[0] == pytest.approx(expected, abs=1e-9)


def test_a_gap_is_reported_and_counts_as_neither_good_nor_bad() -> None:
    engine = _engine(_slo(), 60)
    step = 60
    for i in range(120):
        has = not 80 <= i < 110  # half of the last hour without data
        engine.record(i * step, np.array([1.0]), np.array([100.0]), np.array([has]))
    result = engine.evaluate()
    one_hour = list(result.window_seconds[0]).index(HOUR)
    assert result.total[0, one_hour] == pytest.approx(30 * 100.0)
    assert result.error_ratio[0, one_hour] == pytest.approx(0.01)
    assert result.coverage[0, one_hour] == pytest.approx(30 / 60)


def test_a_long_gap_raises_the_no_data_state() -> None:
    engine = _engine(_slo(), 60)
    _feed(engine, 0, [0.0] * 5, [10.0] * 5)
    for i in range(5, 16):
        engine.record(i * 60, np.array([0.0]), np.array([0.0]), np.array([False]))
        assert engine.evaluate().no_data[0] == (i * 60 - 4 * 60 >= 600)


def test_calendar_month_period_starts_on_the_first_of_the_month_in_its_time_zone() -> None:
    t = int(datetime(2026, 3, 15, 12, tzinfo=UTC).timestamp())
    start = calendar_period_start(t, CalendarWindow("month", "UTC"))
    assert start == int(datetime(2026, 3, 1, tzinfo=UTC).timestamp())
    week = calendar_period_start(t, CalendarWindow("week", "UTC"))
    assert datetime.fromtimestamp(week, UTC) == datetime(2026, 3, 9, tzinfo=UTC)  # a Monday


def test_calendar_budget_forgets_errors_of_the_previous_month() -> None:
    engine = _engine(_slo(window="{calendar: month}"), HOUR)
    start = int(datetime(2026, 2, 27, tzinfo=UTC).timestamp())
    # Two days of 1% errors in February, then clean hours in March.
    _feed(engine, start, [1.0] * 48 + [0.0] * 12, [100.0] * 60)
    result = engine.evaluate()
    # The step at 00:00 closes the last February hour; March has the 11 after it.
    assert result.window_seconds[0, -1] == 11 * HOUR
    assert result.budget_remaining[0] == pytest.approx(1.0)


def test_time_to_exhaustion_is_remaining_budget_over_the_one_hour_burn() -> None:
    engine = _engine(_slo(), 60)
    # 10 hours clean then 1 hour at burn rate 10 (1% errors).
    _feed(engine, 0, [0.0] * 600 + [10.0] * 60, [1000.0] * 660)
    result = engine.evaluate()
    remaining = 1 - (600 / 660_000) / engine.slos[0].error_budget_ratio
    assert result.budget_remaining[0] == pytest.approx(remaining)
    assert result.time_to_exhaustion_seconds[0] == pytest.approx(remaining * 30 * DAY / 10)


def test_history_window_cost_does_not_depend_on_window_length() -> None:
    # The 30d sum is two lookups: answered from the hourly tier, exact on boundaries.
    engine = _engine(_slo(), 60)
    _feed(engine, 0, [1.0] * (3 * 1440), [100.0] * (3 * 1440))
    result = engine.evaluate()
    assert result.total[0, -1] == pytest.approx(3 * 1440 * 100.0)
    assert result.errors[0, list(result.window_seconds[0]).index(DAY)] == pytest.approx(1440)


def test_probe_results_as_time_slices_make_a_minute_bad_when_any_probe_failed() -> None:
    from slo.sampling import Sampler

    text = """
version: tidewatch/v1
service: probe
slos:
  - name: produce
    objective: 99
    budgeting: {timeslices: {slice: 1m, target: 100}}
    sli:
      probe: {success: probe_success_total, total: probe_runs_total}
"""
    slos = load_text(text, "p.yaml")
    engine = Engine(slos, step_seconds=60)
    sampler = Sampler(slos, 60, use_promql=False)
    success_q, total_q = sampler.queries()
    runs = success = 0.0
    for minute in range(60):
        runs += 10
        success += 9 if minute % 10 == 5 else 10  # one failed probe every ten minutes
        engine.record(minute * 60, *sampler.step({success_q: success, total_q: runs}))
    result = engine.evaluate()
    one_hour = list(result.window_seconds[0]).index(HOUR)
    # 59 judged slices (the first step only sets the baseline), 6 of them bad.
    assert result.total[0, one_hour] == 59
    assert result.errors[0, one_hour] == 6
