"""The fault library: every fault is undone, in reverse order, even when the scenario
fails half-way (fakes for the targets; no sockets)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from loadtest.faults.faults import (
    BrokerKill,
    BrokerPause,
    ConsumerSlow,
    ConsumerStop,
    DiskFill,
    Fault,
    FaultStack,
    FaultUnavailable,
    Tmpfs,
)
from loadtest.frames import Command
from tests.support import tools


class FakeBroker:
    def __init__(self) -> None:
        self.running = True
        self.paused = False
        self.calls: list[str] = []

    def kill(self) -> None:
        self.calls.append("kill")
        self.running = False

    def start(self, timeout_seconds: float = 30.0) -> object:
        self.calls.append("start")
        self.running = True
        return self

    def pause(self) -> None:
        self.calls.append("pause")
        self.paused = True

    def resume(self) -> None:
        self.calls.append("resume")
        self.paused = False


class FakeGroups:
    def __init__(self) -> None:
        self.commands: list[tuple[str, Command]] = []

    def control_group(self, group: str, command: Command) -> None:
        self.commands.append((group, command))


class Recorder(Fault):
    def __init__(self, name: str, log: list[str], fail_undo: bool = False) -> None:
        super().__init__()
        self.name = name
        self.log = log
        self.fail_undo = fail_undo

    def _inject(self) -> None:
        self.log.append(f"inject {self.name}")

    def _undo(self) -> None:
        self.log.append(f"undo {self.name}")
        if self.fail_undo:
            raise RuntimeError("cannot undo")


def test_a_fault_stack_undoes_everything_in_reverse_when_the_scenario_raises() -> None:
    log: list[str] = []

    def scenario() -> None:
        with FaultStack() as stack:
            stack.inject(Recorder("a", log))
            stack.inject(Recorder("b", log))
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        scenario()
    assert log == ["inject a", "inject b", "undo b", "undo a"]


def test_a_failing_undo_is_reported_and_the_other_faults_are_still_undone() -> None:
    log: list[str] = []
    stack = FaultStack()
    stack.inject(Recorder("a", log))
    stack.inject(Recorder("b", log, fail_undo=True))
    stack.undo_all()
    assert log[-2:] == ["undo b", "undo a"]
    assert stack.errors == ["undo b: RuntimeError: cannot undo"]


def test_undo_is_idempotent_and_covers_a_half_done_injection() -> None:
    broker = FakeBroker()

    class Breaks(BrokerPause):
        def _inject(self) -> None:
            super()._inject()
            raise OSError("signal lost")

    fault = Breaks(broker)
    with pytest.raises(OSError, match="signal lost"):
        fault.inject()
    fault.undo()
    fault.undo()
    assert broker.calls == ["pause", "resume"]


def test_broker_kill_is_undone_by_a_restart_and_pause_by_a_resume() -> None:
    broker = FakeBroker()
    with BrokerKill(broker):
        assert not broker.running
    with BrokerPause(broker):
        assert broker.paused
    assert broker.running
    assert not broker.paused
    assert broker.calls == ["kill", "start", "pause", "resume"]


def test_consumer_faults_pause_and_slow_the_named_group_then_restore_it() -> None:
    groups = FakeGroups()
    with ConsumerStop(groups, "billing"), ConsumerSlow(groups, "billing", 25):
        pass
    names = [(g, c.name, c.processing_ms) for g, c in groups.commands]
    assert names == [
        ("billing", "pause", 0.0),
        ("billing", "slow", 25.0),
        ("billing", "slow", 0.0),
        ("billing", "resume", 0.0),
    ]


def test_a_tmpfs_that_cannot_be_mounted_is_unavailable_with_the_reason(tmp_path: Path) -> None:
    def refuse(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        return subprocess.CompletedProcess(args, 32, b"", b"mount: permission denied")

    tmpfs = Tmpfs(tmp_path / "data", 1 << 20, run=refuse)
    if os.geteuid() != 0:
        with pytest.raises(FaultUnavailable, match="needs root"):
            tmpfs.mount()
    else:
        with pytest.raises(FaultUnavailable, match="permission denied"):
            tmpfs.mount()
    assert not tmpfs.mounted


def test_disk_full_refuses_a_real_disk(tmp_path: Path) -> None:
    if shutil.disk_usage(tmp_path).total <= 1 << 30:
        pytest.skip("the temporary directory is on a small filesystem")
    with pytest.raises(FaultUnavailable, match="small tmpfs"):
        DiskFill(tmp_path).inject()


def test_disk_full_fills_a_tmpfs_and_undo_frees_it(tmp_path: Path) -> None:
    try:
        tmpfs = Tmpfs(tmp_path / "data", 4 << 20)
        tmpfs.mount()
    except FaultUnavailable as exc:
        tools.missing_component(str(exc), tools.TMPFS_HINT)
    try:
        with DiskFill(tmpfs.path, leave_bytes=0):
            assert shutil.disk_usage(tmpfs.path).free < 64 << 10
            with pytest.raises(OSError):
                _write(tmpfs.path / "more", 256 << 10)
            (tmpfs.path / "more").unlink(missing_ok=True)
        assert shutil.disk_usage(tmpfs.path).free > 3 << 20
    finally:
        tmpfs.unmount()
    assert not os.path.ismount(tmp_path / "data")


def _write(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        f.write(b"x" * size)
        f.flush()
