"""A real Prometheus for game days: scrapes the targets every second and evaluates the
compressed rules; alerts and SLO readings are read back through its HTTP API.

It runs ``prometheus`` (Debian's 2.x binary) on 127.0.0.1 with a temporary data
directory, started and stopped by its own PID. Scrapes and rule evaluations happen once
per nominal minute (1 s at a time scale of 60, 0.5 s at 120), the step the SLO rules
are written for; the scrape layout is the alert pack's (``alerts.scrape``, job names from
``contracts.scrape``).
"""

from __future__ import annotations

import json
import math
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from alerts.scrape import prometheus_config
from contracts.launcher import free_port
from contracts.scrape import BROKER_JOB, PROBE_JOB
from loadtest.gameday.alerting import Targets
from loadtest.gameday.observations import AlertInstance, SLOReading
from slo import conventions as slo_names
from slo.rules import render

__all__ = ["PrometheusAlerts", "PrometheusError", "prometheus_binary"]

_BUDGET = slo_names.RULE_PERIOD_BUDGET_REMAINING
_BURN = slo_names.RULE_CURRENT_BURN_RATE


class PrometheusError(RuntimeError):
    """Prometheus could not start, or answered with an error."""


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


class PrometheusAlerts:
    name = "prometheus"

    def __init__(
        self,
        workdir: Path,
        rules: dict[str, Any],
        targets: Targets,
        interval: str = "1s",
        binary: str | None = None,
        cluster: str = "local",
    ) -> None:
        self.workdir = workdir
        self.rules = rules
        self.targets = targets
        self.interval = interval
        self.cluster = cluster
        self.binary = binary or prometheus_binary()
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "prometheus.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- lifecycle ---------------------------------------------------------------------
    def start(self, timeout_seconds: float = 45.0) -> None:
        if self.binary is None:
            raise PrometheusError("prometheus is not installed (Debian package 'prometheus')")
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "rules.yaml").write_text(render(self.rules), encoding="utf-8")
        # The pack's scrape layout (honor_labels, a cluster label on `up`), at game-day
        # speed, plus the load generator's own job.
        jobs = dict(self.targets.jobs)
        config = prometheus_config(
            ["rules.yaml"],
            broker_targets=jobs.pop(BROKER_JOB, []),
            probe_targets=jobs.pop(PROBE_JOB, []),
            alertmanagers=[],
            cluster=self.cluster,
            scrape_interval=self.interval,
            evaluation_interval=self.interval,
        )
        config["global"]["scrape_timeout"] = self.interval
        for job, addresses in sorted(jobs.items()):
            config["scrape_configs"].append(
                {"job_name": job, "static_configs": [{"targets": list(addresses)}]}
            )
        (self.workdir / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
        self.port = free_port()
        data = self.workdir / "tsdb"
        data.mkdir(exist_ok=True)
        cmd = [
            self.binary,
            f"--config.file={self.workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready(timeout_seconds)
        self._wait_scraped(timeout_seconds)

    def _wait_ready(self, timeout_seconds: float) -> None:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise PrometheusError(f"prometheus exited: {self._log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise PrometheusError(f"prometheus not ready after {timeout_seconds} s")

    def _wait_scraped(self, timeout_seconds: float) -> None:
        """Until every target has been scraped successfully once (the first scrape comes
        a few seconds after start, whatever the interval)."""
        expected = sum(len(a) for a in self.targets.jobs.values())
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            up = self.query("up == 1")
            if len(up) >= expected:
                return
            time.sleep(0.25)
        raise PrometheusError(f"targets not scraped after {timeout_seconds} s: {self.targets}")

    def _log_tail(self) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-2000:]

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            self.proc = None

    # --- API ---------------------------------------------------------------------------
    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        url = f"{self.url}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise PrometheusError(f"{path}: {exc}") from exc
        if body.get("status") != "success":
            raise PrometheusError(f"{path}: {body.get('error', body)}")
        return body["data"]

    def query(self, expr: str) -> list[tuple[dict[str, str], float]]:
        data = self._get("/api/v1/query", {"query": expr})
        return [(r["metric"], float(r["value"][1])) for r in data.get("result", [])]

    def firing(self) -> set[AlertInstance]:
        alerts = self._get("/api/v1/alerts").get("alerts", [])
        return {
            AlertInstance.of(a["labels"].get("alertname", ""), a["labels"])
            for a in alerts
            if a.get("state") == "firing"
        }

    def known_alerts(self) -> set[str]:
        return {
            str(rule["alert"])
            for group in self.rules.get("groups", [])
            for rule in group.get("rules", [])
            if "alert" in rule
        }

    def slo_readings(self) -> dict[str, SLOReading]:
        label = slo_names.LABEL_ID
        budgets = {m.get(label, ""): v for m, v in self.query(_BUDGET) if math.isfinite(v)}
        burns = {m.get(label, ""): v for m, v in self.query(_BURN) if math.isfinite(v)}
        return {
            slo: SLOReading(budgets.get(slo), burns.get(slo))
            for slo in sorted(set(budgets) | set(burns))
            if slo
        }
