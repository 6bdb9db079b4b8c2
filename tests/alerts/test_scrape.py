"""The example Prometheus configuration: the broker, a standalone probe and a lag monitor
at the addresses those commands listen on by default, the generated rule files, and a
configuration promtool accepts."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from alerts.build import INFRASTRUCTURE_RULES_FILE, PROMETHEUS_FILE, SLO_RULES_FILE, build
from alerts.scrape import RECORDED_SLO_NAMES, prometheus_config
from broker.config import BrokerConfig
from broker.metrics.catalog import CATALOG
from contracts.fields import HostPort
from contracts.scrape import BROKER_JOB, LAG_JOB, PROBE_JOB
from slo import conventions as c
from synthetics.catalog import PROBE_CATALOG
from synthetics.config import ProbeConfig
from synthetics.lagmon.config import LagConfig
from tests.alerts.support import PROMTOOL, needs_promtool

FILES = build().files


def _address(http: tuple[str, int] | HostPort | None) -> str:
    assert http is not None
    return str(http) if isinstance(http, HostPort) else f"{http[0]}:{http[1]}"


def test_example_config_scrapes_broker_probe_and_lag_monitor_at_their_default_addresses() -> None:
    config = yaml.safe_load(FILES[PROMETHEUS_FILE])
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert list(jobs) == [BROKER_JOB, PROBE_JOB, LAG_JOB]
    targets = {name: j["static_configs"][0]["targets"] for name, j in jobs.items()}
    defaults = {
        BROKER_JOB: BrokerConfig().http,
        PROBE_JOB: ProbeConfig(targets=()).http,
        LAG_JOB: LagConfig(clusters=()).http,
    }
    assert targets == {name: [_address(http)] for name, http in defaults.items()}
    assert all(j["honor_labels"] for j in jobs.values())
    # Only the broker's `up` needs the cluster target label (inhibition per cluster).
    assert jobs[BROKER_JOB]["static_configs"][0]["labels"] == {"cluster": "local"}
    assert "labels" not in jobs[PROBE_JOB]["static_configs"][0]
    assert config["rule_files"] == [SLO_RULES_FILE, INFRASTRUCTURE_RULES_FILE]
    # Series named like the SLO recording rules are Prometheus' own: scraped copies (an
    # in-process SLO engine on the broker endpoint) are dropped.
    assert jobs[BROKER_JOB]["metric_relabel_configs"] == [
        {"source_labels": ["__name__"], "regex": RECORDED_SLO_NAMES, "action": "drop"}
    ]
    assert "metric_relabel_configs" not in jobs[PROBE_JOB]


def test_the_dropped_names_are_the_engine_copies_of_recorded_names_only() -> None:
    pattern = re.compile(RECORDED_SLO_NAMES)  # Prometheus anchors relabel regexes
    # What the SLO engine exports under recording-rule names (its per-window SLI ratio
    # families are named per window).
    windows = [c.sli_error_ratio_rule(w) for w in (*c.ALERT_WINDOWS, "30d")]
    engine = [s.name for s in c.ENGINE_METRICS if "{" not in s.name]
    copies = [n for n in engine if not n.startswith("tidewatch_")] + windows
    assert len(copies) >= 12
    assert all(pattern.fullmatch(n) for n in copies)
    assert all(pattern.fullmatch(n.replace(":", "_")) for n in copies)  # OpenMetrics-escaped
    kept = [s.name for s in (*CATALOG, *PROBE_CATALOG)]
    kept += [n for n in engine if n.startswith("tidewatch_")]
    kept += [c.RULE_SLI_ERROR_EVENTS, c.RULE_SLI_TOTAL_EVENTS, c.RULE_SLO_INFO]
    assert [n for n in kept if pattern.fullmatch(n)] == []


def test_probe_and_lag_jobs_appear_only_with_targets() -> None:
    jobs = [j["job_name"] for j in prometheus_config([])["scrape_configs"]]
    assert jobs == [BROKER_JOB]
    config = prometheus_config([], lag_targets=["10.0.0.5:9466"], alertmanagers=())
    assert [j["job_name"] for j in config["scrape_configs"]] == [BROKER_JOB, LAG_JOB]
    assert "alerting" not in config


def test_an_up_platform_apart_from_its_brokers_is_scraped_with_the_probes_minus_slo_names() -> None:
    config = prometheus_config(
        [],
        broker_targets=["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"],
        platform_targets=["127.0.0.1:9464"],
    )
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert jobs[BROKER_JOB]["static_configs"][0]["targets"] == [
        "127.0.0.1:1",
        "127.0.0.1:2",
        "127.0.0.1:3",
    ]
    assert jobs[PROBE_JOB]["static_configs"][0]["targets"] == ["127.0.0.1:9464"]
    drops = jobs[PROBE_JOB]["metric_relabel_configs"]
    assert drops == jobs[BROKER_JOB]["metric_relabel_configs"]


@needs_promtool
def test_promtool_accepts_the_example_config_with_its_rule_files(tmp_path: Path) -> None:
    for name in (PROMETHEUS_FILE, SLO_RULES_FILE, INFRASTRUCTURE_RULES_FILE):
        (tmp_path / name).write_text(FILES[name], encoding="utf-8")
    assert PROMTOOL is not None
    result = subprocess.run(
        [PROMTOOL, "check", "config", PROMETHEUS_FILE],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
