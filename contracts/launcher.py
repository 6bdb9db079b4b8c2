"""Starting Tidewatch processes and knowing when they are ready.

The launchers (:class:`BrokerProcess`, :class:`UpProcess`) start
``python -m tidewatch broker|up ... --ready-file PATH`` as a child process with its
output in a log file, poll for the ready file (``contracts.ready_file``; a generous
deadline only bounds a hang, and a child that exits first fails at once with its
output), and signal only the child they started, by its PID. Several run side by side:
give each its own data dir under one parent and its files are named after it
(:func:`start_all` spawns them all, then waits). They are not thread-safe: one owner
drives each. This is the project's one way to start a broker process; nothing reads
the human start-up banner. This module imports no feature package.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, Self, TypeVar

import yaml

from contracts.fields import HostPort
from contracts.ready_file import (
    BrokerReady,
    UpReady,
    read_ready_file,
    remove_ready_file,
)

__all__ = [
    "DEFAULT_START_TIMEOUT_SECONDS",
    "BrokerProcess",
    "ProcessStartError",
    "ReadyFileProcess",
    "UpProcess",
    "free_port",
    "start_all",
    "stop_all",
]

DEFAULT_START_TIMEOUT_SECONDS = 90.0  # bounds a hang only; a busy machine must not hit it
DEFAULT_STOP_GRACE_SECONDS = 30.0
_POLL_SECONDS = 0.02
_LOG_TAIL_LINES = 40


class ProcessStartError(RuntimeError):
    """A child did not become ready; the message carries its exit code and log tail."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago, for servers that cannot bind port 0 and
    report it (Redis, Prometheus). Tidewatch's own servers take port 0 instead."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


ReadyT = TypeVar("ReadyT")


