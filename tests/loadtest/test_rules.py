"""The rules a game day evaluates: catalog names only, valid after compression, ages
compressed with the windows."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from broker.metrics.catalog import CATALOG
from loadtest.gameday.rules import GAMEDAY_RULES, build_rules, render_rule
from loadtest.metrics import LOAD_CATALOG
from slo.rules import render
from slo.spec import load_files

SLO_FILE = Path("loadtest/scenarios/slo/gameday.yaml")
PROMTOOL = shutil.which("promtool")
KNOWN = {m.name for m in CATALOG} | {m.name for m in LOAD_CATALOG} | {"up"}
# Metric names, not recording rules (those contain a colon: tidewatch_slo:...).
_SERIES = re.compile(r"(?<![\w:])(tidewatch_[a-z0-9_]+|up)\b(?!:)")
_SUFFIXES = ("_bucket", "_count", "_sum")


def _base(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and name.removesuffix(suffix) in KNOWN:
            return name.removesuffix(suffix)
    return name


def test_every_metric_the_game_day_rules_read_is_in_a_catalog() -> None:
    rules = build_rules(load_files([str(SLO_FILE)]), 60)
    names = {
        _base(name)
        for group in rules["groups"]
        for rule in group["rules"]
        for name in _SERIES.findall(rule["expr"])
    }
    assert names, "no metric found: the check would pass vacuously"
    assert names <= KNOWN, f"not in any catalog: {sorted(names - KNOWN)}"


def test_ages_are_divided_by_the_time_scale_but_other_numbers_are_not() -> None:
    lag = next(r for r in GAMEDAY_RULES if r.alert == "TidewatchGameDayConsumerLagHigh")
    hot = next(r for r in GAMEDAY_RULES if r.alert == "TidewatchGameDayPartitionHotSpot")
    assert render_rule(lag, 60)["expr"].endswith("> 5")
    assert "2 * avg" in render_rule(hot, 60)["expr"]


def test_excluded_alerts_are_removed_from_every_group() -> None:
    rules = build_rules(load_files([str(SLO_FILE)]), 60, exclude=["TidewatchGameDayBrokerDown"])
    alerts = {r.get("alert") for g in rules["groups"] for r in g["rules"]}
    assert "TidewatchGameDayBrokerDown" not in alerts
    assert "TidewatchGameDayConsumerLagHigh" in alerts


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
@pytest.mark.parametrize("time_scale", [1, 60, 600])
def test_the_compressed_rule_file_passes_promtool_check(tmp_path: Path, time_scale: int) -> None:
    assert PROMTOOL is not None
    path = tmp_path / "rules.yaml"
    path.write_text(render(build_rules(load_files([str(SLO_FILE)]), time_scale)))
    result = subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
