"""The bottleneck verdict tells a slow generator from a slow target."""

from __future__ import annotations

from loadtest.bottleneck import judge
from loadtest.collector import IntervalPoint, LatencySummary


def point(cpu: float, target: float = 1000.0) -> IntervalPoint:
    return IntervalPoint(
        0,
        0.0,
        target,
        target,
        target,
        0,
        0,
        {},
        0,
        0,
        {},
        (),
        1.0,
        2.0,
        3.0,
        2.0,
        0.5,
        1.0,
        2.0,
        3.0,
        cpu,
        0.1,
    )


def latency(delay_p99: float, service_p99: float) -> dict[str, LatencySummary]:
    return {
        "send_delay": LatencySummary(1, 0, 0, delay_p99, delay_p99, delay_p99, 0),
        "service": LatencySummary(1, 0, 0, service_p99, service_p99, service_p99, 0),
    }


def verdict(sent: int, cpu: float, delay: float, service: float, queue_full: int = 0):  # type: ignore[no-untyped-def]
    return judge([point(cpu)] * 5, 1000, sent, latency(delay, service), 0, queue_full, sent, {})


def test_a_run_that_kept_its_schedule_has_no_bottleneck() -> None:
    v = verdict(sent=1000, cpu=0.3, delay=2, service=5)
    assert v.bottleneck == "none"


def test_falling_behind_with_a_saturated_generator_blames_the_generator() -> None:
    v = verdict(sent=600, cpu=0.98, delay=900, service=400, queue_full=3)
    assert v.bottleneck == "generator"
    assert any("of a core" in r for r in v.reasons)


def test_falling_behind_while_the_target_answers_quickly_blames_the_generator() -> None:
    v = verdict(sent=800, cpu=0.5, delay=300, service=4)
    assert v.bottleneck == "generator"
    assert any("answered quickly" in r for r in v.reasons)


def test_falling_behind_because_the_target_is_slow_blames_the_target() -> None:
    v = verdict(sent=800, cpu=0.4, delay=300, service=450, queue_full=12)
    assert v.bottleneck == "target"
    assert any("queue full" in r for r in v.reasons)


def test_a_consumer_group_that_fell_behind_on_saturated_processes_is_named() -> None:
    busy = [
        IntervalPoint(0, 0.0, 10, 10, 10, 0, 0, {}, 0, 0, {}, (), 1, 1, 1, 1, 1, 1, 1, 1, 0.2, 0.97)
    ]
    v = judge(busy, 10, 10, latency(1, 1), 0, 0, 1000, {"slow": 10, "fine": 1000})
    assert v.consumer_bottleneck == ("slow",)
