"""A real broker in a subprocess, for integration and interop tests.

Starts ``python -m tidewatch broker`` on 127.0.0.1 with port 0 for both listeners,
learns the bound ports from its ready banner, and stops it by its own PID (SIGTERM,
then SIGKILL after a grace period). Output goes to a log file kept for failures.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["BrokerProcess"]

_BOOTSTRAP = re.compile(r"Kafka bootstrap (\S+):(\d+)")
_METRICS = re.compile(r"metrics\s+http://(\S+):(\d+)/metrics")


class BrokerProcess:
    def __init__(self, data_dir: Path, *args: str, log_path: Path | None = None) -> None:
        self.data_dir = data_dir
        self.args = list(args)
        self.log_path = log_path or data_dir.parent / f"{data_dir.name}-broker.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self.http_port = 0
        self._log_offset = 0

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout_s: float = 30.0, listen_port: int = 0) -> BrokerProcess:
        """Start and wait for the ready banner; ``listen_port`` reuses a port on restart."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        cmd = [
            sys.executable,
            "-m",
            "tidewatch",
            "broker",
            "--data-dir",
            str(self.data_dir),
            "--listen",
            f"127.0.0.1:{listen_port}",
            "--http",
            "127.0.0.1:0",
            *self.args,
        ]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            text = self.output()
            match = _BOOTSTRAP.search(text)
            http = _METRICS.search(text)
            if match and http:
                self.host, self.port = match.group(1), int(match.group(2))
                self.http_port = int(http.group(2))
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited with {self.proc.returncode}:\n{text}")
            time.sleep(0.05)
        self.kill()
        raise TimeoutError(f"broker not ready after {timeout_s}s:\n{self.output()}")

    def output(self) -> str:
        """What the broker printed since the last start."""
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(self._log_offset)
            return f.read().decode(errors="replace")

    def stop(self, timeout_s: float = 15.0) -> int:
        """SIGTERM and wait; SIGKILL if it does not exit in time. Returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        code = self.proc.returncode
        self.proc = None
        return code

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def restart(self, timeout_s: float = 30.0) -> BrokerProcess:
        """Start again on the same Kafka port (clients keep their bootstrap address)."""
        self.stop()
        return self.start(timeout_s, listen_port=self.port)
