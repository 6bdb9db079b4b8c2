"""The example Prometheus configuration: the broker, a standalone probe and a lag monitor
at the addresses those commands listen on by default, the generated rule files, and a
configuration promtool accepts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from alerts.build import INFRASTRUCTURE_RULES_FILE, PROMETHEUS_FILE, SLO_RULES_FILE, build
from alerts.scrape import BROKER_JOB, LAG_JOB, PROBE_JOB, prometheus_config
from broker.config import BrokerConfig, HostPort
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


def test_probe_and_lag_jobs_appear_only_with_targets() -> None:
    jobs = [j["job_name"] for j in prometheus_config([])["scrape_configs"]]
    assert jobs == [BROKER_JOB]
    config = prometheus_config([], lag_targets=["10.0.0.5:9466"], alertmanagers=())
    assert [j["job_name"] for j in config["scrape_configs"]] == [BROKER_JOB, LAG_JOB]
    assert "alerting" not in config


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
