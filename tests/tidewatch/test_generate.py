"""Every committed generated file, from the one list ``tidewatch generate`` writes: none
drifts from its generator, generating is deterministic, and ``--check`` names what
drifted."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tidewatch.cli import cli
from tidewatch.generate import GOLDEN_SETS, SOURCE_ROOT, GoldenSet

SETS = pytest.mark.parametrize("golden", GOLDEN_SETS, ids=[g.name for g in GOLDEN_SETS])


@SETS
def test_the_committed_files_are_what_the_generator_writes(golden: GoldenSet) -> None:
    directory = SOURCE_ROOT / golden.directory
    files = golden.files()
    assert files, f"{golden.name}: the generator wrote nothing"
    committed = {
        name: (directory / name).read_text(encoding="utf-8")
        if (directory / name).is_file()
        else None
        for name in files
    }
    drifted = sorted(name for name, text in files.items() if committed[name] != text)
    assert drifted == [], f"{golden.directory}: {drifted} drifted: run tidewatch generate"


@SETS
def test_generating_twice_gives_the_same_bytes(golden: GoldenSet) -> None:
    assert golden.files() == golden.files()


def test_every_set_has_its_own_directory() -> None:
    directories = [g.directory for g in GOLDEN_SETS]
    assert len(set(directories)) == len(directories)


def test_generate_writes_every_set_and_check_then_passes(tmp_path: Path) -> None:
    runner = CliRunner()
    written = runner.invoke(cli, ["generate", "--root", str(tmp_path)])
    assert written.exit_code == 0, written.output
    for golden in GOLDEN_SETS:
        assert sorted(p.name for p in (tmp_path / golden.directory).iterdir()) == sorted(
            golden.files()
        )
    checked = runner.invoke(cli, ["generate", "--check", "--root", str(tmp_path)])
    assert checked.exit_code == 0, checked.output
    assert "up to date" in checked.output


def test_check_fails_naming_every_changed_or_missing_file_and_writes_nothing(
    tmp_path: Path,
) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["generate", "--root", str(tmp_path)]).exit_code == 0
    changed = tmp_path / "dashboards/generated/oncall.json"
    changed.write_text("{}\n", encoding="utf-8")
    missing = tmp_path / "synthetics/slos/rules/probe.yaml"
    missing.unlink()
    result = runner.invoke(cli, ["generate", "--check", "--root", str(tmp_path)])
    assert result.exit_code == 1
    assert "dashboards/generated/oncall.json" in result.output
    assert "synthetics/slos/rules/probe.yaml" in result.output
    assert "alerts/generated" not in result.output
    assert changed.read_text(encoding="utf-8") == "{}\n"
    assert not missing.exists()
