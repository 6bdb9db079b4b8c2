"""Differential test: the in-process engine and Prometheus (promtool evaluating the
generated rules) take the same page and ticket decisions on the same series.

The engine is run first over the whole series; promtool then checks the engine's
decision at every step where that decision is stable over the neighbouring steps (one
evaluation step of tolerance at each transition). Any step where Prometheus disagrees
fails the promtool run and is printed. Each transition of the engine is surrounded by
checked steps, so a shift of more than one step in either direction cannot pass.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.slo.support import (
    CounterSeries,
    alert_test,
    api_slo,
    input_series,
    needs_promtool,
    promtool_test_file,
    run_engine,
)
from tests.slo.support import run_promtool_test as run_promtool

DAY = 86_400
_REMAINING_LABELS = (
    "slo:period_error_budget_remaining:ratio"
    '{sloth_id="api-requests", sloth_service="api", sloth_slo="requests", sloth_window="30d"}'
)


def _bursts(seed: int, steps: int) -> Callable[[int], float]:
    """Random incidents: a few bursts of 0.2%..30% errors of random length."""
    rng = np.random.default_rng(seed)
    ratios = np.zeros(steps + 1)
    for _ in range(6):
        start = int(rng.integers(steps // 3, steps))
        length = int(rng.integers(2, 200))
        ratios[start : start + length] = rng.choice([0.002, 0.005, 0.01, 0.03, 0.1, 0.3])
    return lambda i: float(ratios[i])


def _uneven_traffic(seed: int) -> Callable[[int], int]:
    rng = np.random.default_rng(seed)
    volumes = rng.integers(200, 5000, size=100_000)
    return lambda i: int(volumes[i])


CASES = [
    # (id, step seconds, steps, events per step, error ratio, bad counter absent while 0)
    (
        "fast_burn_then_recovery_5m_steps",
        300,
        5 * 288,
        1000,
        lambda i: 0.05 if 900 < i <= 960 else 0.0,
        False,
    ),
    ("slow_burn_5m_steps", 300, 6 * 288, 1000, lambda i: 0.004 if i > 864 else 0.0, False),
    (
        "random_bursts_uneven_traffic_5m_steps",
        300,
        6 * 288,
        _uneven_traffic(1),
        _bursts(7, 1728),
        False,
    ),
    (
        "random_bursts_1m_steps_interpolated_long_windows",
        60,
        2 * 1440,
        _uneven_traffic(2),
        _bursts(11, 2880),
        False,
    ),
    # The error counter has no series until the first error (a counter labelled by
    # error code): the engine counts the absent side as 0 and the rules fall back to 0.
    (
        "fast_burn_with_no_error_series_before_the_first_error_5m_steps",
        300,
        5 * 288,
        1000,
        lambda i: 0.05 if 900 < i <= 960 else 0.0,
        True,
    ),
    (
        "random_bursts_with_no_error_series_before_the_first_error_5m_steps",
        300,
        6 * 288,
        _uneven_traffic(3),
        _bursts(5, 1728),
        True,
    ),
]


def _checked_steps(decisions: np.ndarray) -> list[int]:
    """Steps whose decision equals both neighbours' (the one-step tolerance)."""
    stable = (decisions[1:-1] == decisions[:-2]).all(axis=1) & (
        decisions[1:-1] == decisions[2:]
    ).all(axis=1)
    return [int(i) + 1 for i in np.flatnonzero(stable)]


@needs_promtool
@pytest.mark.slow
@pytest.mark.parametrize(
    ("step_seconds", "steps", "events", "error_ratio", "bad_absent"),
    [pytest.param(*c[1:], id=c[0]) for c in CASES],
)
def test_engine_and_prometheus_agree_on_page_and_ticket(
    tmp_path: Path,
    step_seconds: int,
    steps: int,
    events: int | Callable[[int], int],
    error_ratio: Callable[[int], float],
    bad_absent: bool,
) -> None:
    slo = api_slo()
    series = CounterSeries.build(
        steps, step_seconds, events, error_ratio, bad_absent_until_first_error=bad_absent
    )
    if bad_absent:
        assert np.isnan(series.errors[: steps // 3]).all(), "the error series must start absent"
    evaluations = run_engine(slo, series)
    decisions = np.array([[e.page[0], e.ticket[0]] for e in evaluations])
    assert decisions[:, 0].any() or decisions[:, 1].any(), "scenario never alerts: useless"
    checked = _checked_steps(decisions)
    assert len(checked) > 0.9 * steps
    minutes = step_seconds // 60
    tests = [
        alert_test(slo, i * minutes, bool(decisions[i, 0]), bool(decisions[i, 1])) for i in checked
    ]
    expr_tests = []
    if bad_absent:
        # Before the first error both measure the SLO (the whole budget left), not a gap.
        healthy = int(np.flatnonzero(~np.isnan(series.errors))[0]) - 1
        assert evaluations[healthy].budget_remaining[0] == 1.0
        assert evaluations[healthy].coverage[0, 0] == 1.0
        expr_tests.append(
            {
                "expr": "slo:period_error_budget_remaining:ratio",
                "eval_time": f"{healthy * minutes}m",
                "exp_samples": [{"labels": _REMAINING_LABELS, "value": 1}],
            }
        )
    test_file = promtool_test_file(
        slo,
        [
            {
                "input_series": input_series(series),
                "alert_rule_test": tests,
                "promql_expr_test": expr_tests,
            }
        ],
        interval=f"{minutes}m",
    )
    run_promtool(tmp_path, [slo], test_file)
