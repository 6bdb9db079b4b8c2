"""Example specs load, their committed rule files are current, and promtool accepts them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from slo.examples import EXAMPLES_DIR, expected_rule_files
from slo.spec import load_files
from tests.slo.support import PROMTOOL, needs_promtool

RULE_FILES = expected_rule_files()


def test_every_example_spec_loads() -> None:
    slos = load_files(sorted(EXAMPLES_DIR.glob("*.yaml")))
    assert {s.spec_format for s in slos} == {"tidewatch/v1", "prometheus/v1", "openslo/v1"}


@pytest.mark.parametrize("path", sorted(RULE_FILES), ids=lambda p: p.name)
def test_committed_rule_file_matches_the_generator(path: Path) -> None:
    assert path.exists(), f"{path} is missing: run python -m slo.examples"
    assert path.read_text(encoding="utf-8") == RULE_FILES[path], (
        f"{path} drifted from the generator: run python -m slo.examples"
    )


def test_generating_twice_gives_identical_bytes() -> None:
    assert expected_rule_files() == RULE_FILES


@needs_promtool
@pytest.mark.parametrize("path", sorted(RULE_FILES), ids=lambda p: p.name)
def test_promtool_check_rules_accepts_every_generated_file(path: Path) -> None:
    assert PROMTOOL is not None
    result = subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
