"""``tidewatch gameday run SCENARIO.yaml``, ``tidewatch gameday validate`` and
``tidewatch gameday jepsen`` (:mod:`loadtest.jepsen.cli`)."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path

import click
from rich.console import Console

from contracts.fields import ConfigError
from loadtest.gameday.runner import GameDay, GameDayResult
from loadtest.gameday.scenario import EVALUATORS, Scenario, load_scenario
from loadtest.gameday.scorecard import print_scorecard, write_scorecard
from loadtest.jepsen.cli import jepsen
from loadtest.progress import LiveProgress

__all__ = ["gameday"]


@click.group(name="gameday")
def gameday() -> None:
    """Game days: steady load, faults on a timeline, asserted outcomes, a scorecard."""


gameday.add_command(jepsen)


@gameday.command()
@click.argument(
    "scenarios", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path)
)
def validate(scenarios: tuple[Path, ...]) -> None:
    """Check scenario files; print a summary of each, or FILE: FIELD: REASON."""
    for path in scenarios:
        try:
            s = load_scenario(path)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        faults = ", ".join(f"{x.kind}@{x.at_seconds:g}s" for x in s.timeline) or "no faults"
        expectations = len(s.expect_alerts) + len(s.expect_silent) + len(s.expect_slos)
        expectations += int(s.expect_no_page)
        where = f"{s.brokers} brokers, " if s.brokers > 1 else ""
        others = len(s.expect_audit) + (s.expect_replication is not None)
        others += s.expect_client_errors is not None
        extra = f", {others} replication/audit/client expectations" if others else ""
        click.echo(
            f"{path}: {s.name}: {where}{s.duration_seconds:g} s at {s.time_scale:g}x, "
            f"{faults}, {expectations} alert/SLO expectations{extra}"
        )


@gameday.command()
@click.argument("scenario_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the scorecard, reports and logs [default: gameday-NAME].",
)
@click.option(
    "--evaluator",
    type=click.Choice(EVALUATORS),
    help="Where alerts are evaluated [default: the scenario's, auto = Prometheus if installed].",
)
@click.option("--time-scale", type=click.FloatRange(1, 3600), help="Override the compression.")
@click.option("--progress/--no-progress", default=True, help="Live progress display.")
def run(
    scenario_file: Path,
    out: Path | None,
    evaluator: str | None,
    time_scale: float | None,
    progress: bool,
) -> None:
    """Run a game-day scenario and print its scorecard (exit 1 if an expectation missed)."""
    console = Console(stderr=True)
    try:
        scenario = load_scenario(scenario_file)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if evaluator is not None:
        scenario = replace(scenario, alerts=replace(scenario.alerts, evaluator=evaluator))
    if time_scale is not None:
        scenario = replace(scenario, time_scale=time_scale)
    workdir = out or Path(f"gameday-{scenario.name}")
    result = _run(scenario, workdir, console, progress)
    card = write_scorecard(result, workdir)
    print_scorecard(card, console)
    if not result.passed and result.skipped is None:
        missed = card["summary"]["missed"]
        raise click.ClickException(
            f"game day {scenario.name} failed: {missed} expectation(s) missed, "
            f"{len(result.errors)} error(s)"
        )


def _run(scenario: Scenario, workdir: Path, console: Console, progress: bool) -> GameDayResult:
    holder: dict[str, GameDay] = {}

    def extra() -> str:
        day = holder.get("day")
        if day is None:
            return ""
        faults = ", ".join(day.active_faults()) or "none"
        firing = sorted(day.result.alerts.firing_names())
        return f"faults: {faults} | firing: {', '.join(firing) or 'none'}"

    with contextlib.ExitStack() as stack:
        callback = None
        if progress:
            display = stack.enter_context(
                LiveProgress(scenario.duration_seconds, console, extra=extra)
            )
            callback = display.update
        day = GameDay(scenario, workdir, on_point=callback)
        holder["day"] = day
        return day.run()
