"""Printing the benchmark: a live progress line while it runs, then tables (rich)."""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from loadtest.benchmark.figures import CLUSTER_WORKLOADS
from loadtest.benchmark.settings import Advance

__all__ = ["RichProgress", "render_report"]

# more CPU than this used by processes outside the benchmark marks a figure as disturbed
OTHER_LOAD_WARNING_CORES = 0.15

_FORMATS = {
    "msg/s": "{:,.0f}",
    "req/s": "{:,.0f}",
    "MB/s": "{:,.1f}",
    "GB/s": "{:,.3f}",
    "ms": "{:,.2f}",
    "MB": "{:,.1f}",
    "s": "{:,.3f}",
    "x": "{:,.2f}",
}


class RichProgress:
    """One line per step: spinner, description, bar, elapsed time; gone when done."""

    def __init__(self, console: Console) -> None:
        self._console = console

    @contextlib.contextmanager
    def step(self, description: str) -> Iterator[Advance]:
        columns = (
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=self._console, transient=True) as progress:
            task = progress.add_task(description, total=1.0)
            yield lambda fraction: progress.update(task, completed=min(1.0, fraction))
        self._console.print(f"[dim]✓ {description}[/dim]")


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    return _FORMATS.get(unit, "{:,.3g}").format(value) + f" {unit}"


def _runs(samples: dict[str, list[float]], unit: str) -> str:
    parts = []
    for system, values in samples.items():
        if len(values) > 1:
            low, high = min(values), max(values)
            fmt = _FORMATS.get(unit, "{:,.3g}")
            parts.append(
                f"{system[0].upper()}: {len(values)}× {fmt.format(low)}–{fmt.format(high)}"
            )
    return "; ".join(parts)


def _met(figure: dict[str, Any]) -> str:
    if figure["error"]:
        return "[red]failed[/red]"
    met = figure["met"]
    if met is None:
        return ""
    return "[green]yes[/green]" if met else "[red]no[/red]"


