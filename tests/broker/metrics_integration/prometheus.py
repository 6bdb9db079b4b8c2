"""A real Prometheus (Debian's 2.42) run by hand for a test: 127.0.0.1, port 0 (the
bound port is read from its log), a temporary TSDB, stopped by its own PID."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.support import tools

__all__ = ["PROMETHEUS", "PROMTOOL", "Prometheus"]

PROMETHEUS = tools.find_tool(tools.PROMETHEUS)
PROMTOOL = tools.find_tool(tools.PROMTOOL)
_LISTENING = re.compile(r'msg="Listening on" address=([\d.]+:\d+)')


class Prometheus:
    def __init__(
        self, workdir: Path, targets: dict[str, str | list[str]], scrape_interval: str = "1s"
    ) -> None:
        """``targets`` maps a job name to the host:port (or several) serving /metrics."""
        assert PROMETHEUS is not None, "prometheus is not installed"
        workdir.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": scrape_interval, "scrape_timeout": scrape_interval},
            "scrape_configs": [
                {
                    "job_name": job,
                    "static_configs": [
                        {"targets": [target] if isinstance(target, str) else target}
                    ],
                }
                for job, target in targets.items()
            ],
        }
        config_path = workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config))
        self.log_path = workdir / "prometheus.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={config_path}",
                    f"--storage.tsdb.path={workdir / 'tsdb'}",
                    "--web.listen-address=127.0.0.1:0",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.url = self._wait_for_address(60)
        self._wait_ready(60)

    def _wait_ready(self, timeout_s: float) -> None:
        """Queries get 503 until the TSDB is open, a while after the listener is up."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=10) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"prometheus never ready:\n{self.log_path.read_text()[-3000:]}")

    def _wait_for_address(self, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            match = _LISTENING.search(self.log_path.read_text(errors="replace"))
            if match:
                return f"http://{match.group(1)}"
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"prometheus did not start:\n{self.log_path.read_text()[-3000:]}")

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Instant query; the result vector (raises on an API error)."""
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def wait_for(self, promql: str, timeout_s: float) -> list[dict[str, Any]]:
        """Poll until the query returns data (the first scrape comes 5-6 s after start)."""
        deadline = time.monotonic() + timeout_s
        while True:
            result = self.query(promql)
            if result or time.monotonic() > deadline:
                return result
            time.sleep(0.25)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
