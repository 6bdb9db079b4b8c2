"""A broker process the game day owns: start, SIGKILL, restart on the same port,
SIGSTOP/SIGCONT, stop (SIGTERM).

It runs ``python -m tidewatch broker`` on 127.0.0.1 with an optional config file (written
from a mapping) and ``--advertised`` address (the TCP proxy's, when clients must go
through it). The Kafka port is fixed at the first start (a free port is picked when
``--advertised`` hides the bound one from the ready banner) so that a restarted broker
is where clients and the proxy expect it. Output goes to a log file.

Only the process this object started is ever signalled, by its own PID.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = ["BrokerStartError", "ManagedBroker", "free_port"]

_BOOTSTRAP = re.compile(r"Kafka bootstrap (\S+):(\d+)")
_METRICS = re.compile(r"metrics\s+http://(\S+):(\d+)/metrics")


class BrokerStartError(RuntimeError):
    """The broker did not come up; the message carries its output."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (for listeners that must be known in advance)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class ManagedBroker:
    def __init__(
        self,
        data_dir: Path,
        config: Mapping[str, Any] | None = None,
        advertised: str | None = None,
        log_path: Path | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.data_dir = data_dir
        self.config = dict(config or {})
        self.advertised = advertised
        self.log_path = log_path or data_dir.parent / f"{data_dir.name}-broker.log"
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.http_port = 0
        self.paused = False
        self._log_offset = 0

    # --- addresses ---------------------------------------------------------------------
    @property
    def listen_address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def bootstrap(self) -> str:
        """Where clients should connect (the advertised address when there is one)."""
        return self.advertised or self.listen_address

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # --- lifecycle ---------------------------------------------------------------------
    def start(self, timeout_seconds: float = 30.0) -> ManagedBroker:
        if self.running:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.port == 0 and self.advertised is not None:
            self.port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "tidewatch",
            "broker",
            "--data-dir",
            str(self.data_dir),
            "--listen",
            f"127.0.0.1:{self.port}",
            "--http",
            f"127.0.0.1:{self.http_port}",
            *self.extra_args,
        ]
        if self.advertised is not None:
            cmd += ["--advertised", self.advertised]
        if self.config:
            config_path = self.data_dir.parent / f"{self.data_dir.name}-broker.yaml"
            config_path.write_text(yaml.safe_dump(self.config, sort_keys=True), encoding="utf-8")
            cmd += ["--config", str(config_path)]
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self.paused = False
        self._await_banner(timeout_seconds)
        return self

    def _await_banner(self, timeout_seconds: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            text = self.output()
            kafka, http = _BOOTSTRAP.search(text), _METRICS.search(text)
            if kafka and http:
                if self.advertised is None:
                    self.port = int(kafka.group(2))
                self.http_port = int(http.group(2))
                return
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                raise BrokerStartError(f"broker exited with {code}:\n{text}")
            time.sleep(0.05)
        self.kill()
        raise BrokerStartError(f"broker not ready after {timeout_seconds} s:\n{self.output()}")

    def output(self) -> str:
        """What the broker printed since its last start."""
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(self._log_offset)
            return f.read().decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL, as a crash would (a paused broker dies too)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None
        self.paused = False

    def stop(self, timeout_seconds: float = 15.0) -> None:
        """SIGTERM (after SIGCONT if paused); SIGKILL if it does not exit in time."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            if self.paused:
                self.resume()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_seconds)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        self.paused = False

    def restart(self, timeout_seconds: float = 30.0) -> ManagedBroker:
        """Start again on the same ports (after a kill or a stop)."""
        self.stop()
        return self.start(timeout_seconds)

    def pause(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        if self.proc is not None and self.proc.poll() is None and self.paused:
            self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def __enter__(self) -> ManagedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
