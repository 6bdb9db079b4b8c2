"""The fault library: each fault can be injected and undone, and is always undone.

Every :class:`Fault` has ``inject()`` and ``undo()``; ``undo`` is idempotent and safe to
call when ``inject`` failed half-way. A fault is a context manager (undone on exit,
whatever happened inside), and a :class:`FaultStack` undoes every fault injected
through it in reverse order when the game day ends, even when the scenario failed or was
interrupted. Faults that cannot run here (no permission to mount a tmpfs) raise
:class:`FaultUnavailable` with the reason, so a scenario can report them as skipped.

Targets are small interfaces, so the library works with any implementation: the broker
(:class:`BrokerControl`, e.g. :class:`~contracts.launcher.BrokerProcess`), a
consumer group (:class:`GroupControl`, e.g. the load generator), the TCP proxy.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from loadtest.faults.proxy import Direction, ProxyMode
from loadtest.frames import Command

__all__ = [
    "BrokerControl",
    "BrokerKill",
    "BrokerPause",
    "ConsumerSlow",
    "ConsumerStop",
    "DiskFill",
    "Fault",
    "FaultStack",
    "FaultUnavailable",
    "GroupControl",
    "NetworkControl",
    "ProxyDrop",
    "ProxyLatency",
    "RetentionShrink",
    "Tmpfs",
]

log = logging.getLogger(__name__)


class FaultUnavailable(RuntimeError):
    """The fault cannot run on this machine; ``str()`` says why."""


class BrokerControl(Protocol):
    @property
    def running(self) -> bool: ...
    def kill(self) -> None: ...
    def start(self, timeout_seconds: float = 30.0) -> object: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...


class GroupControl(Protocol):
    def control_group(self, group: str, command: Command) -> None: ...


class Fault:
    """Base class: subclasses implement ``_inject`` and ``_undo``."""

    name = "fault"

    def __init__(self) -> None:
        self.active = False

    def describe(self) -> str:
        return self.name

    def inject(self) -> None:
        self.active = True  # set first: a half-done injection is undone too
        self._inject()

    def undo(self) -> None:
        if self.active:
            self.active = False
            self._undo()

    def _inject(self) -> None:
        raise NotImplementedError

    def _undo(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Fault:
        self.inject()
        return self

    def __exit__(self, *exc: object) -> None:
        self.undo()


class BrokerKill(Fault):
    """SIGKILL the broker; undo starts it again (on the same ports, same data)."""

    name = "broker-kill"

    def __init__(self, broker: BrokerControl) -> None:
        super().__init__()
        self.broker = broker

    def _inject(self) -> None:
        self.broker.kill()

    def _undo(self) -> None:
        if not self.broker.running:
            self.broker.start()


class BrokerPause(Fault):
    """SIGSTOP the broker (it hangs: connections stay open, nothing answers); SIGCONT."""

    name = "broker-pause"

    def __init__(self, broker: BrokerControl) -> None:
        super().__init__()
        self.broker = broker

    def _inject(self) -> None:
        self.broker.pause()

    def _undo(self) -> None:
        self.broker.resume()


class ConsumerStop(Fault):
    """Stop a consumer group consuming (its members pause; nothing is committed)."""

    name = "consumer-stop"

    def __init__(self, control: GroupControl, group: str) -> None:
        super().__init__()
        self.control = control
        self.group = group

    def describe(self) -> str:
        return f"{self.name} {self.group}"

    def _inject(self) -> None:
        self.control.control_group(self.group, Command("pause"))

    def _undo(self) -> None:
        self.control.control_group(self.group, Command("resume"))


class ConsumerSlow(Fault):
    """Make every member of a group spend ``processing_ms`` per record."""

    name = "consumer-slow"

    def __init__(self, control: GroupControl, group: str, processing_ms: float) -> None:
        super().__init__()
        self.control = control
        self.group = group
        self.processing_ms = processing_ms

    def describe(self) -> str:
        return f"{self.name} {self.group} {self.processing_ms:g} ms/record"

    def _inject(self) -> None:
        self.control.control_group(self.group, Command("slow", processing_ms=self.processing_ms))

    def _undo(self) -> None:
        self.control.control_group(self.group, Command("slow", processing_ms=0.0))


class NetworkControl(Protocol):
    """What network faults need of a proxy (a
    :class:`~loadtest.faults.proxy.ThreadedFaultProxy`, or a
    :class:`~loadtest.faults.proxy.FaultProxy` driven from its own loop's thread)."""

    def set_latency(self, latency_seconds: float, jitter_seconds: float = 0.0) -> None: ...
    def set_mode(self, mode: ProxyMode, direction: Direction = "both") -> None: ...


class ProxyLatency(Fault):
    name = "network-latency"

    def __init__(self, proxy: NetworkControl, latency_ms: float, jitter_ms: float = 0.0) -> None:
        super().__init__()
        self.proxy = proxy
        self.latency_ms = latency_ms
        self.jitter_ms = jitter_ms

    def describe(self) -> str:
        return f"{self.name} +{self.latency_ms:g} ms each way"

    def _inject(self) -> None:
        self.proxy.set_latency(self.latency_ms / 1000, self.jitter_ms / 1000)

    def _undo(self) -> None:
        self.proxy.set_latency(0.0)


class ProxyDrop(Fault):
    """Drop connections: ``reset`` aborts them and refuses new ones; ``blackhole``
    keeps them open and delivers nothing (``direction``: requests, responses or both);
    ``refuse`` keeps open ones and closes new ones."""

    name = "network-drop"

    def __init__(
        self, proxy: NetworkControl, mode: ProxyMode = "reset", direction: Direction = "both"
    ) -> None:
        super().__init__()
        self.proxy = proxy
        self.mode: ProxyMode = mode
        self.direction: Direction = direction

    def describe(self) -> str:
        way = "" if self.direction == "both" else f" {self.direction}"
        return f"{self.name} ({self.mode}{way})"

    def _inject(self) -> None:
        self.proxy.set_mode(self.mode, self.direction)

    def _undo(self) -> None:
        self.proxy.set_mode("forward")


@dataclass
class Tmpfs:
    """A small tmpfs mounted at ``path`` (the broker's data directory) for disk faults.

    ``mount()`` raises FaultUnavailable when mounting is not permitted (not root, no
    CAP_SYS_ADMIN, inside some containers). Unmount only after the broker stopped.
    """

    path: Path
    size_bytes: int
    mounted: bool = False
    run: Callable[..., subprocess.CompletedProcess[bytes]] = field(default=subprocess.run)

    def mount(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            raise FaultUnavailable("mounting a tmpfs needs root (CAP_SYS_ADMIN)")
        options = f"size={self.size_bytes},mode=0755"
        result = self.run(
            ["mount", "-t", "tmpfs", "-o", options, "tidewatch-gameday", str(self.path)],
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            reason = result.stderr.decode(errors="replace").strip() or f"exit {result.returncode}"
            raise FaultUnavailable(f"cannot mount a tmpfs at {self.path}: {reason}")
        self.mounted = True

    def unmount(self) -> None:
        if self.mounted:
            result = self.run(["umount", str(self.path)], capture_output=True, check=False)
            if result.returncode != 0:
                log.warning("umount %s: %s", self.path, result.stderr.decode(errors="replace"))
                self.run(["umount", "-l", str(self.path)], capture_output=True, check=False)
            self.mounted = False

    def __enter__(self) -> Tmpfs:
        self.mount()
        return self

    def __exit__(self, *exc: object) -> None:
        self.unmount()


class DiskFill(Fault):
    """Fill the filesystem holding ``directory`` with a ballast file, leaving
    ``leave_bytes`` free; undo deletes the ballast.

    Meant for a data directory on a :class:`Tmpfs`: filling a real disk would hurt
    everything else on the machine, so the fault refuses a filesystem larger than
    ``max_filesystem_bytes``.
    """

    name = "disk-full"
    BALLAST = ".tidewatch-gameday-ballast"

    def __init__(
        self, directory: Path, leave_bytes: int = 0, max_filesystem_bytes: int = 1 << 30
    ) -> None:
        super().__init__()
        self.directory = directory
        self.leave_bytes = leave_bytes
        self.max_filesystem_bytes = max_filesystem_bytes

    @property
    def ballast(self) -> Path:
        return self.directory / self.BALLAST

    def _inject(self) -> None:
        usage = shutil.disk_usage(self.directory)
        if usage.total > self.max_filesystem_bytes:
            raise FaultUnavailable(
                f"{self.directory} is on a {usage.total >> 20} MiB filesystem; disk-full "
                "runs only on a small tmpfs data directory (scenario: broker.tmpfs)"
            )
        block = b"\0" * (1 << 20)
        with open(self.ballast, "wb") as f:
            while True:
                free = shutil.disk_usage(self.directory).free - self.leave_bytes
                if free <= 0:
                    break
                try:
                    f.write(block[: min(len(block), free)])
                    f.flush()
                except OSError:  # ENOSPC: full
                    break

    def _undo(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.ballast.unlink()


class RetentionShrink(Fault):
    """Set a topic's ``retention.ms`` (and optionally ``segment.ms``) low so that
    retention deletes data, unconsumed or not; undo restores the previous values
    (read with DescribeConfigs before the change)."""

    name = "retention-shrink"

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        retention_ms: int,
        segment_ms: int | None = None,
        timeout_seconds: float = 15.0,
    ) -> None:
        super().__init__()
        self.bootstrap = bootstrap
        self.topic = topic
        self.retention_ms = retention_ms
        self.segment_ms = segment_ms
        self.timeout = timeout_seconds
        self.previous: dict[str, str] = {}

    def describe(self) -> str:
        return f"{self.name} {self.topic} retention.ms={self.retention_ms}"

    def _changes(self) -> dict[str, str]:
        changes = {"retention.ms": str(self.retention_ms)}
        if self.segment_ms is not None:
            changes["segment.ms"] = str(self.segment_ms)
        return changes

    def _inject(self) -> None:
        from loadtest.faults.admin import describe_topic_configs, set_topic_configs

        current = describe_topic_configs(self.bootstrap, self.topic, self.timeout)
        self.previous = {k: current[k] for k in self._changes() if k in current}
        set_topic_configs(self.bootstrap, self.topic, self._changes(), self.timeout)

    def _undo(self) -> None:
        from loadtest.faults.admin import set_topic_configs

        if self.previous:
            set_topic_configs(self.bootstrap, self.topic, self.previous, self.timeout)


class FaultStack:
    """Injects faults and undoes every one of them, last first, on :meth:`undo_all`
    or on leaving the ``with`` block (also when the block raised)."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.errors: list[str] = []

    def inject(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        fault.inject()
        return fault

    def undo(self, fault: Fault) -> None:
        try:
            fault.undo()
        except Exception as exc:  # keep undoing the others; report it
            self.errors.append(f"undo {fault.describe()}: {type(exc).__name__}: {exc}")
            log.exception("undo %s failed", fault.describe())

    def undo_all(self) -> None:
        while self.faults:
            self.undo(self.faults.pop())

    @property
    def active(self) -> list[Fault]:
        return [f for f in self.faults if f.active]

    def __enter__(self) -> FaultStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.undo_all()
