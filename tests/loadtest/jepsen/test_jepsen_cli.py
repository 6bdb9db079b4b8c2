"""``tidewatch gameday jepsen``: help, refusals and re-checking a saved history (no
cluster is started by these tests)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from loadtest.jepsen.history import History, StoredRecord, Write, history_to_json
from tidewatch.cli import cli


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["gameday", "jepsen", *args])
    return result.exit_code, " ".join(result.output.split())  # as words: wrapping varies


def test_help_names_the_faults_and_the_checks() -> None:
    code, output = _invoke("--help")
    assert code == 0
    for word in ("--seed", "--runs", "kill,pause,partition,restart", "exactly once"):
        assert word in output


def test_the_jepsen_command_is_listed_among_the_game_day_commands() -> None:
    result = CliRunner().invoke(cli, ["gameday", "--help"])
    assert result.exit_code == 0 and "jepsen" in result.output


def test_an_unknown_fault_kind_is_refused_with_the_choices() -> None:
    code, output = _invoke("--faults", "kill,flood")
    assert code == 2
    assert "kill, pause, partition, restart" in output


def _saved(tmp_path: Path, history: History) -> Path:
    path = tmp_path / "history-3.json"
    path.write_text(json.dumps(history_to_json(history)), encoding="utf-8")
    return path


def test_a_saved_clean_history_checks_clean(tmp_path: Path) -> None:
    history = History(
        "t", 1, (Write("p0-0", "p0", 0, "ok", 0),), final_read=(StoredRecord(0, 0, "p0-0"),)
    )
    code, output = _invoke("--check", str(_saved(tmp_path, history)))
    assert code == 0, output
    assert "0 anomalies" in output


def test_a_saved_history_with_a_lost_write_fails_and_names_it(tmp_path: Path) -> None:
    history = History("t", 1, (Write("p0-0", "p0", 0, "ok", 0),))
    code, output = _invoke("--check", str(_saved(tmp_path, history)))
    assert code == 1
    assert "lost-write" in output and "p0-0" in output
