"""Example specs load and promtool accepts their committed rule files (their drift is
checked with every other golden file in tests/tidewatch/test_generate.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from slo.examples import EXAMPLES_DIR, RULES_DIR
from slo.spec import load_files
from tests.slo.support import PROMTOOL, needs_promtool

RULE_FILES = sorted(RULES_DIR / spec.name for spec in EXAMPLES_DIR.glob("*.yaml"))


def test_every_example_spec_loads() -> None:
    slos = load_files(sorted(EXAMPLES_DIR.glob("*.yaml")))
    assert {s.spec_format for s in slos} == {"tidewatch/v1", "prometheus/v1", "openslo/v1"}


@needs_promtool
@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_promtool_check_rules_accepts_every_generated_file(path: Path) -> None:
    assert PROMTOOL is not None
    result = subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