def _machine_table(machine: dict[str, Any]) -> Table:
    table = Table(title="Machine", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    memory = machine.get("memory_bytes")
    cores = machine["cpu_cores"]
    libraries = ", ".join(f"{k} {v}" for k, v in machine["libraries"].items() if v)
    rows = [
        ("CPU", f"{machine['cpu_model']} ({cores} cores, {machine['cpu_cores_usable']} usable)"),
        ("Memory", f"{memory / 2**30:.1f} GiB" if memory else "unknown"),
        ("Kernel", machine["kernel"]),
        ("Python", machine["python"]),
        ("librdkafka", machine.get("librdkafka") or "not installed"),
        ("kcat", machine.get("kcat") or "not installed"),
        ("redis-server", machine.get("redis_server") or "not used"),
        ("Libraries", libraries),
        ("Data on", machine.get("data_filesystem", "unknown")),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    return table


def _figures_table(figures: dict[str, Any]) -> Table:
    table = Table(title="Figures (medians)", title_justify="left")
    for column, justify in (
        ("Workload", "left"),
        ("Figure", "left"),
        ("Tidewatch", "right"),
        ("Redis", "right"),
        ("Tidewatch/Redis", "right"),
        ("Target", "left"),
        ("Met", "center"),
        ("Runs", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    previous = None
    for key, figure in figures.items():
        workload = key.partition(".")[0]
        unit = figure["unit"]
        tidewatch = "[red]failed[/red]" if figure["error"] else _value(figure["tidewatch"], unit)
        ratio = f"{figure['ratio']:.2f}x" if figure["ratio"] is not None else "—"
        table.add_row(
            workload if workload != previous else "",
            figure["label"],
            tidewatch,
            _value(figure["redis"], unit),
            ratio,
            figure["target"]["text"] if figure["target"] else "",
            _met(figure),
            _runs(figure["samples"], unit),
            end_section=False,
        )
        previous = workload
    return table


def _cluster_table(figures: dict[str, Any]) -> Table:
    """The three-broker figures: their samples are rounds (ratios) or kills (times)."""
    table = Table(title="Three brokers (peer: a single broker, same run)", title_justify="left")
    for column, justify in (
        ("Figure", "left"),
        ("Median", "right"),
        ("Min", "right"),
        ("Max", "right"),
        ("Samples", "right"),
        ("Target", "left"),
        ("Met", "center"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for figure in figures.values():
        unit, samples = figure["unit"], figure["samples"]["tidewatch"]
        table.add_row(
            figure["label"],
            "[red]failed[/red]" if figure["error"] else _value(figure["tidewatch"], unit),
            _value(min(samples), unit) if samples else "—",
            _value(max(samples), unit) if samples else "—",
            str(len(samples)),
            figure["target"]["text"] if figure["target"] else "",
            _met(figure),
        )
    return table


def _is_cluster_figure(key: str) -> bool:
    return key.partition(".")[0] in CLUSTER_WORKLOADS


def _cluster_notes(details: dict[str, Any]) -> list[str]:
    notes = []
    failover = details.get("failover", {})
    if "kills" in failover:
        kills = failover["kills"]
        split = []
        for was_controller, who in ((True, "the active controller"), (False, "another broker")):
            times = [
                k["seconds_to_produce"]
                for k in kills
                if k["killed_was_controller"] is was_controller
            ]
            if times:
                split.append(f"{len(times)} of {who} (median {statistics.median(times):.3f} s)")
        notes.append(
            f"failover: {len(kills)} kills: {', '.join(split)}; max "
            f"{failover['max_seconds']:.3f} s. {failover['bounds']['explanation']}"
        )
    replication = details.get("replication", {})
    if "rounds" in replication:
        notes.append(
            f"replication: {len(replication['rounds'])} rounds of "
            f"{replication['messages_per_round']:,} messages per system, acks=all, "
            "min.insync.replicas=2 on the cluster; ratio = cluster / single broker per round"
        )
    return notes


def _notes(report: dict[str, Any]) -> list[str]:
    notes = [report["sharing_note"]]
    details = report["details"]
    disturbed = []
    for workload in ("produce", "consume", "small"):
        for system in ("tidewatch", "redis"):
            runs = details.get(workload, {}).get(f"{system}_runs")
            if runs:
                server = statistics.median(r["server_cores_busy"] for r in runs)
                client = statistics.median(r["client_cores_busy"] for r in runs)
                other = max(r["other_cores_busy"] for r in runs)
                notes.append(
                    f"{workload} → {system}: server busy {server:.2f} cores, "
                    f"benchmark clients {client:.2f} cores (medians)"
                )
                if other > OTHER_LOAD_WARNING_CORES:
                    disturbed.append(f"{workload}/{system} (up to {other:.2f} cores)")
    if disturbed:
        notes.append(
            "[yellow]other processes on this machine were busy during "
            + ", ".join(disturbed)
            + ": those figures are disturbed[/yellow]"
        )
    latency = details.get("latency", {})
    if "sent" in latency:
        notes.append(
            f"latency: {latency['received']:,} of {latency['sent']:,} messages received, "
            f"sent at {latency['achieved_rate']:,.0f} msg/s"
        )
    restart = details.get("restart", {})
    if "log_bytes" in restart:
        notes.append(
            f"restart: log of {restart['log_bytes'] / 1e9:.2f} GB on disk "
            "(the brief's target is for 5 GB: --restart-log-gb 5)"
        )
    notes += _cluster_notes(details)
    broker = details.get("broker", {})
    if "peak_rss_megabytes" in broker:
        notes.append(f"main broker: peak RSS {broker['peak_rss_megabytes']:.1f} MB over the run")
    for key, figure in report["figures"].items():
        if figure["error"]:
            notes.append(f"[red]{key} failed: {figure['error']}[/red]")
    notes.append("MB = 10^6 bytes, GB = 10^9 bytes.")
    return notes


def render_report(console: Console, report: dict[str, Any]) -> None:
    console.print()
    console.print(_machine_table(report["machine"]))
    figures = report["figures"]
    single = {k: f for k, f in figures.items() if not _is_cluster_figure(k)}
    cluster = {k: f for k, f in figures.items() if _is_cluster_figure(k)}
    if single:
        console.print(_figures_table(single))
    if cluster:
        console.print(_cluster_table(cluster))
    for note in _notes(report):
        console.print(f"• {note}")
