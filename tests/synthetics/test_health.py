"""Target health for the status endpoint."""

from __future__ import annotations

import pytest

from synthetics.health import HealthInputs, RecentEvents, assess


@pytest.mark.parametrize(
    ("inputs", "state", "reason"),
    [
        pytest.param(
            HealthInputs(started=False, up=False, last_error="connect: refused"),
            "starting",
            "connect: refused",
            id="not connected yet",
        ),
        pytest.param(HealthInputs(started=True, up=True, produce_ok=10), "ok", None, id="all good"),
        pytest.param(
            HealthInputs(started=True, up=False, last_error="timed out"),
            "down",
            "metadata unavailable: timed out",
            id="no metadata",
        ),
        pytest.param(
            HealthInputs(started=True, up=True, produce_failed=3),
            "down",
            "every recent produce failed",
            id="every produce failed",
        ),
        pytest.param(
            HealthInputs(started=True, up=True, produce_ok=2, produce_failed=1),
            "degraded",
            "1 of 3 recent produce attempts failed",
            id="some produce failed",
        ),
        pytest.param(
            HealthInputs(started=True, up=True, produce_ok=2, overdue_partitions=(0, 2)),
            "degraded",
            "partitions 0, 2",
            id="overdue records",
        ),
        pytest.param(
            HealthInputs(started=True, up=True, produce_ok=2, anomalies={"lost": 4}),
            "degraded",
            "4 records lost in the last 5 min",
            id="records lost recently",
        ),
        pytest.param(
            HealthInputs(started=True, up=True, produce_ok=2, uncovered_brokers=(3,)),
            "degraded",
            "leading no probe partition (not measured): 3",
            id="a coverage gap",
        ),
        pytest.param(
            HealthInputs(started=True, up=True, produce_ok=2, failing_brokers=(1,)),
            "degraded",
            "failing the connection check: 1",
            id="a broker failing its check",
        ),
    ],
)
def test_health(inputs: HealthInputs, state: str, reason: str | None) -> None:
    health = assess(inputs)
    assert health.state == state
    if reason is None:
        assert health.reasons == ()
    else:
        assert any(reason in r for r in health.reasons), health.reasons


def test_recent_events_count_only_inside_the_window() -> None:
    recent = RecentEvents(window_seconds=10)
    recent.add("lost", 0.0, 2)
    recent.add("lost", 5.0)
    recent.add("late", 9.0)
    recent.add("late", 9.5, 0)
    assert recent.counts(9.9) == {"lost": 3, "late": 1}
    assert recent.counts(14.0) == {"lost": 1, "late": 1}
    assert recent.counts(30.0) == {}
