"""``tidewatch load WORKLOAD.yaml``: run a workload, show progress, write the report."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from contracts.fields import ConfigError
from contracts.launcher import BrokerProcess, ProcessStartError
from loadtest.generator import LoadError, LoadGenerator, LoadResult
from loadtest.progress import LiveProgress
from loadtest.report import report_json, write_report
from loadtest.workload import MAX_PROCESSES, Workload, load_workload

__all__ = ["load", "print_summary"]


@contextlib.contextmanager
def embedded_broker(console: Console) -> Iterator[str]:
    """A throwaway broker in a temporary directory, for runs without a bootstrap."""
    with tempfile.TemporaryDirectory(prefix="tidewatch-load-") as tmp:
        broker = BrokerProcess(Path(tmp) / "data")
        broker.start()
        console.print(f"embedded broker at {broker.bootstrap} (data in {tmp}, removed after)")
        try:
            yield broker.bootstrap
        finally:
            broker.stop()


def run_workload(
    workload: Workload,
    bootstrap: str,
    console: Console,
    progress: bool,
    interval: float,
    connect_timeout: float = 10.0,
) -> LoadResult:
    with contextlib.ExitStack() as stack:
        callback = None
        if progress:
            display = stack.enter_context(LiveProgress(workload.duration_seconds, console))
            callback = display.update
        generator = stack.enter_context(
            LoadGenerator(workload, bootstrap, interval, callback, connect_timeout)
        )
        generator.prepare()
        generator.start()
        return generator.run()


def print_summary(result: LoadResult, console: Console) -> None:
    table = Table(title="latency (ms, from the scheduled send time)")
    for column in ("", "count", "p50", "p90", "p99", "p99.9", "max"):
        table.add_column(column, justify="right")
    for name, s in result.latency.items():
        table.add_row(
            escape(name),
            f"{s.count:,}",
            *(f"{v:,.2f}" for v in (s.p50_ms, s.p90_ms, s.p99_ms, s.p999_ms, s.max_ms)),
        )
    console.print(table)
    t = result.throughput()
    totals = result.totals
    console.print(
        f"throughput: target {t['target_per_second']:,.0f}/s, sent {t['sent_per_second']:,.0f}/s "
        f"({t['sent_megabytes_per_second']:,.1f} MB/s), acknowledged "
        f"{t['acked_per_second']:,.0f}/s; failed {totals.get('failed', 0):,}, "
        f"errors {sum(result.errors.values()):,}"
    )
    v = result.verdict
    color = "green" if v.bottleneck == "none" else "red"
    console.print(f"bottleneck: [{color}]{v.bottleneck}[/] - " + "; ".join(v.reasons))
    for a in result.accounts:
        color = "green" if a.lost == 0 else "red"
        console.print(
            f"group {a.group}: acknowledged {a.acknowledged:,}, consumed {a.consumed:,}, "
            f"[{color}]lost {a.lost:,}[/], deleted by retention {a.deleted_by_retention:,}, "
            f"pending {a.pending:,}, duplicates {a.duplicates:,}"
        )
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}")


@click.command(name="load")
@click.argument("workload_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--bootstrap",
    metavar="HOST:PORT[,...]",
    help="Kafka bootstrap servers [default: the workload's; without one, an embedded broker].",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("load-report"),
    show_default=True,
    help="Directory for report.json and report.html.",
)
@click.option(
    "--processes",
    type=click.IntRange(1, MAX_PROCESSES),
    help="Producer processes [default: the workload's, or auto].",
)
@click.option(
    "--interval",
    type=click.FloatRange(0.1, 60),
    default=1.0,
    show_default=True,
    help="Stats interval in seconds (timeline resolution).",
)
@click.option(
    "--connect-timeout",
    type=click.FloatRange(0.5, 600),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the cluster to answer before giving up.",
)
@click.option("--progress/--no-progress", default=True, help="Live progress display.")
def load(
    workload_file: Path,
    bootstrap: str | None,
    out: Path,
    processes: int | None,
    interval: float,
    connect_timeout: float,
    progress: bool,
) -> None:
    """Run an open-loop workload against a Kafka-compatible cluster.

    Latencies are measured from each message's scheduled send time (corrected for
    coordinated omission); the report says whether the generator or the target was the
    bottleneck and accounts for every acknowledged record.
    """
    console = Console(stderr=True)
    try:
        workload = load_workload(workload_file).with_bootstrap(bootstrap)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if processes is not None:
        workload = replace(workload, producer=replace(workload.producer, processes=processes))
    try:
        with contextlib.ExitStack() as stack:
            target = workload.bootstrap or stack.enter_context(embedded_broker(console))
            result = run_workload(workload, target, console, progress, interval, connect_timeout)
    except (LoadError, ProcessStartError) as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from None
    except ImportError as exc:
        raise click.ClickException(
            f"{exc.name} is missing: install the clients extra (pip install 'tidewatch[clients]')"
        ) from None
    report = report_json(result)
    write_report(report, out / "report.json", out / "report.html")
    print_summary(result, console)
    console.print(f"report: {out / 'report.json'} and {out / 'report.html'}")
