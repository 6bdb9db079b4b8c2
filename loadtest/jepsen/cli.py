"""``tidewatch gameday jepsen``: seeded fault schedules against a three-broker cluster,
then the checker's verdict."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click
from rich.console import Console

from loadtest.jepsen.checker import check
from loadtest.jepsen.history import history_from_json
from loadtest.jepsen.report import anomaly_json, print_report, write_report
from loadtest.jepsen.runner import JepsenCluster, RunConfig, RunResult, run_once
from loadtest.jepsen.schedule import FAULT_KINDS, FaultKind

__all__ = ["jepsen"]


def _kinds(ctx: click.Context, param: click.Parameter, value: str) -> tuple[FaultKind, ...]:
    kinds = tuple(k.strip() for k in value.split(",") if k.strip())
    unknown = [k for k in kinds if k not in FAULT_KINDS]
    if unknown or not kinds:
        raise click.BadParameter(f"choose among {', '.join(FAULT_KINDS)} (got {value!r})")
    return tuple(k for k in FAULT_KINDS if k in kinds)


@click.command(
    name="jepsen",
    short_help="Seeded kill/pause/partition/restart faults on three brokers, then a check.",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the first run.")
@click.option(
    "--runs",
    type=click.IntRange(1, 1000),
    default=1,
    show_default=True,
    help="Runs, with seeds SEED, SEED+1, ... (one cluster; a topic and group per run).",
)
@click.option(
    "--duration",
    "duration_seconds",
    type=click.FloatRange(2, 600),
    default=20.0,
    show_default=True,
    help="Seconds of load and faults per run (healing and checking come after).",
)
@click.option("--max-faults", type=click.IntRange(0, 100), default=6, show_default=True)
@click.option(
    "--faults",
    "kinds",
    default=",".join(FAULT_KINDS),
    show_default=True,
    callback=_kinds,
    help="Fault kinds to draw from, comma-separated.",
)
@click.option(
    "--writes",
    "writes_per_producer",
    type=click.IntRange(1, 100_000),
    default=200,
    show_default=True,
    help="Writes per producer per run (2 producers, 2 consumers in a group).",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("jepsen"),
    show_default=True,
    help="Directory for report.json, the histories and (kept when a run fails) the cluster.",
)
@click.option(
    "--check",
    "history_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Check a saved history-SEED.json again instead of running anything.",
)
def jepsen(
    seed: int,
    runs: int,
    duration_seconds: float,
    max_faults: int,
    kinds: tuple[FaultKind, ...],
    writes_per_producer: int,
    out: Path,
    history_file: Path | None,
) -> None:
    """Jepsen-style runs: idempotent acks=all producers and a consumer group against a
    three-broker cluster while a seeded schedule kills (SIGKILL), pauses (SIGSTOP),
    partitions (fault proxies) and restarts (SIGTERM) brokers one at a time; then every
    fault is healed, the topic and each broker's replica files are read back, and the
    history is checked: acknowledged writes present exactly once, replicas agreeing
    below the high watermark, consumers reading in order, committed offsets never going
    backwards. The schedule of a seed is the same on every machine (printed before each
    run); the timing around it is not. Exit status 1 when a run found an anomaly or
    could not complete."""
    console = Console(stderr=True)
    if history_file is not None:
        _recheck(history_file, console)
        return
    configs = [
        RunConfig(
            seed=s,
            duration_seconds=duration_seconds,
            max_faults=max_faults,
            kinds=kinds,
            writes_per_producer=writes_per_producer,
        )
        for s in range(seed, seed + runs)
    ]
    results = _run_all(configs, out / "cluster", console)
    report_path = write_report(results, out)
    print_report(json.loads(report_path.read_text(encoding="utf-8")), console)
    console.print(f"report: {report_path}")
    if not all(r.passed for r in results):
        raise click.ClickException(
            f"{sum(1 for r in results if not r.passed)} of {len(results)} run(s) failed; "
            f"cluster data kept in {out / 'cluster'}"
        )
    shutil.rmtree(out / "cluster", ignore_errors=True)


def _run_all(configs: list[RunConfig], base_dir: Path, console: Console) -> list[RunResult]:
    shutil.rmtree(base_dir, ignore_errors=True)
    results = []
    with JepsenCluster(base_dir) as cluster:
        for config in configs:
            console.print(f"[bold]{config.schedule().describe()}[/]", highlight=False)
            result = run_once(cluster, config, lambda line: console.print(line, highlight=False))
            verdict = "ok" if result.passed else "FAILED"
            console.print(
                f"seed {config.seed}: {verdict}, {len(result.anomalies)} anomalies, "
                f"{result.wall_seconds:.1f} s",
                highlight=False,
            )
            results.append(result)
    return results


def _recheck(history_file: Path, console: Console) -> None:
    history = history_from_json(json.loads(history_file.read_text(encoding="utf-8")))
    anomalies = check(history)
    for anomaly in anomalies:
        console.print_json(data=anomaly_json(anomaly))
    click.echo(f"{history_file}: {len(anomalies)} anomalies")
    if anomalies:
        raise click.ClickException(f"{len(anomalies)} anomalies in {history_file}")
