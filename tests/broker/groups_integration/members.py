"""Consumer-group members in their own processes, and what they report.

``GroupMember`` starts one consumer of a client family: the Python families through
``group_member.py``, kcat as its own balanced consumer (``kcat -G``). Either way the
test reads back, from files, the member's current assignment (as the client itself
sees it) and every record it consumed. Members are stopped by their own PID: SIGKILL
(a crash: no LeaveGroup, the session must expire) or SIGTERM (a polite close).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from tests.broker.groups_integration.group_member import HEARTBEAT_INTERVAL_MS, SESSION_TIMEOUT_MS
from tests.support import tools

__all__ = ["FAMILIES", "Consumed", "GroupMember", "wait_until"]

FAMILIES = ("confluent", "kafka-python", "aiokafka", "kcat")
T = TypeVar("T")
_ROOT = Path(__file__).resolve().parents[3]
_KCAT_EVENT = re.compile(r"rebalanced \(memberid [^)]*\): (assigned|revoked): (.*)$")
_KCAT_PARTITION = re.compile(r"\[(\d+)\]")


def wait_until(
    probe: Callable[[], T | None], timeout_s: float, what: str, interval_s: float = 0.1
) -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what} (last: {last!r})")


class GroupMember:
    def __init__(
        self,
        family: str,
        bootstrap: str,
        group: str,
        topic: str,
        workdir: Path,
        name: str,
        instance_id: str = "",
        session_timeout_ms: int = SESSION_TIMEOUT_MS,
    ) -> None:
        self.family = family
        self.name = name
        self.out = workdir / f"{name}.out"
        self.err = workdir / f"{name}.err"
        if family == "kcat":
            # kcat prints records on stdout (unbuffered, -u) and rebalances on stderr.
            cmd = [
                tools.require_tool(tools.KCAT),
                "-b",
                bootstrap,
                "-G",
                group,
                "-u",
                "-f",
                "R %p %o %s\\n",
                "-X",
                f"client.id={name}",
                "-X",
                f"session.timeout.ms={session_timeout_ms}",
                "-X",
                f"heartbeat.interval.ms={HEARTBEAT_INTERVAL_MS}",
                "-X",
                "auto.offset.reset=earliest",
                "-X",
                "auto.commit.interval.ms=100",
                *(["-X", f"group.instance.id={instance_id}"] if instance_id else []),
                topic,
            ]
        else:
            cmd = [
                sys.executable,
                "-m",
                "tests.broker.groups_integration.group_member",
                "--client",
                family,
                "--bootstrap",
                bootstrap,
                "--group",
                group,
                "--topic",
                topic,
                "--out",
                str(self.out),
                "--client-id",
                name,
                *(["--instance-id", instance_id] if instance_id else []),
                *("--session-timeout-ms", str(session_timeout_ms)),
            ]
        with open(self.out, "ab") as out, open(self.err, "ab") as err:
            stdout = out if family == "kcat" else subprocess.DEVNULL
            self.proc = subprocess.Popen(cmd, stdout=stdout, stderr=err, cwd=_ROOT)

    # -- what the member reports ---------------------------------------------------------

    def _lines(self, path: Path) -> list[str]:
        if not path.exists():
            return []
        text = path.read_text(encoding="utf-8", errors="replace")
        # A line still being written has no newline yet: ignore it.
        return text.split("\n")[:-1]

    def assignment(self) -> set[int] | None:
        """The partitions the client says it owns now (None before its first rebalance)."""
        current: set[int] | None = None
        if self.family == "kcat":
            for line in self._lines(self.err):
                match = _KCAT_EVENT.search(line)
                if match is None:
                    continue
                parts = {int(p) for p in _KCAT_PARTITION.findall(match.group(2))}
                current = parts if match.group(1) == "assigned" else (current or set()) - parts
            return current
        for line in self._lines(self.out):
            if line.startswith("A"):
                current = {int(p) for p in line[2:].split(",") if p}
        return current

    def records(self) -> list[tuple[int, int, str]]:
        out = []
        for line in self._lines(self.out):
            if line.startswith("R "):
                _, partition, offset, value = line.split(" ", 3)
                out.append((int(partition), int(offset), value))
        return out

    def rebalance_events(self) -> int:
        """How many rebalance callbacks (assignments and revocations) it reported."""
        if self.family == "kcat":
            return sum("rebalanced" in line for line in self._lines(self.err))
        return sum(line.startswith("A") for line in self._lines(self.out))

    def closed_politely(self) -> bool:
        return "X" in self._lines(self.out)

    def log(self) -> str:
        return self.err.read_text(errors="replace") if self.err.exists() else ""

    # -- stopping --------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: the member dies without leaving the group."""
        if self.running:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout_s: float = 15.0) -> int:
        """SIGTERM: the member closes its consumer (LeaveGroup) and exits."""
        if self.running:
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} did not exit {timeout_s} s after SIGTERM") from None


class Consumed:
    """Every record the members of a group consumed, checked against what was produced."""

    def __init__(self, members: Iterable[GroupMember]) -> None:
        self.rows = [row for m in members for row in m.records()]
        self.values = Counter(value for _, _, value in self.rows)

    def missing(self, produced: Iterable[str]) -> list[str]:
        return [v for v in produced if v not in self.values]

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.values.values() if n > 1)
