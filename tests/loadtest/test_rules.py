"""The rules a game day evaluates: the alert pack plus the scenario's SLOs, catalog names
only, valid after compression, with ages compressed along with the windows."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from alerts.catalogs import known_metric_names
from contracts.alerts import (
    BROKER_FLUSH_SLOW,
    BROKER_UNREACHABLE,
    CONSUMER_LAG_BEYOND_SLA,
    CONSUMER_LAG_STATUS,
    PARTITION_HOT_SPOT,
    PROBE_RECORDS_LOST,
    RETENTION_HEADROOM_LOW,
    AlertThresholds,
)
from contracts.durations import parse_duration_seconds
from contracts.promql import check_expression, recorded_names
from loadtest.gameday.rules import (
    AGE_THRESHOLDS,
    LATENCY_THRESHOLDS,
    MIN_FOR_SCRAPES,
    build_rules,
    for_seconds,
    scrape_interval,
    thresholds_with,
)
from loadtest.metrics import LOAD_CATALOG
from slo.rules import render
from slo.spec import load_files
from tests.support import tools

SLO_FILE = Path("loadtest/scenarios/slo/gameday.yaml")
PROMTOOL = tools.find_tool(tools.PROMTOOL)


def rules(time_scale: float = 60, **kwargs: object) -> dict[str, object]:
    return build_rules(load_files([str(SLO_FILE)]), time_scale, **kwargs)  # type: ignore[arg-type]


def alert(rule_file: dict[str, object], name: str, severity: str | None = None) -> dict[str, str]:
    for group in rule_file["groups"]:  # type: ignore[attr-defined]
        for rule in group["rules"]:
            if rule.get("alert") == name and severity in (None, rule["labels"].get("severity")):
                return rule  # type: ignore[no-any-return]
    raise AssertionError(f"no alert {name}")


@pytest.mark.parametrize("probes", [False, True], ids=["without a probe", "with a probe"])
def test_every_metric_the_game_day_rules_read_is_in_a_catalog(probes: bool) -> None:
    rule_file = rules(probes=probes)
    load_names = set()
    for spec in LOAD_CATALOG:
        load_names |= {spec.name, *(spec.name + s for s in ("_bucket", "_count", "_sum"))}
    known = known_metric_names(recorded_names(rule_file) | load_names)
    count = 0
    for group in rule_file["groups"]:  # type: ignore[attr-defined]
        for rule in group["rules"]:
            check_expression(rule["expr"], known, f"{group['name']}: {rule.get('alert')}")
            count += 1
    assert count > 20


def test_every_threshold_in_seconds_is_declared_an_age_or_a_latency() -> None:
    """A new *_seconds threshold in the pack must say whether compression divides it."""
    seconds = {f.name for f in dataclasses.fields(AlertThresholds) if f.name.endswith("_seconds")}
    assert seconds == set(AGE_THRESHOLDS) | set(LATENCY_THRESHOLDS)


def test_ages_and_durations_are_compressed_but_latencies_are_not() -> None:
    nominal, compressed = rules(1), rules(60)
    assert alert(nominal, CONSUMER_LAG_BEYOND_SLA)["expr"].rstrip().endswith("> 300")
    lag = alert(compressed, CONSUMER_LAG_BEYOND_SLA)
    assert lag["expr"].rstrip().endswith("> 5")
    assert lag["for"] == "5s"
    assert "< 60" in alert(compressed, RETENTION_HEADROOM_LOW, "page")["expr"]
    assert "> 0.5" in alert(compressed, BROKER_FLUSH_SLOW)["expr"], "a latency"
    assert "[10s]" in alert(compressed, PARTITION_HOT_SPOT)["expr"]


def test_scenario_threshold_overrides_reach_the_pack() -> None:
    t = thresholds_with({"lag_sla_seconds": 600, "lag_sla_for": "10m"})
    lag = alert(rules(60, thresholds=t), CONSUMER_LAG_BEYOND_SLA)
    assert lag["expr"].rstrip().endswith("> 10")
    assert lag["for"] == "10s"
    with pytest.raises(KeyError, match="lag_sla"):
        thresholds_with({"lag_sla": 1})


def test_excluded_alerts_are_removed_and_the_rest_stay() -> None:
    rule_file = rules(exclude=[CONSUMER_LAG_BEYOND_SLA, "GameDayProduceLatencyBurnRate"])
    names = {r.get("alert") for g in rule_file["groups"] for r in g["rules"]}  # type: ignore[attr-defined]
    assert CONSUMER_LAG_BEYOND_SLA not in names
    assert "GameDayProduceLatencyBurnRate" not in names
    assert {CONSUMER_LAG_STATUS, "GameDayEndToEndLatencyBurnRate"} <= names


def test_probe_alerts_and_slos_come_with_a_probe_only() -> None:
    def names(rule_file: dict[str, object]) -> set[str]:
        return {r.get("alert") for g in rule_file["groups"] for r in g["rules"]}  # type: ignore[attr-defined]

    with_probe, without = names(rules(probes=True)), names(rules())
    probe_alerts = {n for n in with_probe if n and "Probe" in n}
    assert {PROBE_RECORDS_LOST, "TidewatchProbeDataLossBurnRate"} <= probe_alerts
    assert not {n for n in without if n and "Probe" in n}


def test_without_the_pack_only_the_scenario_slos_remain() -> None:
    names = {r.get("alert") for g in rules(pack=False)["groups"] for r in g["rules"]}  # type: ignore[attr-defined]
    assert names - {None} == {
        "GameDayProduceLatencyBurnRate",
        "GameDayEndToEndLatencyBurnRate",
        "GameDayProduceAvailabilityBurnRate",
    }


@pytest.mark.parametrize(
    ("time_scale", "interval"), [(1, "1s"), (60, "1s"), (120, "500ms"), (600, "500ms")]
)
def test_prometheus_scrapes_once_per_nominal_minute_within_limits(
    time_scale: float, interval: str
) -> None:
    assert scrape_interval(time_scale) == interval


@pytest.mark.parametrize("time_scale", [1, 60, 120, 600])
def test_no_compressed_for_is_shorter_than_a_few_scrape_intervals(time_scale: float) -> None:
    """A single slow or failed scrape must not hold a condition for a whole ``for``."""
    floor = MIN_FOR_SCRAPES * parse_duration_seconds(scrape_interval(time_scale))
    fors = [
        parse_duration_seconds(rule["for"], allow_zero=True)
        for group in rules(time_scale)["groups"]  # type: ignore[attr-defined]
        for rule in group["rules"]
        if "for" in rule
    ]
    assert fors
    assert min(fors) >= floor


def test_the_broker_unreachable_for_keeps_three_scrapes_at_120x_and_longer_fors_compress() -> None:
    compressed = rules(120)
    assert alert(rules(1), BROKER_UNREACHABLE)["for"] == "1m"
    assert alert(compressed, BROKER_UNREACHABLE)["for"] == "2s", "not 500ms: one scrape"
    assert alert(compressed, CONSUMER_LAG_BEYOND_SLA)["for"] == "2s500ms", "5m / 120"
    assert for_seconds("1m", 120) == 2.0, "the in-process twins hold as long"
    assert for_seconds("5m", 120) == 2.5
    assert for_seconds("0s", 120) == 0.0


@tools.requires(tools.PROMTOOL)
@pytest.mark.parametrize("time_scale", [1, 60, 120, 600])
def test_the_compressed_rule_file_passes_promtool_check(tmp_path: Path, time_scale: int) -> None:
    assert PROMTOOL is not None
    path = tmp_path / "rules.yaml"
    path.write_text(render(rules(time_scale)))
    result = subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
