"""A fault waits for steady state: it is not injected while an alert it should set off
already fires (that alert would prove nothing), at most ``steady_wait``; later steps wait
with it, and the fault lasts its full ``for`` from when it was really injected."""

from __future__ import annotations

from pathlib import Path

from loadtest.faults.faults import Fault, FaultStack
from loadtest.gameday.observations import AlertInstance
from loadtest.gameday.runner import GameDay
from loadtest.gameday.scenario import FaultStep, parse_scenario
from tests.loadtest.gameday_support import scenario_with

LAG = AlertInstance("Lag", (("group", "billing"),))


class RecordingFault(Fault):
    def __init__(self, step: FaultStep, log: list[str]) -> None:
        super().__init__()
        self.step, self.log = step, log

    def describe(self) -> str:
        return self.step.id

    def _inject(self) -> None:
        self.log.append(f"inject {self.step.id}")

    def _undo(self) -> None:
        self.log.append(f"undo {self.step.id}")


def _game_day(tmp_path: Path, steady_wait: str = "15s") -> tuple[GameDay, list[str]]:
    scenario = parse_scenario("s.yaml", scenario_with("steady_wait", steady_wait))
    game_day = GameDay(scenario, tmp_path)
    log: list[str] = []
    game_day._fault = lambda step: RecordingFault(step, log)  # type: ignore[method-assign]
    return game_day, log


def _run(game_day: GameDay, firing: dict[float, bool], until: float) -> list[float]:
    """Drive the timeline every 0.5 s; ``firing`` says from when Lag fires or not."""
    faults, pending = FaultStack(), list(game_day.scenario.timeline)
    now, state = 0.0, False
    while now <= until:
        state = firing.get(now, state)
        game_day.result.alerts.observe(now, [LAG] if state else [])
        pending = game_day._apply_timeline(now, pending, faults)
        now += 0.5
    return [game_day.result.events[s.id][0] for s in game_day.scenario.timeline]


def test_a_quiet_system_gets_its_faults_on_time(tmp_path: Path) -> None:
    game_day, log = _game_day(tmp_path)
    assert _run(game_day, {}, until=30.0) == [5.0, 20.0]
    assert log == ["inject stop", "undo stop", "inject network-latency-1"]
    assert game_day.result.delays == {}


def test_a_fault_waits_while_the_alert_it_should_set_off_already_fires(tmp_path: Path) -> None:
    game_day, _ = _game_day(tmp_path)
    stop, later = _run(game_day, {0.0: True, 8.0: False}, until=40.0)
    assert stop == 8.0, "injected at the first poll where Lag is quiet"
    assert later == 23.0, "the next step keeps its distance from the held-back one"
    assert game_day.result.delays["stop"] == (3.0, ("Lag",))
    began, undone = game_day.result.events["stop"]
    assert began == 8.0
    assert undone is not None
    assert 18.0 <= undone < 23.0, "it lasts its whole 'for' (plus the moment the undo takes)"


def test_a_fault_goes_ahead_once_steady_wait_is_spent_and_says_why(tmp_path: Path) -> None:
    game_day, log = _game_day(tmp_path, steady_wait="4s")
    stop, _ = _run(game_day, {0.0: True}, until=40.0)
    assert stop == 9.0
    assert game_day.result.delays["stop"] == (4.0, ("Lag",))
    assert log[0] == "inject stop"


def test_steady_wait_zero_keeps_the_plain_schedule(tmp_path: Path) -> None:
    game_day, _ = _game_day(tmp_path, steady_wait="0s")
    assert _run(game_day, {0.0: True}, until=30.0) == [5.0, 20.0]
