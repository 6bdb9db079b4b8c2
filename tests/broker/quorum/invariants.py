"""Raft's safety properties, checked incrementally after every simulator step.

The checker keeps a global record of what the cluster has ever shown and compares each
node's state against it, so each step costs time proportional to what that step changed:

- election safety: at most one leader per term;
- log matching: two logs holding an entry with the same (index, term) hold the same
  payload there and the same term just before (by induction: the same prefix). Every
  entry is checked while it is unstable, which every appended entry is for at least one
  step;
- committed entries are never changed: whatever a node's commit index covers must equal
  what any node ever saw committed at that index;
- leader completeness: an entry first seen committed by a node in term c is in the log
  (or the snapshot) of every leader of a term > c -- checked when a node becomes leader
  and when an entry becomes committed while leaders exist;
- state-machine safety: every node's applied sequence is a prefix of every other's (the
  state machine is a hash chain, so equal digests at an index mean equal prefixes), and
  only committed entries are applied, in order;
- watermarks: snapshot <= commit <= last index on every node.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from broker.quorum import Entry, RaftNode, Role, Snapshot

_SNAPSHOT = struct.Struct(">q16s")


class SafetyViolation(AssertionError):
    """A Raft safety property does not hold. ``prop`` names it."""

    def __init__(self, prop: str, detail: str) -> None:
        super().__init__(f"{prop}: {detail}")
        self.prop = prop
        self.detail = detail


@dataclass(slots=True)
class DigestMachine:
    """The simulated state machine: a hash chain over the applied entries."""

    index: int = 0
    digest: bytes = bytes(16)

    def apply(self, entry: Entry) -> None:
        if entry.index != self.index + 1:
            raise SafetyViolation(
                "state-machine safety", f"applied entry {entry.index} after {self.index}"
            )
        chain = hashlib.blake2b(self.digest, digest_size=16)
        chain.update(struct.pack(">qq", entry.term, entry.index))
        chain.update(entry.payload)
        self.index, self.digest = entry.index, chain.digest()

    def snapshot(self) -> bytes:
        return _SNAPSHOT.pack(self.index, self.digest)

    @classmethod
    def restore(cls, snapshot: Snapshot) -> DigestMachine:
        if snapshot.index == 0:
            return cls()
        index, digest = _SNAPSHOT.unpack(snapshot.data)
        if index != snapshot.index:
            raise SafetyViolation("snapshot", f"snapshot {snapshot.index} holds state {index}")
        return cls(index, digest)


@dataclass(frozen=True, slots=True)
class _Committed:
    term: int
    payload: bytes
    seen_in_term: int


class SafetyChecker:
    """See the module docstring. One per simulation run."""

    def __init__(self) -> None:
        self.leader_of_term: dict[int, int] = {}
        self._entries: dict[tuple[int, int], tuple[bytes, int | None]] = {}
        self.committed: dict[int, _Committed] = {}
        self._digests: dict[int, bytes] = {0: bytes(16)}
        self._checked_commit: dict[int, int] = {}
        self._snapshot_checked: dict[int, int] = {}
        self._leaders: dict[int, RaftNode] = {}
        self._leader_checked: dict[int, int] = {}

    def forget(self, node_id: int) -> None:
        """``node_id`` crashed: its in-memory state is gone."""
        self._checked_commit.pop(node_id, None)
        self._snapshot_checked.pop(node_id, None)
        self._leaders.pop(node_id, None)
        self._leader_checked.pop(node_id, None)

    def check_node(self, node_id: int, node: RaftNode) -> None:
        log = node.log
        if not log.snapshot.index <= log.commit_index <= log.last_index:
            raise SafetyViolation(
                "watermarks",
                f"node {node_id}: snapshot {log.snapshot.index}, commit {log.commit_index}, "
                f"last {log.last_index}",
            )
        self._check_leadership(node_id, node)
        self._check_log_matching(node_id, node)
        self._check_commits(node_id, node)

    def _check_leadership(self, node_id: int, node: RaftNode) -> None:
        if node.role is not Role.LEADER:
            if node_id in self._leaders:
                del self._leaders[node_id]
            return
        owner = self.leader_of_term.setdefault(node.term, node_id)
        if owner != node_id:
            raise SafetyViolation(
                "election safety", f"term {node.term} has two leaders: {owner} and {node_id}"
            )
        self._leaders[node_id] = node
        if self._leader_checked.get(node_id) != node.term:
            self._leader_checked[node_id] = node.term
            for index, committed in self.committed.items():
                if committed.seen_in_term < node.term:
                    self._check_has(node_id, node, index, committed)

    def _check_has(self, node_id: int, leader: RaftNode, index: int, entry: _Committed) -> None:
        log = leader.log
        if index < log.snapshot.index:
            return
        held = log.entries(index, index + 1)
        term = log.term_at(index)
        if term != entry.term or (held and held[0].payload != entry.payload):
            raise SafetyViolation(
                "leader completeness",
                f"leader {node_id} of term {leader.term} lacks entry {index} (term "
                f"{entry.term}) committed in term {entry.seen_in_term}; it holds term {term}",
            )

    def _check_log_matching(self, node_id: int, node: RaftNode) -> None:
        log = node.log
        if log.stable_index == log.last_index:
            return
        for entry in log.unstable_entries():
            seen = (entry.payload, log.term_at(entry.index - 1))
            known = self._entries.setdefault((entry.index, entry.term), seen)
            if known != seen:
                raise SafetyViolation(
                    "log matching",
                    f"node {node_id} holds entry {entry.index} of term {entry.term} with "
                    f"payload/previous term {seen!r}, another node {known!r}",
                )

    def _check_commits(self, node_id: int, node: RaftNode) -> None:
        log = node.log
        start = max(self._checked_commit.get(node_id, 0), log.snapshot.index)
        if start >= log.commit_index and self._snapshot_checked.get(node_id) == log.snapshot.index:
            return
        self._snapshot_checked[node_id] = log.snapshot.index
        snapshot_entry = self.committed.get(log.snapshot.index)
        if snapshot_entry is not None and snapshot_entry.term != log.snapshot.term:
            raise SafetyViolation(
                "committed entries never change",
                f"node {node_id} has a snapshot at {log.snapshot.index} of term "
                f"{log.snapshot.term}, committed was term {snapshot_entry.term}",
            )
        for entry in log.entries(start + 1, log.commit_index + 1):
            committed = self.committed.get(entry.index)
            if committed is None:
                committed = _Committed(entry.term, entry.payload, node.term)
                self.committed[entry.index] = committed
                for leader_id, leader in self._leaders.items():
                    if leader.term > node.term:
                        self._check_has(leader_id, leader, entry.index, committed)
            elif (committed.term, committed.payload) != (entry.term, entry.payload):
                raise SafetyViolation(
                    "committed entries never change",
                    f"node {node_id} commits entry {entry.index} of term {entry.term}, "
                    f"committed before with term {committed.term}",
                )
        self._checked_commit[node_id] = log.commit_index

    def check_applied(self, node_id: int, machine: DigestMachine, entry: Entry | None) -> None:
        """``machine`` just applied ``entry`` (or restored a snapshot when None)."""
        if entry is not None:
            committed = self.committed.get(entry.index)
            if committed is None or (committed.term, committed.payload) != (
                entry.term,
                entry.payload,
            ):
                raise SafetyViolation(
                    "state-machine safety",
                    f"node {node_id} applied entry {entry.index} of term {entry.term}, "
                    f"which is not the committed one ({committed})",
                )
        digest = self._digests.setdefault(machine.index, machine.digest)
        if digest != machine.digest:
            raise SafetyViolation(
                "state-machine safety",
                f"node {node_id} applied a different sequence up to {machine.index}",
            )
