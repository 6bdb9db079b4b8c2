"""Prometheus and Alertmanager for ``tidewatch up --with-prometheus``.

Both run as child processes on loopback with files written under the data directory:
Prometheus scrapes the platform's ``/metrics`` (and every broker's, when the brokers
run as separate processes) and evaluates the generated rules
(``alerts/generated``), and sends alerts to Alertmanager, which routes them with the
generated configuration. They are stopped by PID (SIGTERM, then SIGKILL) on ``stop``.
Missing binaries are reported, not fatal: the platform runs without them.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal
import subprocess
from pathlib import Path

import yaml

from alerts.scrape import prometheus_config
from contracts.fields import HostPort

__all__ = ["MonitoringStack"]

log = logging.getLogger(__name__)

GENERATED = Path(__file__).resolve().parent.parent / "alerts" / "generated"
RULE_FILES = ("slo-rules.yaml", "infrastructure-rules.yaml")


def _binary(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


class MonitoringStack:
    def __init__(
        self,
        directory: Path,
        *,
        broker_targets: tuple[HostPort, ...],
        platform_targets: tuple[HostPort, ...] = (),
        prometheus: HostPort,
        alertmanager: HostPort,
        cluster: str,
    ) -> None:
        """``broker_targets``: the HTTP addresses serving broker metrics (the platform's
        own when its broker runs in-process); ``platform_targets``: the platform's HTTP
        address when its brokers run apart (see ``alerts.scrape.prometheus_config``)."""
        self.directory = directory
        self.broker_targets = broker_targets
        self.platform_targets = platform_targets
        self.prometheus = prometheus
        self.alertmanager = alertmanager
        self.cluster = cluster
        self._processes: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.missing: list[str] = []

    def urls(self) -> dict[str, str]:
        running = {name for name, _ in self._processes}
        urls = {}
        if "prometheus" in running:
            urls["prometheus"] = f"http://{self.prometheus}"
        if "alertmanager" in running:
            urls["alertmanager"] = f"http://{self.alertmanager}"
        return urls

    async def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        alertmanager = _binary("prometheus-alertmanager", "alertmanager")
        prometheus = _binary("prometheus")
        if alertmanager is None:
            self.missing.append("alertmanager")
        else:
            self._spawn(
                "alertmanager",
                [
                    alertmanager,
                    f"--config.file={GENERATED / 'alertmanager.yml'}",
                    f"--storage.path={self.directory / 'alertmanager'}",
                    f"--web.listen-address={self.alertmanager}",
                    "--cluster.listen-address=",
                ],
            )
        if prometheus is None:
            self.missing.append("prometheus")
        else:
            config = prometheus_config(
                [str(GENERATED / name) for name in RULE_FILES],
                broker_targets=[str(t) for t in self.broker_targets],
                platform_targets=[str(t) for t in self.platform_targets],
                alertmanagers=(str(self.alertmanager),) if alertmanager else (),
                cluster=self.cluster,
                scrape_interval="5s",
                evaluation_interval="5s",
            )
            path = self.directory / "prometheus.yml"
            path.write_text(yaml.safe_dump(config, sort_keys=True))
            self._spawn(
                "prometheus",
                [
                    prometheus,
                    f"--config.file={path}",
                    f"--storage.tsdb.path={self.directory / 'prometheus'}",
                    f"--web.listen-address={self.prometheus}",
                ],
            )
        if self.missing:
            log.warning(
                "--with-prometheus: %s not installed (Debian packages prometheus and "
                "prometheus-alertmanager); running without",
                " and ".join(self.missing),
            )
        await asyncio.sleep(0.5)
        for name, process in self._processes:
            if process.poll() is not None:
                log.error(
                    "%s exited at start with code %s; see %s",
                    name,
                    process.returncode,
                    self.directory / f"{name}.log",
                )

    def _spawn(self, name: str, command: list[str]) -> None:
        with open(self.directory / f"{name}.log", "ab") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        self._processes.append((name, process))

    async def stop(self) -> None:
        for _, process in reversed(self._processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in reversed(self._processes):
            try:
                await asyncio.to_thread(process.wait, 10)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within 10 s; killing it", name)
                process.kill()
                await asyncio.to_thread(process.wait, 5)
        self._processes.clear()
