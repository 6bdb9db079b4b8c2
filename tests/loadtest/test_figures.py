"""Figure arithmetic: medians, ratios, targets and latency percentiles."""

from __future__ import annotations

import pytest

from loadtest.benchmark.figures import Comparison, Results, Target, latency_summary_ms, rate


def test_figure_value_is_the_median_and_ratio_compares_medians() -> None:
    results = Results(["produce"])
    for value in (100.0, 300.0, 200.0):
        results.add("produce.messages_per_second", "tidewatch", value)
    for value in (50.0, 150.0, 100.0):
        results.add("produce.messages_per_second", "redis", value)
    figure = results.figures["produce.messages_per_second"]
    assert figure.median("tidewatch") == 200.0
    assert figure.ratio == 2.0
    assert figure.met is True


@pytest.mark.parametrize(
    ("target", "value", "ratio", "met"),
    [
        pytest.param(
            Target(Comparison.AT_LEAST, 40_000),
            39_999.0,
            None,
            False,
            id="just below a floor misses",
        ),
        pytest.param(
            Target(Comparison.AT_MOST, 10.0), 10.0, None, True, id="exactly on a ceiling meets it"
        ),
        pytest.param(
            Target(Comparison.RATIO_AT_LEAST, 2.0),
            5.0,
            None,
            None,
            id="a ratio without a peer is undecided",
        ),
    ],
)
def test_targets_compare_as_declared(
    target: Target, value: float, ratio: float | None, met: bool | None
) -> None:
    assert target.met(value, ratio) is met


def test_a_failed_workload_marks_its_figures_and_has_no_verdict() -> None:
    results = Results(["small"])
    results.add("small.requests_per_second", "tidewatch", 50_000)
    results.fail("small", "TimeoutError: too slow")
    figure = results.figures["small.requests_per_second"]
    assert figure.error == "TimeoutError: too slow"
    assert figure.met is None
    assert results.failed == ["small"]


def test_only_selected_workloads_have_figures() -> None:
    assert {k.partition(".")[0] for k in Results(["memory"]).figures} == {"memory"}


def test_latency_summary_reports_milliseconds() -> None:
    summary = latency_summary_ms([i * 1_000_000 for i in range(1, 1001)])  # 1..1000 ms
    assert summary["p50_ms"] == pytest.approx(500.5)
    assert summary["p99_ms"] == pytest.approx(990.01)
    assert summary["max_ms"] == 1000.0


def test_rate_over_no_time_is_refused() -> None:
    with pytest.raises(ValueError, match="0 seconds"):
        rate(10, 0)


def test_best_run_is_the_highest_rate_and_the_lowest_latency() -> None:
    results = Results(["produce", "latency"])
    for value in (3.0, 1.0, 2.0):
        results.add("produce.messages_per_second", "tidewatch", value)
        results.add("latency.p99_ms", "tidewatch", value)
    assert results.figures["produce.messages_per_second"].best("tidewatch") == 3.0
    assert results.figures["latency.p99_ms"].best("tidewatch") == 1.0
