"""``tidewatch probe`` and ``tidewatch lag`` on the command line: config checks with
one-line errors, and real runs against a broker serving /metrics and /status."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from contracts.launcher import BrokerProcess
from tidewatch.cli import cli

_URL = re.compile(r"status\s+(http://\S+)/status")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_probe_and_lag_are_listed_in_the_help() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert "probe" in result.output
    assert "lag " in result.output


def test_probe_validate_prints_each_target(tmp_path: Path) -> None:
    config = _write(
        tmp_path / "probe.yaml",
        "targets:\n  - {name: a, bootstrap_servers: 'k:9092', interval: 5s}\n",
    )
    result = CliRunner().invoke(cli, ["probe", "--config", str(config), "--validate"])
    assert result.exit_code == 0, result.output
    assert "a: cluster a, k:9092 (PLAINTEXT), topic tidewatch-probe, every 5 s" in result.output


def test_lag_validate_prints_each_cluster(tmp_path: Path) -> None:
    config = _write(
        tmp_path / "lag.yaml", "clusters:\n  - {name: prod, bootstrap_servers: 'k:9092'}\n"
    )
    result = CliRunner().invoke(cli, ["lag", "--config", str(config), "--validate"])
    assert result.exit_code == 0, result.output
    assert "prod: k:9092 (PLAINTEXT), every 15 s" in result.output


@pytest.mark.parametrize("command", ["probe", "lag"])
def test_a_bad_config_exits_non_zero_with_one_line_naming_file_and_field(
    tmp_path: Path, command: str
) -> None:
    key = "targets" if command == "probe" else "clusters"
    config = _write(
        tmp_path / "bad.yaml", f"http: nowhere\n{key}: [{{name: a, bootstrap_servers: 'k:1'}}]\n"
    )
    result = CliRunner().invoke(cli, [command, "--config", str(config), "--validate"])
    assert result.exit_code == 1
    assert (
        result.output.strip()
        == f"Error: {config}: http: 'nowhere' is not HOST:PORT (for example 127.0.0.1:9092)"
    )


def _start(args: list[str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tidewatch", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        match = _URL.search(log.read_text())
        if match:
            return proc, match.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"no status URL printed:\n{log.read_text()}")


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        body: bytes = response.read()
    return body.decode()


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        raise


def test_probe_command_serves_status_and_metrics_and_stops_on_sigterm(
    broker: BrokerProcess, tmp_path: Path
) -> None:
    config = _write(
        tmp_path / "probe.yaml",
        f"targets:\n  - name: local\n    bootstrap_servers: {broker.bootstrap}\n    interval: 200ms\n",
    )
    proc, url = _start(
        ["probe", "--config", str(config), "--http", "127.0.0.1:0"], tmp_path / "probe.log"
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            status = json.loads(_get(f"{url}/status"))
            if status["targets"][0]["totals"]["consumed"] >= 3 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        metrics = _get(f"{url}/metrics")
        assert json.loads(_get(f"{url}/healthz")) == {"status": "ok"}
    finally:
        code = _stop(proc)
    assert code == 0, (tmp_path / "probe.log").read_text()
    (t,) = status["targets"]
    assert (status["state"], t["state"], t["target"]) == ("ok", "ok", "local")
    assert t["totals"]["consumed"] >= 3
    assert (
        'tidewatch_probe_end_to_end_latency_seconds_count{broker="0",cluster="local",partition="0",target="local"}'
        in metrics
    )


def test_lag_command_serves_group_status(broker: BrokerProcess, tmp_path: Path) -> None:
    config = _write(
        tmp_path / "lag.yaml",
        f"interval: 200ms\nclusters:\n  - name: local\n    bootstrap_servers: {broker.bootstrap}\n",
    )
    proc, url = _start(
        ["lag", "--config", str(config), "--http", "127.0.0.1:0"], tmp_path / "lag.log"
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            status = json.loads(_get(f"{url}/status"))
            if status["clusters"][0]["up"] or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        metrics = _get(f"{url}/metrics")
    finally:
        code = _stop(proc)
    assert code == 0, (tmp_path / "lag.log").read_text()
    assert status["clusters"][0] == {
        **status["clusters"][0],
        "cluster": "local",
        "up": True,
        "error": None,
    }
    assert 'tidewatch_lagmon_up{cluster="local"} 1.0' in metrics