class ReadyFileProcess(ABC, Generic[ReadyT]):
    """A ``python -m tidewatch`` child that announces readiness with a ready file.

    ``start`` = ``spawn`` + ``wait_ready``; the two halves are public for callers that
    time a start themselves or start several children before waiting on any.
    ``output()`` is what the child printed since its last spawn (the log file keeps
    every run). Only this object's own child is ever signalled, by its PID.
    """

    stop_signal = signal.SIGTERM
    label = "process"

    def __init__(self, *, log_path: Path, ready_path: Path) -> None:
        self.log_path = log_path
        self.ready_path = ready_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.paused = False
        self._ready: ReadyT | None = None
        self._log_offset = 0

    @abstractmethod
    def command(self) -> list[str]:
        """The argv of the next start (``--ready-file`` included)."""

    @abstractmethod
    def parse_ready(self, document: Mapping[str, Any]) -> ReadyT: ...

    @property
    @abstractmethod
    def kind(self) -> str: ...

    def after_ready(self, ready: ReadyT) -> None:
        """A hook for subclasses: remember what the next start should reuse."""

    # --- state --------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError(f"the {self.label} is not running")
        return self.proc.pid

    @property
    def ready(self) -> ReadyT:
        """The document of the latest start that became ready; it is kept across stop,
        kill and the next spawn until a new one replaces it (addresses stay known)."""
        if self._ready is None:
            raise RuntimeError(f"the {self.label} has not become ready")
        return self._ready

    def output(self) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_offset)
                return log.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        return "\n".join(self.output().splitlines()[-lines:]) or "(no output)"

    # --- lifecycle ----------------------------------------------------------------
    def spawn(self) -> None:
        """Start the child without waiting (a stale ready file is removed first)."""
        if self.running:
            raise RuntimeError(f"the {self.label} is already running (pid {self.pid})")
        remove_ready_file(self.ready_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.ready_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.paused = False
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(os.environ, PYTHONUNBUFFERED="1"),
                start_new_session=True,  # a Ctrl-C meant for the owner does not reach it
            )

    def wait_ready(self, timeout_seconds: float = DEFAULT_START_TIMEOUT_SECONDS) -> ReadyT:
        """Poll for this child's ready file. Raises ``ProcessStartError`` with the log
        tail when the child exits first or the deadline passes (the child is killed)."""
        if self.proc is None:
            raise RuntimeError(f"the {self.label} was not started")
        deadline = time.monotonic() + timeout_seconds
        while True:
            document = read_ready_file(self.ready_path, self.kind)
            if document is not None and document.get("pid") == self.proc.pid:
                self._ready = self.parse_ready(document)
                self.after_ready(self._ready)
                return self._ready
            code = self.proc.poll()
            if code is not None:
                self.proc = None
                raise ProcessStartError(
                    f"{self.label} exited with code {code} before it was ready "
                    f"(log {self.log_path}):\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.kill()
                raise ProcessStartError(
                    f"{self.label} not ready after {timeout_seconds:g} s "
                    f"(log {self.log_path}):\n{self.log_tail()}"
                )
            time.sleep(_POLL_SECONDS)

    def start(self, timeout_seconds: float = DEFAULT_START_TIMEOUT_SECONDS) -> Self:
        """Start and wait until ready; a no-op when already running."""
        if not self.running:
            self.spawn()
            self.wait_ready(timeout_seconds)
        return self

    def stop(self, grace_seconds: float = DEFAULT_STOP_GRACE_SECONDS) -> int | None:
        """The stop signal (after SIGCONT if paused), then SIGKILL after ``grace_seconds``.
        Returns the exit code (None when nothing was running)."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            if self.paused:
                proc.send_signal(signal.SIGCONT)
            proc.send_signal(self.stop_signal)
            try:
                proc.wait(grace_seconds)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.paused = False
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL, as a crash would (a paused child dies too). The ready file stays,
        as after a crash; the next spawn removes it."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
        self.proc = None
        self.paused = False

    def restart(self, timeout_seconds: float = DEFAULT_START_TIMEOUT_SECONDS) -> Self:
        """Stop (if running) and start again (subclasses reuse their ports)."""
        self.stop()
        return self.start(timeout_seconds)

    def pause(self) -> None:
        """SIGSTOP: the child keeps its sockets but answers nothing."""
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        if self.running and self.paused:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _tidewatch(*args: str) -> list[str]:
    return [sys.executable, "-m", "tidewatch", *args]


class BrokerProcess(ReadyFileProcess[BrokerReady]):
    """``tidewatch broker`` in a child process on ``listen_host``.

    Ports default to 0; once the broker is ready its bound ports are kept, so every
    later start (after ``stop``, ``kill`` or in ``restart``) binds the same ones and
    clients keep their bootstrap address. ``config`` is written to a YAML file next to
    the data dir; ``http_port=None`` turns HTTP off. The log, ready and config files
    are named after the data dir (``<data>-broker.log``, ``<data>-ready.json``), so
    brokers with sibling data dirs under one parent never share a file.
    """

    label = "broker"

    def __init__(
        self,
        data_dir: Path,
        *extra_args: str,
        config: Mapping[str, Any] | None = None,
        listen_port: int = 0,
        http_port: int | None = 0,
        advertised: str | None = None,
        listen_host: str = "127.0.0.1",
        log_path: Path | None = None,
        ready_path: Path | None = None,
    ) -> None:
        super().__init__(
            log_path=log_path or data_dir.with_name(f"{data_dir.name}-broker.log"),
            ready_path=ready_path or data_dir.with_name(f"{data_dir.name}-ready.json"),
        )
        self.data_dir = data_dir
        self.extra_args = tuple(extra_args)
        self.config = dict(config or {})
        self.listen_port = listen_port
        self.http_port = http_port
        self.advertised = advertised
        self.listen_host = listen_host
        self.config_path = data_dir.with_name(f"{data_dir.name}-broker.yaml")

    @property
    def kind(self) -> str:
        return BrokerReady.KIND

    def parse_ready(self, document: Mapping[str, Any]) -> BrokerReady:
        return BrokerReady.from_json(document)

    def after_ready(self, ready: BrokerReady) -> None:
        self.listen_port = ready.kafka.port
        if ready.http is not None:
            self.http_port = ready.http.port

    def command(self) -> list[str]:
        argv = _tidewatch("broker", "--data-dir", str(self.data_dir))
        argv += ["--listen", f"{self.listen_host}:{self.listen_port}"]
        config = dict(self.config)
        if self.http_port is None:
            config["http"] = None
        else:
            argv += ["--http", f"{self.listen_host}:{self.http_port}"]
        if config:
            self.config_path.parent.mkdir(parents=True, exist_ok=True)
            self.config_path.write_text(yaml.safe_dump(config, sort_keys=True), encoding="utf-8")
            argv += ["--config", str(self.config_path)]
        if self.advertised is not None:
            argv += ["--advertised", self.advertised]
        return [*argv, "--ready-file", str(self.ready_path), *self.extra_args]

    # --- where it is (from the last ready file) -----------------------------------
    @property
    def bootstrap(self) -> str:
        """Where clients connect: the advertised address (the listener unless set)."""
        return self.ready.bootstrap

    @property
    def host(self) -> str:
        return self.ready.advertised.host

    @property
    def port(self) -> int:
        return self.ready.advertised.port

    @property
    def listen_address(self) -> HostPort:
        """The Kafka listener as bound (differs from ``bootstrap`` behind a proxy)."""
        return self.ready.kafka

    @property
    def http_url(self) -> str:
        url = self.ready.http_url
        if url is None:
            raise RuntimeError("this broker runs without HTTP")
        return url

    @property
    def node_id(self) -> int:
        return self.ready.node_id


class UpProcess(ReadyFileProcess[UpReady]):
    """``tidewatch up`` in a child process, on port 0 for Kafka and HTTP unless given.
    Stopped with SIGINT, as Ctrl-C would. Files are named like ``BrokerProcess``'s."""

    label = "tidewatch up"
    stop_signal = signal.SIGINT

    def __init__(
        self,
        data_dir: Path,
        *extra_args: str,
        listen: str = "127.0.0.1:0",
        http: str = "127.0.0.1:0",
        log_path: Path | None = None,
        ready_path: Path | None = None,
    ) -> None:
        super().__init__(
            log_path=log_path or data_dir.with_name(f"{data_dir.name}-up.log"),
            ready_path=ready_path or data_dir.with_name(f"{data_dir.name}-ready.json"),
        )
        self.data_dir = data_dir
        self.extra_args = tuple(extra_args)
        self.listen = listen
        self.http = http

    @property
    def kind(self) -> str:
        return UpReady.KIND

    def parse_ready(self, document: Mapping[str, Any]) -> UpReady:
        return UpReady.from_json(document)

    def command(self) -> list[str]:
        return _tidewatch(
            "up",
            *("--data-dir", str(self.data_dir), "--listen", self.listen, "--http", self.http),
            *("--ready-file", str(self.ready_path), *self.extra_args),
        )

    @property
    def bootstrap(self) -> str:
        return self.ready.bootstrap

    @property
    def status_page_url(self) -> str:
        return self.ready.status_page_url


ProcessT = TypeVar("ProcessT", bound=ReadyFileProcess[Any])


def start_all(
    processes: Sequence[ProcessT], timeout_seconds: float = DEFAULT_START_TIMEOUT_SECONDS
) -> list[ProcessT]:
    """Spawn every process, then wait for each (they start side by side). If one fails,
    all are stopped and its ``ProcessStartError`` propagates."""
    try:
        for process in processes:
            process.spawn()
        for process in processes:
            process.wait_ready(timeout_seconds)
    except BaseException:
        stop_all(processes)
        raise
    return list(processes)


def stop_all(processes: Iterable[ReadyFileProcess[Any]]) -> None:
    """Stop every process, last started first; one failure does not spare the rest."""
    errors: list[BaseException] = []
    for process in reversed(list(processes)):
        try:
            process.stop()
        except Exception as exc:  # pragma: no cover - reported after the others stop
            errors.append(exc)
    if errors:
        raise errors[0]
