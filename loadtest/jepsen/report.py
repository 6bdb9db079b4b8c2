"""The Jepsen report: a JSON document (the source of truth) and terminal tables from it.

One document covers every run of an invocation: per run its seed, schedule (as planned
and as it happened), operation counts, client errors, and each anomaly with the records
involved; a summary over the runs lists the seeds that found anomalies, so each one can
be run again alone (``--seed N --runs 1``). Histories are written beside it, one JSON
file per run, so the checker can be run again on them (``--check HISTORY``).
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from loadtest.jepsen.checker import CHECKS, Anomaly
from loadtest.jepsen.history import History, history_to_json
from loadtest.jepsen.runner import RunResult

__all__ = ["print_report", "report_json", "run_json", "write_report"]


def _operations(history: History | None) -> dict[str, int]:
    if history is None:
        return {}
    statuses = Counter(w.status for w in history.writes)
    return {
        "writes": len(history.writes),
        "acknowledged": statuses["ok"],
        "failed": statuses["failed"],
        "deliveries": len(history.deliveries),
        "commit_observations": len(history.commits),
        "final_read": len(history.final_read),
        "replica_records": sum(len(r.records) for r in history.replicas),
    }


def anomaly_json(anomaly: Anomaly) -> dict[str, Any]:
    return dataclasses.asdict(anomaly)


def run_json(result: RunResult) -> dict[str, Any]:
    """One run as JSON (see the module docstring)."""
    by_kind = Counter(a.kind for a in result.anomalies)
    return {
        "seed": result.config.seed,
        "topic": result.config.topic,
        "passed": result.passed,
        "error": result.error,
        "wall_seconds": result.wall_seconds,
        "config": {
            k: v
            for k, v in dataclasses.asdict(result.config).items()
            if k not in ("seed", "timeouts")
        },
        "schedule": [dataclasses.asdict(step) for step in result.schedule.steps],
        "faults": [dataclasses.asdict(event) for event in result.events],
        "operations": _operations(result.history),
        "client_errors": dict(sorted(result.errors.items())),
        "checks": {
            name: sum(by_kind[kind] for kind in kinds) for name, (_, kinds) in CHECKS.items()
        },
        "anomalies": [anomaly_json(a) for a in result.anomalies],
    }


def report_json(results: Sequence[RunResult]) -> dict[str, Any]:
    runs = [run_json(r) for r in results]
    operations: Counter[str] = Counter()
    for run in runs:
        operations.update(run["operations"])
    return {
        "kind": "tidewatch-jepsen-report",
        "passed": all(r.passed for r in results),
        "summary": {
            "runs": len(runs),
            "passed": sum(1 for r in results if r.passed),
            "faults": sum(len(r.events) for r in results),
            "anomalies": sum(len(r.anomalies) for r in results),
            "operations": dict(operations),
            "seeds_with_anomalies": [r.config.seed for r in results if r.anomalies],
            "seeds_incomplete": [r.config.seed for r in results if r.error is not None],
        },
        "runs": runs,
    }


def write_report(results: Sequence[RunResult], out: Path) -> Path:
    """``out/report.json`` and ``out/history-<seed>.json`` per checked run."""
    out.mkdir(parents=True, exist_ok=True)
    for result in results:
        if result.history is not None:
            path = out / f"history-{result.config.seed}.json"
            path.write_text(_dumps(history_to_json(result.history)), encoding="utf-8")
    report = out / "report.json"
    report.write_text(_dumps(report_json(results)), encoding="utf-8")
    return report


def _dumps(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def print_report(report: Mapping[str, Any], console: Console) -> None:
    """The runs as one table, then every anomaly with the records involved."""
    title = "Jepsen checker: " + ("PASSED" if report["passed"] else "FAILED")
    table = Table(title=title)
    for column in ("seed", "faults", "writes", "acked", "reads", "commits", "anomalies", "secs"):
        table.add_column(column, justify="right")
    table.add_column("result")
    for run in report["runs"]:
        ops = run["operations"]
        verdict = "[green]ok[/]" if run["passed"] else "[red]FAILED[/]"
        table.add_row(
            str(run["seed"]),
            str(len(run["faults"])),
            *(
                str(ops.get(k, "-"))
                for k in ("writes", "acknowledged", "deliveries", "commit_observations")
            ),
            str(len(run["anomalies"])),
            f"{run['wall_seconds']:.1f}",
            verdict,
        )
    console.print(table)
    for run in report["runs"]:
        if run["error"]:
            console.print(f"[red]seed {run['seed']} incomplete:[/] {escape(run['error'])}")
        if run["anomalies"]:
            console.print(_anomaly_table(run))
    summary = report["summary"]
    console.print(
        f"{summary['runs']} run(s), {summary['faults']} fault(s), "
        f"{summary['operations'].get('writes', 0)} writes, {summary['anomalies']} anomalies"
        + (
            f"; seeds with anomalies: {summary['seeds_with_anomalies']}"
            if summary["seeds_with_anomalies"]
            else ""
        )
    )


def _anomaly_table(run: Mapping[str, Any]) -> Table:
    table = Table(title=f"seed {run['seed']}: anomalies")
    for column in ("kind", "partition", "offset", "what", "records involved"):
        table.add_column(column, overflow="fold")
    for a in run["anomalies"]:
        records = "\n".join(
            f"{r['where']}: {r['write_id'] or '-'} @ {r['offset']}" for r in a["records"]
        )
        table.add_row(
            f"[red]{a['kind']}[/]",
            str(a["partition"]),
            "-" if a["offset"] is None else str(a["offset"]),
            escape(a["description"]),
            escape(records),
        )
    return table
