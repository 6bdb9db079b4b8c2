"""The Redis peer the benchmark starts, and reading servers' resource use from /proc.

The broker is ``contracts.launcher.BrokerProcess``. Redis runs as a child process on
127.0.0.1 with its data in a directory the caller owns (a temporary one) and is stopped
by its own PID: SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from contracts.launcher import free_port

__all__ = [
    "BenchSetupError",
    "CpuShare",
    "CpuSnapshot",
    "ProcessUsage",
    "RedisServer",
    "process_usage",
    "stop_process",
]

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchSetupError(RuntimeError):
    """Something the benchmark needs is missing or would not start (one-line reason)."""


def stop_process(proc: subprocess.Popen[bytes], grace_s: float = 15.0) -> int:
    """SIGTERM this process (by its PID), wait, SIGKILL if it lingers; its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return int(proc.returncode)


@dataclass(frozen=True, slots=True)
class ProcessUsage:
    rss_bytes: int  # VmRSS
    peak_rss_bytes: int  # VmHWM
    cpu_seconds: float  # user + system


def process_usage(pid: int) -> ProcessUsage:
    """Memory and CPU time of a process from /proc/PID/status and /proc/PID/stat."""
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(rest.split()[0]) * 1024  # reported in kB
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # the command name may contain spaces: fields after the closing parenthesis
    after = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(after[11]), int(after[12])
    return ProcessUsage(
        fields.get("VmRSS", 0), fields.get("VmHWM", 0), (utime + stime) / _CLOCK_TICKS
    )


@dataclass(frozen=True, slots=True)
class CpuSnapshot:
    """CPU seconds used so far: by the whole machine, one server, and this process
    with its waited-for children (the clients)."""

    at: float
    machine_busy_s: float
    server_s: float
    own_s: float

    @classmethod
    def take(cls, server_pid: int) -> CpuSnapshot:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        own = os.times()
        return cls(
            at=time.monotonic(),
            machine_busy_s=(sum(fields[:8]) - idle) / _CLOCK_TICKS,
            server_s=process_usage(server_pid).cpu_seconds,
            own_s=own.user + own.system + own.children_user + own.children_system,
        )


@dataclass(frozen=True, slots=True)
class CpuShare:
    """Average cores busy between two snapshots, split by who used them. ``other`` is
    everything else on the machine: a high value means the figures were disturbed."""

    server_cores: float
    client_cores: float
    other_cores: float

    @classmethod
    def between(cls, before: CpuSnapshot, after: CpuSnapshot) -> CpuShare:
        elapsed = max(after.at - before.at, 1e-9)
        server = (after.server_s - before.server_s) / elapsed
        client = (after.own_s - before.own_s) / elapsed
        machine = (after.machine_busy_s - before.machine_busy_s) / elapsed
        return cls(server, client, max(0.0, machine - server - client))


class RedisServer:
    """Debian's ``redis-server`` with AOF on and fsync every second, RDB snapshots off.

    Redis cannot listen on port 0, so a free port is picked first; the start is retried
    on another port if that one was taken in between.
    """

    def __init__(self, data_dir: Path, *, appendfsync: str = "everysec") -> None:
        self.data_dir = data_dir
        self.appendfsync = appendfsync
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.executable = shutil.which("redis-server")

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("redis-server is not running")
        return self.proc.pid

    def version(self) -> str:
        if self.executable is None:
            return "not installed"
        out = subprocess.run(
            [self.executable, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
        match = re.search(r"v=(\S+)", out)
        return match.group(1) if match else out.strip()

    def start(self, timeout_s: float = 20.0, attempts: int = 3) -> RedisServer:
        if self.executable is None:
            raise BenchSetupError(
                "redis-server is not installed (Debian: apt-get install redis-server), "
                "or pass --no-redis"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(attempts):
            self.port = free_port()
            if self._start_on(self.port, timeout_s):
                return self
        raise BenchSetupError(f"redis-server would not start: see {self.data_dir / 'redis.log'}")

    def _start_on(self, port: int, timeout_s: float) -> bool:
        assert self.executable is not None
        cmd = [
            self.executable,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            self.appendfsync,
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--logfile",
            str(self.data_dir / "redis.log"),
        ]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                return False
            if self._ping():
                return True
            time.sleep(0.02)
        self.stop()
        return False

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as sock:
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None
