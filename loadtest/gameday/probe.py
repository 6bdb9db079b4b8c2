"""The synthetic probe in a game day: ``tidewatch probe`` against the scenario's broker.

With ``probes: true`` the runner starts the probe (issue 5, ``synthetics/``) in its own
process with a generated config, Prometheus scrapes it as job ``tidewatch-probe`` (so the
alert pack's probe alerts and SLOs apply), and at the end its anomaly counters are read
for ``expect.probes``: records acknowledged and never read back (``lost``),
``duplicates``, ``reordered``, ``corrupted``. Metric names come from the probe catalog
through :data:`synthetics.catalog.PROBE_METRICS`, the one place they are mapped by role.

When the probe is not part of the build, :func:`unavailable` says why and the probe
expectations are reported as skipped.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Final

import yaml

from contracts.launcher import free_port
from slo.sources.local import parse_exposition
from synthetics.catalog import PROBE_METRICS, ProbeMetrics

__all__ = ["ProbeProcess", "probe_counts", "unavailable"]

# expect.probes field -> ProbeMetrics role
ROLES: Final = {
    "lost": "lost",
    "duplicates": "duplicated",
    "reordered": "reordered",
    "corrupted": "corrupted",
}


def unavailable() -> str | None:
    """Why no probe can run in this build (None when it can)."""
    # The probe runs as its own process (``python -m tidewatch probe``); all a game day
    # needs to know is whether the command's package is installed.
    if importlib.util.find_spec("synthetics.cli") is None:
        return "tidewatch probe is not part of this build"
    return None


def probe_counts(metrics_text: str, probes: ProbeMetrics = PROBE_METRICS) -> dict[str, int]:
    """``expect.probes`` counts summed over every series of the probe's counters."""
    samples = parse_exposition(metrics_text)
    out: dict[str, int] = {}
    for field, role in ROLES.items():
        spec = getattr(probes, role)
        if spec is None:
            continue
        out[field] = int(sum(s.value for s in samples if s.name == spec.name))
    return out


class ProbeProcess:
    """``python -m tidewatch probe`` with a one-target config, stopped by its PID.
    ``bootstrap``: one address or several, comma-separated (a cluster)."""

    def __init__(self, workdir: Path, bootstrap: str, lost_after_seconds: float = 10.0) -> None:
        self.workdir = workdir
        self.bootstrap = bootstrap
        self.lost_after = lost_after_seconds
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_seconds: float = 30.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config = {
            "http": self.address,
            "targets": [
                {
                    "name": "gameday",
                    "cluster": "local",
                    "bootstrap_servers": self.bootstrap.split(","),
                    "interval": "1s",
                    "sla": {"ack": "1s", "end_to_end": "1s", "lost_after": f"{self.lost_after:g}s"},
                }
            ],
        }
        path = self.workdir / "probe.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=True), encoding="utf-8")
        log = open(self.workdir / "probe.log", "ab")  # noqa: SIM115 - owned by the process
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        cmd = [sys.executable, "-m", "tidewatch", "probe", "--config", str(path)]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tidewatch probe exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(f"http://{self.address}/healthz", timeout=1):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        raise RuntimeError(f"tidewatch probe not ready after {timeout_seconds} s")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://{self.address}/metrics", timeout=5) as response:
            return str(response.read().decode())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
