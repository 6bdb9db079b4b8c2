"""The shipped game days pass in compressed form against a real broker (or a cluster of
three for the replication ones), with a real Prometheus evaluating the alert pack; and a
scenario whose lag alert is broken on purpose is reported as a miss (so the
expectations can fail)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from contracts.alerts import CONSUMER_LAG_BEYOND_SLA, CONSUMER_LAG_STATUS
from loadtest.gameday.runner import GameDay
from loadtest.gameday.scenario import load_scenario
from loadtest.gameday.scorecard import write_scorecard
from tests.support import tools
from tidewatch.cli import cli

SCENARIOS = Path("loadtest/scenarios")
SHIPPED = sorted(SCENARIOS.glob("*.yaml"))
needs_prometheus = tools.requires(tools.PROMETHEUS)

pytestmark = [pytest.mark.slow, pytest.mark.interop, pytest.mark.serial]


def describe(outcomes: list[dict[str, object]]) -> str:
    return "\n".join(
        f"{o['status']:8} {o['kind']}: {o['subject']}: expected {o['expected']}, {o['observed']}"
        for o in outcomes
    )


@needs_prometheus
@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_the_shipped_scenario_passes_with_prometheus_evaluating_the_alert_pack(
    tmp_path: Path, path: Path
) -> None:
    scenario = load_scenario(path)
    result = GameDay(scenario, tmp_path).run()
    if result.skipped is not None:  # the scenario needs a tmpfs this machine cannot mount
        tools.missing_component(result.skipped, tools.TMPFS_HINT)
    card = write_scorecard(result, tmp_path)
    assert result.evaluator == "prometheus"
    assert result.errors == [], result.errors
    assert card["summary"]["missed"] == 0, describe(card["outcomes"])
    assert card["summary"]["skipped"] == 0, describe(card["outcomes"])
    assert card["passed"]
    detections = [o for o in card["outcomes"] if o["kind"] == "alert fires"]
    assert len(detections) == sum(e.fires_within is not None for e in scenario.expect_alerts)
    assert all(o["detection_seconds"] is not None for o in detections)
    assert result.load is not None
    if "1" not in scenario.workload.producer.acks_mix:  # acks=1 next to a cut-off leader loses
        assert all(a.lost == 0 for a in result.load.accounts)
    if scenario.brokers > 1:
        assert card["audit"], "a cluster's log is audited"
        assert all(a["lost"] == 0 for a in card["audit"] if a["acks"] == "all")
    html = (tmp_path / "scorecard.html").read_text()
    assert "<svg" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert json.loads((tmp_path / "load-report.json").read_text())["totals"]["acked"] > 0


def test_a_broken_lag_alert_makes_the_scorecard_report_the_misses(tmp_path: Path) -> None:
    """consumer-lag-spike with the lag SLA raised to a day (the lag alert and the lag SLO
    can then never trigger), evaluated in-process: the scorecard reports exactly the
    expectations that depend on them as missed, and the CLI exits 1."""
    doc = yaml.safe_load((SCENARIOS / "consumer-lag-spike.yaml").read_text())
    doc["slos"] = [str((SCENARIOS / s).resolve()) for s in doc["slos"]]
    doc["alerts"] = {"evaluator": "in-process", "thresholds": {"lag_sla_seconds": 86400}}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(doc))
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["gameday", "run", str(path), "-o", str(out), "--no-progress"])
    assert result.exit_code == 1, result.output
    assert "expectation(s) missed" in result.output
    card = json.loads((out / "scorecard.json").read_text())
    assert card["evaluator"] == "in-process"
    missed = {
        (o["kind"], o["subject"].split("{")[0], o["observed"])
        for o in card["outcomes"]
        if o["status"] == "MISSED"
    }
    assert {(k, s) for k, s, _ in missed} == {
        ("alert fires", CONSUMER_LAG_BEYOND_SLA),
        ("alert resolves", CONSUMER_LAG_BEYOND_SLA),
        ("alert fires", "TidewatchConsumerLagBurnRate"),
        ("slo", "tidewatch-consumer-lag"),
    }, describe(card["outcomes"])
    assert ("alert fires", CONSUMER_LAG_BEYOND_SLA, "never fired") in missed
    met = {o["subject"].split("{")[0] for o in card["outcomes"] if o["status"] == "met"}
    assert {CONSUMER_LAG_STATUS, "GameDayEndToEndLatencyBurnRate"} <= met
