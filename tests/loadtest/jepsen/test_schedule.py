"""The seeded fault schedule: the same seed gives the same schedule, always bounded."""

from __future__ import annotations

import pytest

from loadtest.jepsen.schedule import FAULT_KINDS, FaultStep, Schedule, plan_schedule


def test_the_same_seed_gives_the_same_schedule() -> None:
    assert plan_schedule(7, 30.0, 6) == plan_schedule(7, 30.0, 6)
    assert plan_schedule(7, 30.0, 6) != plan_schedule(8, 30.0, 6)


def test_a_seed_gives_the_schedule_it_gave_when_it_was_written_down() -> None:
    """Seeds reported with an anomaly must keep meaning the same schedule."""
    assert plan_schedule(1, 10.0, 4).describe() == (
        "seed 1: 4 fault(s) in 10 s\n"
        "    0.63 s  kill broker 2 for 1.35 s\n"
        "    3.63 s  restart broker 3\n"
        "    4.70 s  pause broker 1 for 2.46 s\n"
        "    9.00 s  restart broker 2"
    )


@pytest.mark.parametrize("seed", range(50))
def test_faults_are_bounded_never_overlap_and_heal_within_the_duration(seed: int) -> None:
    schedule = plan_schedule(seed, 20.0, 5)
    assert len(schedule.steps) <= 5
    healed_at = 0.0
    for step in schedule.steps:
        assert step.at_seconds > healed_at
        assert step.kind in FAULT_KINDS and step.node in (1, 2, 3)
        healed_at = step.heal_at_seconds
    assert healed_at <= 20.0


def test_only_the_kinds_and_nodes_asked_for_are_drawn() -> None:
    steps = [s for seed in range(20) for s in plan_schedule(seed, 30.0, 6, (2,), ("pause",)).steps]
    assert steps and {(s.kind, s.node) for s in steps} == {("pause", 2)}


def test_a_restart_is_healed_by_itself() -> None:
    step = FaultStep(1.0, "restart", 3, 0.0)
    assert step.heal_at_seconds == 1.0 and step.action() == "restart broker 3"


def test_no_faults_asked_for_gives_an_empty_schedule() -> None:
    assert plan_schedule(3, 10.0, 0) == Schedule(3, 10.0, ())


@pytest.mark.parametrize(
    ("duration", "faults", "nodes"), [(0.0, 1, (1,)), (10.0, -1, (1,)), (10.0, 1, ())]
)
def test_impossible_bounds_are_refused(duration: float, faults: int, nodes: tuple[int]) -> None:
    with pytest.raises(ValueError):
        plan_schedule(1, duration, faults, nodes)
