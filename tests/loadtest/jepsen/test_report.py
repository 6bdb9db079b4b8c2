"""The report: runs in a table, each anomaly with the records involved, and JSON that
names the seeds to run again."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from loadtest.jepsen.checker import check
from loadtest.jepsen.history import History, StoredRecord, Write
from loadtest.jepsen.report import print_report, report_json, write_report
from loadtest.jepsen.runner import RunConfig, RunResult


def _result(seed: int, history: History) -> RunResult:
    config = RunConfig(seed, duration_seconds=5.0, max_faults=1)
    return RunResult(config, config.schedule(), history, check(history), wall_seconds=1.5)


def _runs() -> list[RunResult]:
    clean = History(
        "jepsen-1", 1, (Write("p0-0", "p0", 0, "ok", 0),), final_read=(StoredRecord(0, 0, "p0-0"),)
    )
    twice = History(
        "jepsen-2",
        1,
        (Write("p0-0", "p0", 0, "ok", 0),),
        final_read=(StoredRecord(0, 0, "p0-0"), StoredRecord(0, 1, "p0-0")),
    )
    return [_result(1, clean), _result(2, twice)]


def test_the_summary_names_the_seeds_with_anomalies() -> None:
    report = report_json(_runs())
    assert not report["passed"]
    assert report["summary"]["seeds_with_anomalies"] == [2]
    assert report["summary"]["operations"]["writes"] == 2
    (failed,) = [r for r in report["runs"] if not r["passed"]]
    assert failed["checks"]["acknowledged writes present exactly once"] == 1
    (anomaly,) = failed["anomalies"]
    assert anomaly["kind"] == "duplicate-write"
    assert [r["offset"] for r in anomaly["records"]] == [0, 0, 1]


def test_the_terminal_report_lists_each_anomaly_with_its_records() -> None:
    console = Console(record=True, width=160)
    print_report(report_json(_runs()), console)
    text = console.export_text()
    assert "Jepsen checker: FAILED" in text
    assert "seed 2: anomalies" in text
    assert "duplicate-write" in text and "final read: p0-0 @ 1" in text


def test_histories_are_written_beside_the_report(tmp_path: Path) -> None:
    path = write_report(_runs(), tmp_path)
    assert json.loads(path.read_text())["kind"] == "tidewatch-jepsen-report"
    assert sorted(p.name for p in tmp_path.glob("history-*.json")) == [
        "history-1.json",
        "history-2.json",
    ]
