"""The values a RaftNode hands to, and takes from, the I/O edge.

``Ready`` is the one output batch; ``PersistedState`` is what a node is built from on
restart; ``PersistedState.after(ready)`` is the storage contract written as a pure
function, so an in-memory disk (the simulator) and the file store (``storage.py``) agree
on what persisting a Ready means:

1. ``hard_state``, when not None, replaces the stored hard state.
2. ``snapshot``, when not None, replaces the stored snapshot, and stored entries are cut
   by Raft's rule (§7): if the store holds an entry at ``snapshot.index`` with
   ``snapshot.term``, the entries after it are kept; otherwise every entry is dropped.
   Entries at or below the snapshot index are always dropped.
3. ``entries``, when not empty, replace every stored entry with an index >=
   ``entries[0].index`` (truncate the suffix, then append). They always continue the
   stored log or overwrite part of it; a gap is a bug and raises.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from broker.quorum.messages import Entry, Message

__all__ = [
    "HardState",
    "NodeStatus",
    "NotLeader",
    "PersistedState",
    "ProposeAccepted",
    "ProposeResult",
    "Ready",
    "Role",
    "Snapshot",
]


@dataclass(frozen=True, slots=True)
class HardState:
    """What a voter must never forget: its term and whom it voted for in that term."""

    term: int = 0
    voted_for: int | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The state machine's state up to and including ``index`` (whose entry had ``term``).

    ``data`` is opaque to Raft. ``Snapshot()`` (index 0) is the empty initial state.
    """

    index: int = 0
    term: int = 0
    data: bytes = b""


class Role(enum.Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"
    OBSERVER = "observer"


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """What metrics and the integration want to know: term, known leader, role."""

    term: int
    leader_id: int | None
    role: Role


@dataclass(frozen=True, slots=True)
class ProposeAccepted:
    """The leader appended the payload at (index, term). It is committed when an entry
    with this index *and term* arrives in ``Ready.committed_entries``; if another entry
    arrives at that index, leadership changed and the proposal was lost."""

    index: int
    term: int


@dataclass(frozen=True, slots=True)
class NotLeader:
    """This node cannot take proposals; ``leader_hint`` is where to retry (may be None)."""

    leader_hint: int | None
    reason: str


ProposeResult = ProposeAccepted | NotLeader


@dataclass(frozen=True, slots=True)
class Ready:
    """One batch of work for the I/O edge, to be done in this order:

    1. Persist ``hard_state``, ``snapshot`` and ``entries`` (see the module docstring for
       what each means to the store), durably (fsync) when ``needs_sync``.
    2. Only then send ``messages``: a vote or an acknowledgement must never reach a peer
       before the state it promises is on disk.
    3. If ``restore_snapshot``, load ``snapshot`` into the state machine, then apply
       ``committed_entries`` in order (no-op entries, with empty payloads, change nothing).
    4. Call ``RaftNode.advance(ready)``.

    ``status`` is the node's status when it changed since the previous Ready, else None.
    """

    hard_state: HardState | None = None
    snapshot: Snapshot | None = None
    restore_snapshot: bool = False
    entries: tuple[Entry, ...] = ()
    messages: tuple[Message, ...] = ()
    committed_entries: tuple[Entry, ...] = ()
    status: NodeStatus | None = None

    @property
    def needs_sync(self) -> bool:
        return self.hard_state is not None or self.snapshot is not None or bool(self.entries)


@dataclass(frozen=True, slots=True)
class PersistedState:
    """Everything a node stored: build a RaftNode from it after a restart."""

    hard_state: HardState = HardState()
    snapshot: Snapshot = Snapshot()
    entries: tuple[Entry, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        expected = self.snapshot.index + 1
        for entry in self.entries:
            if entry.index != expected:
                raise ValueError(f"stored entry {entry.index} breaks the run at {expected}")
            expected += 1

    def after(self, ready: Ready) -> PersistedState:
        """The state once ``ready``'s persistence is done (the module docstring's rules)."""
        hard_state = ready.hard_state or self.hard_state
        snapshot, entries = self.snapshot, self.entries
        if ready.snapshot is not None:
            snapshot, entries = ready.snapshot, entries_after_snapshot(entries, ready.snapshot)
        if ready.entries:
            entries = replace_suffix(entries, snapshot.index, ready.entries)
        return PersistedState(hard_state, snapshot, entries)


def entries_after_snapshot(entries: tuple[Entry, ...], snapshot: Snapshot) -> tuple[Entry, ...]:
    """Raft's §7 rule: keep what follows the snapshot only if the log holds its entry."""
    if not entries:
        return ()
    offset = snapshot.index - entries[0].index
    if offset < 0:
        return entries if entries[0].index == snapshot.index + 1 else ()
    if offset < len(entries) and entries[offset].term == snapshot.term:
        return entries[offset + 1 :]
    return ()


def replace_suffix(
    entries: tuple[Entry, ...], snapshot_index: int, new: tuple[Entry, ...]
) -> tuple[Entry, ...]:
    """``entries`` (which start after ``snapshot_index``) with everything from
    ``new[0].index`` on replaced by ``new``."""
    first = new[0].index
    if first <= snapshot_index:
        raise ValueError(f"entry {first} is at or below the snapshot index {snapshot_index}")
    keep = first - snapshot_index - 1
    if keep > len(entries):
        raise ValueError(f"entry {first} leaves a gap after {snapshot_index + len(entries)}")
    return entries[:keep] + new
