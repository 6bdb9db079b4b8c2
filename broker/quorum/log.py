"""A node's in-memory Raft log: a snapshot, the entries after it, and four watermarks.

Invariants (checked by the simulator after every step)::

    snapshot.index <= applied_index <= commit_index <= last_index
    snapshot.index <= stable_index <= last_index
    entries[k].index == snapshot.index + 1 + k, terms non-decreasing

``stable_index``: every entry up to it is known to be on disk (the I/O edge said so by
``advance``); entries after it are *unstable* and go out in the next Ready. The log never
drops a committed entry except into a snapshot, and refuses (``QuorumSafetyError``) to
overwrite one. Used by one RaftNode; not thread-safe.
"""

from __future__ import annotations

from broker.quorum.errors import QuorumSafetyError
from broker.quorum.messages import Entry
from broker.quorum.state import Snapshot

__all__ = ["RaftLog"]


class RaftLog:
    """See the module docstring."""

    def __init__(self, snapshot: Snapshot, entries: tuple[Entry, ...] = ()) -> None:
        self.snapshot = snapshot
        self._entries: list[Entry] = list(entries)
        self.commit_index = snapshot.index
        self.applied_index = snapshot.index
        self.stable_index = self.last_index

    # -- positions -----------------------------------------------------------------

    @property
    def first_index(self) -> int:
        """The first index still held as an entry (not compacted into the snapshot)."""
        return self.snapshot.index + 1

    @property
    def last_index(self) -> int:
        return self.snapshot.index + len(self._entries)

    @property
    def last_term(self) -> int:
        return self._entries[-1].term if self._entries else self.snapshot.term

    def term_at(self, index: int) -> int | None:
        """The term of the entry at ``index``; None if compacted away or beyond the end."""
        offset = index - self.snapshot.index
        if offset == 0:
            return self.snapshot.term
        if 0 < offset <= len(self._entries):
            return self._entries[offset - 1].term
        return None

    def matches(self, index: int, term: int) -> bool:
        return self.term_at(index) == term

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """Raft §5.4.1: is a log ending at (last_index, last_term) at least as up to date
        as this one? Later last term wins; equal terms compare length."""
        mine = self.last_term
        return last_term > mine or (last_term == mine and last_index >= self.last_index)

    def entries(self, low: int, high: int) -> tuple[Entry, ...]:
        """Entries with ``low <= index < high`` (clamped to what is held)."""
        if high <= low:
            return ()
        base = self.snapshot.index + 1
        return tuple(self._entries[max(low - base, 0) : max(high - base, 0)])

    def unstable_entries(self) -> tuple[Entry, ...]:
        return self.entries(self.stable_index + 1, self.last_index + 1)

    def conflict_hint(self, index: int) -> tuple[int, int]:
        """Why a leader's (index, term) did not match, as (conflict_index, conflict_term):
        past our end, (last_index + 1, 0); otherwise our term at ``index`` and the first
        index we hold with that term, so the leader can skip the whole term at once."""
        if index > self.last_index:
            return self.last_index + 1, 0
        term = self.term_at(index)
        while index > self.first_index and self.term_at(index - 1) == term:
            index -= 1
        return index, term or 0

    def last_index_of_term(self, term: int, at_most: int) -> int | None:
        """The last held index <= ``at_most`` whose entry has ``term``, if any."""
        index = min(at_most, self.last_index)
        while index >= self.snapshot.index:
            found = self.term_at(index)
            if found is None or found < term:
                return None
            if found == term:
                return index
            index -= 1
        return None

    # -- changes -------------------------------------------------------------------

    def append(self, entry: Entry) -> None:
        """The leader's own append (no conflict possible)."""
        if entry.index != self.last_index + 1 or entry.term < self.last_term:
            raise ValueError(f"entry {entry.index}/{entry.term} does not extend the log")
        self._entries.append(entry)

    def append_from_leader(self, entries: tuple[Entry, ...]) -> None:
        """Store entries that follow a matching prev position: skip the ones already held,
        truncate at the first conflict (Raft §5.3), append the rest."""
        for position, entry in enumerate(entries):
            held = self.term_at(entry.index)
            if held == entry.term:
                continue
            if held is not None:
                self._truncate_from(entry.index)
            self._entries.extend(entries[position:])
            return

    def _truncate_from(self, index: int) -> None:
        if index <= self.commit_index:
            raise QuorumSafetyError(
                f"asked to overwrite entry {index}, but entries up to {self.commit_index} "
                "are committed"
            )
        del self._entries[index - self.snapshot.index - 1 :]
        self.stable_index = min(self.stable_index, index - 1)

    def commit_to(self, index: int) -> bool:
        """Move the commit index forward (never back); True if it moved."""
        if index <= self.commit_index:
            return False
        if index > self.last_index:
            raise QuorumSafetyError(f"commit {index} is beyond the last index {self.last_index}")
        self.commit_index = index
        return True

    def stable_to(self, index: int, term: int) -> None:
        """The I/O edge persisted entries up to (index, term). Ignored if the log changed
        at that index since (a later Ready rewrites it)."""
        if index > self.stable_index and self.term_at(index) == term:
            self.stable_index = index

    def applied_to(self, index: int) -> None:
        self.applied_index = max(self.applied_index, min(index, self.commit_index))

    def compact(self, snapshot: Snapshot) -> None:
        """Drop entries up to ``snapshot.index`` (which must be applied) into ``snapshot``."""
        if snapshot.index > self.applied_index:
            raise ValueError(
                f"cannot compact to {snapshot.index}: only {self.applied_index} is applied"
            )
        del self._entries[: snapshot.index - self.snapshot.index]
        self.snapshot = snapshot
        self.stable_index = max(self.stable_index, snapshot.index)

    def install(self, snapshot: Snapshot) -> None:
        """Take a leader's snapshot (beyond our commit index). Raft §7: keep the entries
        after it only if we hold its last entry; otherwise start over from it."""
        if self.matches(snapshot.index, snapshot.term):
            del self._entries[: snapshot.index - self.snapshot.index]
        else:
            self._entries.clear()
        self.snapshot = snapshot
        self.commit_index = max(self.commit_index, snapshot.index)
        self.stable_index = max(min(self.stable_index, self.last_index), snapshot.index)
