"""Leadership of the probe partitions as the probe sees it: changes, and the reason a
produce attempt failed.

Pure: the probe passes the leaders its producer's metadata shows (node ids, None while
a partition has no leader) and the current wall-clock time; no clients, no clock reads.

A leader change is counted when a partition's leader differs from the last leader seen
for it; a partition without a leader for a while (an election in progress) is not a
change by itself, so leader 1, none, 2 is one change, from 1 to 2. The first leader
seen is the baseline, not a change.

Reasons of a failed produce attempt (``reason`` of ``tidewatch_probe_produce_errors_total``,
always counted against the broker the record was sent to):

- ``leader_change``: when the failure is counted the partition has no leader, or another
  leader than that broker, or the client said NOT_LEADER / LEADER_NOT_AVAILABLE;
- ``timeout``: no acknowledgement within the ack SLA, the leader unchanged;
- ``error``: the client gave up, the leader unchanged.

Not thread-safe; one event loop calls it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

__all__ = ["LeaderChange", "LeaderWatch", "ProduceFailure", "failure_reason"]


@dataclass(frozen=True, slots=True)
class LeaderChange:
    partition: int
    previous: int
    leader: int
    at_ns: int


class LeaderWatch:
    """The last leader seen per partition and the most recent changes (``memory``)."""

    def __init__(self, memory: int = 20) -> None:
        self._leaders: dict[int, int] = {}
        self._recent: deque[LeaderChange] = deque(maxlen=memory)
        self.changes: dict[int, int] = {}  # partition -> changes seen

    def observe(self, partition: int, leader: int | None, now_ns: int) -> LeaderChange | None:
        """Record what the metadata shows now; the change when the leader moved."""
        if leader is None or leader < 0:
            return None
        previous = self._leaders.get(partition)
        self._leaders[partition] = leader
        if previous is None or previous == leader:
            return None
        change = LeaderChange(partition, previous, leader, now_ns)
        self._recent.append(change)
        self.changes[partition] = self.changes.get(partition, 0) + 1
        return change

    @property
    def recent(self) -> tuple[LeaderChange, ...]:
        return tuple(self._recent)


@dataclass(frozen=True, slots=True)
class ProduceFailure:
    """A produce attempt that missed the ack SLA (``timed_out``) or failed."""

    sent_to: int | None  # the leader when it was sent (None: unknown)
    leader_now: int | None  # the leader when the failure is counted (None: none)
    timed_out: bool
    not_leader: bool = False  # the client's error was NOT_LEADER / LEADER_NOT_AVAILABLE


def failure_reason(f: ProduceFailure) -> str:
    """``leader_change``, ``timeout`` or ``error``; see the module docstring."""
    moved = f.sent_to is not None and f.leader_now != f.sent_to
    if f.not_leader or moved:
        return "leader_change"
    return "timeout" if f.timed_out else "error"
