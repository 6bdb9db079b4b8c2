"""Leader changes of probe partitions and the reason of a failed produce attempt."""

from __future__ import annotations

import pytest

from synthetics.leaders import LeaderChange, LeaderWatch, ProduceFailure, failure_reason


def test_the_first_leader_seen_is_a_baseline_not_a_change() -> None:
    watch = LeaderWatch()
    assert watch.observe(0, 1, 10) is None
    assert watch.observe(0, 1, 20) is None
    assert (watch.recent, watch.changes) == ((), {})


def test_a_partition_without_leader_between_two_leaders_is_one_change() -> None:
    watch = LeaderWatch()
    watch.observe(0, 1, 10)
    assert watch.observe(0, None, 20) is None
    assert watch.observe(0, -1, 30) is None
    assert watch.observe(0, 2, 40) == LeaderChange(0, 1, 2, 40)
    assert watch.observe(1, 3, 50) is None
    assert (watch.recent, watch.changes) == ((LeaderChange(0, 1, 2, 40),), {0: 1})


def test_only_the_most_recent_changes_are_remembered() -> None:
    watch = LeaderWatch(memory=2)
    for at, leader in enumerate([1, 2, 3, 1]):
        watch.observe(0, leader, at)
    assert [c.leader for c in watch.recent] == [3, 1]
    assert watch.changes == {0: 3}


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        pytest.param(ProduceFailure(1, 1, True), "timeout", id="an ack timeout, leader unchanged"),
        pytest.param(ProduceFailure(1, 1, False), "error", id="a client error, leader unchanged"),
        pytest.param(ProduceFailure(1, 2, True), "leader_change", id="the leader moved"),
        pytest.param(ProduceFailure(1, None, True), "leader_change", id="no leader any more"),
        pytest.param(
            ProduceFailure(1, 1, False, not_leader=True),
            "leader_change",
            id="the client said NOT_LEADER",
        ),
        pytest.param(ProduceFailure(None, None, True), "timeout", id="sent with no known leader"),
    ],
)
def test_a_failed_produce_gets_its_reason(failure: ProduceFailure, reason: str) -> None:
    assert failure_reason(failure) == reason
