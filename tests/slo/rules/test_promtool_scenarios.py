"""promtool unit tests of the generated rules, with expectations worked out by hand.

Series: 1000 events per 5-minute step, objective 99.9% (budget 0.001), 30d period,
so the thresholds are 14.4x = 0.0144, 6x = 0.006, 3x = 0.003 and 1x = 0.001 (a hair
less, in fact: 1 - 99.9/100 is 0.00099999999999989 in binary floating point, in
Prometheus as in the engine, so the cases below stay clear of exact equality). Three
clean days come first so that no window is shorter than its nominal length. "Step k"
is the sample at minute 5k; a window of n steps at step t covers steps t-n+1..t.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from slo.rules import generate
from tests.slo.support import (
    CounterSeries,
    alert_test,
    api_slo,
    input_series,
    needs_promtool,
    promtool_test_file,
    run_promtool_test,
)

CLEAN_STEPS = 864  # 3 days of 5-minute steps
STEP_MINUTES = 5


def _fast_burn(i: int) -> float:
    # 2% errors (burn rate 20) during steps 865..924 (5 hours), then clean again.
    return 0.02 if CLEAN_STEPS < i <= CLEAN_STEPS + 60 else 0.0


def _slow_burn(i: int) -> float:
    # 0.5% errors (burn rate 5) from step 865 on.
    return 0.005 if i > CLEAN_STEPS else 0.0


# (case id, steps, error ratio per step, [(step, page fires, ticket fires)])
SCENARIOS = [
    (
        "clean_series_never_alerts",
        CLEAN_STEPS + 12,
        lambda i: 0.0,
        [(12, False, False), (288, False, False), (CLEAN_STEPS + 11, False, False)],
    ),
    (
        # 1h (12 steps) ratio 0.02*j/12 > 0.0144 needs j >= 9 bad steps: page at step 873.
        # 1d (288 steps) ratio 0.02*j/288 > 0.003 needs j >= 44: ticket at step 908.
        "fast_burn_pages_after_45_minutes_and_tickets_after_220",
        CLEAN_STEPS + 100,
        _fast_burn,
        [(872, False, False), (873, True, False), (907, True, False), (908, True, True)],
    ),
    (
        # Errors stop after step 924. The 14.4x pair ends at 925 (5m window clean) but the
        # 6x pair holds while the 30m window (6 steps) has j bad steps with 0.02*j/6 > 0.006,
        # j >= 2: until step 928. Ticket 3x: 2h window (24 steps) needs j >= 4: until 944;
        # ticket 1x: 6h window (72 steps) needs j >= 4: until 992 (3d ratio 1200/864000).
        "fast_burn_recovers_page_first_then_ticket",
        CLEAN_STEPS + 140,
        _fast_burn,
        [(928, True, True), (929, False, True), (992, False, True), (993, False, False)],
    ),
    (
        # 0.5% never reaches 6x (0.006): no page. 1d ratio 0.005*j/288 > 0.003 and 3d ratio
        # 0.005*j/864 > 0.001 both need j >= 173 bad steps: ticket at step 1037 (14h25m).
        "slow_burn_tickets_after_14_hours_and_never_pages",
        CLEAN_STEPS + 300,
        _slow_burn,
        [(1000, False, False), (1036, False, False), (1037, False, True), (1163, False, True)],
    ),
]


@needs_promtool
@pytest.mark.slow
@pytest.mark.parametrize(
    ("steps", "error_ratio", "expectations"),
    [pytest.param(s, f, e, id=name) for name, s, f, e in SCENARIOS],
)
def test_generated_alerts_fire_exactly_when_worked_out_by_hand(
    tmp_path: Path, steps: int, error_ratio: object, expectations: list[tuple[int, bool, bool]]
) -> None:
    slo = api_slo()
    series = CounterSeries.build(steps, STEP_MINUTES * 60, 1000, error_ratio)  # type: ignore[arg-type]
    tests = [
        alert_test(slo, step * STEP_MINUTES, page, ticket) for step, page, ticket in expectations
    ]
    test_file = promtool_test_file(
        slo, [{"input_series": input_series(series), "alert_rule_test": tests}], interval="5m"
    )
    run_promtool_test(tmp_path, [slo], test_file)


@needs_promtool
@pytest.mark.slow
def test_period_budget_rule_is_event_weighted_and_matches_the_engine(tmp_path: Path) -> None:
    # 7d SLO at 99% (budget 0.01), 8 days of 5m steps. Day 5 has a 12h incident at 5%
    # errors with ten times the usual traffic. Event-weighted: 0.05 * 14400 bad of
    # 2016 - 144 + 1440 = 3312 (x100) events, ratio 0.0217, remaining -1.17. An average
    # of 5m ratios (Sloth) would say 0.05 * 144 / 2016 = 0.0036, remaining +0.64.
    from slo.spec import load_text
    from tests.slo.support import API_SPEC, run_engine

    (slo,) = load_text(
        API_SPEC.replace("objective: 99.9", "objective: 99").replace("30d", "7d"), "api.yaml"
    )
    steps = 8 * 288
    incident = range(5 * 288, 5 * 288 + 144)
    series = CounterSeries.build(
        steps,
        STEP_MINUTES * 60,
        lambda i: 1000 if i in incident else 100,
        lambda i: 0.05 if i in incident else 0.0,
    )
    engine_remaining = run_engine(slo, series)[-1].budget_remaining[0]
    assert engine_remaining == pytest.approx(1 - (7200 / 331_200) / 0.01, rel=1e-9)
    expected = round(float(engine_remaining), 2)
    labels = (
        '{sloth_id="api-requests", sloth_service="api", sloth_slo="requests", sloth_window="7d"}'
    )
    test = {
        "input_series": input_series(series),
        "promql_expr_test": [
            {
                "expr": "round(slo:period_error_budget_remaining:ratio, 0.01)",
                "eval_time": f"{(steps - 1) * STEP_MINUTES}m",
                "exp_samples": [{"labels": labels, "value": expected}],
            }
        ],
    }
    run_promtool_test(tmp_path, [slo], promtool_test_file(slo, [test], interval="5m"))


@needs_promtool
def test_no_data_alert_fires_ten_minutes_after_the_sli_disappears(tmp_path: Path) -> None:
    # Samples every minute until minute 60. rate(x[5m]) needs two samples, so the 5m
    # ratio is last recorded at minute 64; absent_over_time(...[10m]) holds from 75.
    from slo.alerts import expand_templates, no_data_alert_name
    from slo.spec import load_text
    from tests.slo.support import API_SPEC

    (slo,) = load_text(API_SPEC.replace("no_data: false", "no_data: 10m"), "api.yaml")
    rule = next(
        r
        for g in generate([slo])["groups"]
        for r in g["rules"]
        if r.get("alert") == no_data_alert_name(slo)
    )
    labels = {"alertname": rule["alert"], **rule["labels"]}
    firing = [
        {
            "exp_labels": rule["labels"],
            "exp_annotations": {
                k: expand_templates(v, labels) for k, v in rule["annotations"].items()
            },
        }
    ]
    series = [
        {"series": 'errors_total{job="api"}', "values": "0+1x60"},
        {"series": 'requests_total{job="api"}', "values": "0+100x60"},
    ]
    tests = [
        {"eval_time": f"{m}m", "alertname": rule["alert"], "exp_alerts": firing if on else []}
        for m, on in ((30, False), (74, False), (75, True), (90, True))
    ]
    test_file = promtool_test_file(slo, [{"input_series": series, "alert_rule_test": tests}])
    run_promtool_test(tmp_path, [slo], test_file)


def _no_errors_then(burn: str) -> object:
    return _fast_burn if burn == "fast" else _slow_burn


@needs_promtool
@pytest.mark.slow
@pytest.mark.parametrize(
    ("burn", "expectations"),
    [
        pytest.param(
            "fast",
            [(872, False, False), (873, True, False), (907, True, False), (908, True, True)],
            id="fast_burn_pages_and_tickets_at_the_same_steps",
        ),
        pytest.param(
            "slow",
            [(1036, False, False), (1037, False, True), (1163, False, True)],
            id="slow_burn_tickets_at_the_same_step",
        ),
    ],
)
def test_a_bad_counter_that_does_not_exist_yet_reads_as_no_errors_then_alerts_as_before(
    tmp_path: Path, burn: str, expectations: list[tuple[int, bool, bool]]
) -> None:
    # The error counter has no series for three days (a counter labelled by error code
    # before its first error) and appears with the first errors at step 865. While it is
    # absent the SLI is measured as all good: error ratio 0, budget 100%, no alert and no
    # no-data alert. Once errors start, page and ticket fire at the steps worked out for
    # a counter that existed from the start (SCENARIOS above): Prometheus's rate()
    # extrapolates a new counter back to its zero point, so the first errors count.
    from slo.alerts import no_data_alert_name
    from slo.spec import load_text
    from tests.slo.support import API_SPEC

    (slo,) = load_text(API_SPEC.replace("no_data: false", "no_data: 10m"), "api.yaml")
    series = CounterSeries.build(
        CLEAN_STEPS + 300,
        STEP_MINUTES * 60,
        1000,
        _no_errors_then(burn),  # type: ignore[arg-type]
        bad_absent_until_first_error=True,
    )
    assert np.isnan(series.errors[: CLEAN_STEPS + 1]).all()
    assert not np.isnan(series.errors[CLEAN_STEPS + 1 :]).any()
    healthy = [2, 12, 288, CLEAN_STEPS]
    alert_tests = [alert_test(slo, step * STEP_MINUTES, False, False) for step in healthy]
    alert_tests += [
        alert_test(slo, step * STEP_MINUTES, page, ticket) for step, page, ticket in expectations
    ]
    alert_tests += [
        {
            "eval_time": f"{step * STEP_MINUTES}m",
            "alertname": no_data_alert_name(slo),
            "exp_alerts": [],
        }
        for step in (*healthy, *(e[0] for e in expectations))
    ]
    ids = 'sloth_id="api-requests", sloth_service="api", sloth_slo="requests"'
    expr_tests = []
    for step in healthy:
        windows = ("5m", "1h") if step < 288 else ("5m", "1h", "1d", "30d")
        # (record, its labels besides the SLO's ids, expected value)
        expected = [(f"slo:sli_error:ratio_rate{w}", f'sloth_window="{w}"', 0) for w in windows]
        expected += [
            ("tidewatch_slo:sli_error_events:rate5m", "", 0),
            ("slo:current_burn_rate:ratio", 'sloth_window="5m"', 0),
            ("slo:period_error_budget_remaining:ratio", 'sloth_window="30d"', 1),
        ]
        for record, extra, value in expected:
            labels = ", ".join(x for x in (ids, extra) if x)
            expr_tests.append(
                {
                    "expr": record,
                    "eval_time": f"{step * STEP_MINUTES}m",
                    "exp_samples": [{"labels": f"{record}{{{labels}}}", "value": value}],
                }
            )
    test_file = promtool_test_file(
        slo,
        [
            {
                "input_series": input_series(series),
                "alert_rule_test": alert_tests,
                "promql_expr_test": expr_tests,
            }
        ],
        interval="5m",
    )
    run_promtool_test(tmp_path, [slo], test_file)
