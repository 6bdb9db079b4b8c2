"""What a leader knows about one follower's log, and how it paces replication to it.

A follower's progress is in one of three states:

- PROBE: the leader does not know where the logs diverge; it sends one AppendEntries at a
  time (``probe_sent``) and moves ``next_index`` back by the follower's conflict hint
  until one is accepted. Heartbeats resend the probe, so a lost probe costs one heartbeat.
- REPLICATE: the logs match up to ``match_index``; the leader streams entries and moves
  ``next_index`` forward optimistically as it sends.
- SNAPSHOT: the entries the follower needs are compacted away; an InstallSnapshot is in
  flight. If no answer comes within ``snapshot_timeout_ticks`` the leader probes again,
  which resends the snapshot if it is still needed.

Invariant: ``match_index < next_index``. ``match_index`` only grows.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Progress", "ReplicationState"]


class ReplicationState(enum.Enum):
    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


@dataclass(slots=True)
class Progress:
    """One follower's replication progress, owned by the leader. See the module docstring."""

    next_index: int
    match_index: int = 0
    state: ReplicationState = ReplicationState.PROBE
    probe_sent: bool = False
    recent_active: bool = False
    snapshot_index: int = 0
    snapshot_wait_ticks: int = 0

    def update_match(self, match_index: int) -> bool:
        """A follower acknowledged entries up to ``match_index``; True if that is news."""
        self.probe_sent = False
        if match_index <= self.match_index:
            return False
        self.match_index = match_index
        self.next_index = max(self.next_index, match_index + 1)
        return True

    def refused(self, rejected_index: int, hint_next_index: int) -> bool:
        """A follower refused AppendEntries after ``rejected_index``. Returns False for a
        stale refusal (of a request older than what we already know or sent)."""
        if self.state is ReplicationState.REPLICATE:
            if rejected_index <= self.match_index:
                return False
        elif self.state is ReplicationState.PROBE:
            if rejected_index != self.next_index - 1:
                return False
        else:
            return False
        self.next_index = max(self.match_index + 1, min(hint_next_index, rejected_index))
        self.become_probe()
        return True

    def become_probe(self) -> None:
        if self.state is ReplicationState.SNAPSHOT:
            self.next_index = max(self.match_index + 1, self.snapshot_index + 1)
        self.state = ReplicationState.PROBE
        self.probe_sent = False

    def become_replicate(self) -> None:
        self.state = ReplicationState.REPLICATE
        self.next_index = self.match_index + 1
        self.probe_sent = False

    def become_snapshot(self, snapshot_index: int) -> None:
        self.state = ReplicationState.SNAPSHOT
        self.snapshot_index = snapshot_index
        self.snapshot_wait_ticks = 0
        self.probe_sent = False
