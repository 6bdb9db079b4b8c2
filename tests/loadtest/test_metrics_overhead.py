"""loadtest.metrics_overhead: the summary arithmetic and the command line (no timing:
the measurement itself is run by hand and reported)."""

from __future__ import annotations

import pytest

from loadtest.metrics_overhead import Run, main, summarize


def test_the_summary_gives_medians_of_each_setting_and_their_ratio() -> None:
    runs = [
        Run("produce 1 KiB", True, 1000, seconds, cpu)
        for seconds, cpu in ((1.0, 0.001), (2.0, 0.002), (4.0, 0.003))
    ] + [
        Run("produce 1 KiB", False, 1000, seconds, cpu)
        for seconds, cpu in ((0.5, 0.001), (1.0, 0.001), (10.0, 0.004))
    ]
    (row,) = summarize(runs)
    assert row["metrics_on_per_second"] == 500
    assert row["metrics_off_per_second"] == 1000
    assert row["on_over_off_ratio"] == 0.5
    assert row["broker_cpu_us_per_message_on"] == 2.0
    assert row["broker_cpu_us_per_message_off"] == 1.0


def test_a_workload_measured_with_only_one_setting_is_left_out() -> None:
    assert summarize([Run("produce 1 KiB", True, 10, 1.0, 0.0)]) == []


def test_nonsense_arguments_are_refused_with_a_reason(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["--rounds", "0"])
    assert refused.value.code != 0
    assert "must be positive" in capsys.readouterr().err
