"""The leader epoch cache of one partition (Kafka's ``LeaderEpochFileCache``).

Every leader stamps its epoch into the batches it appends; the cache remembers where
each epoch starts, so that a replica can answer OffsetsForLeaderEpoch ("where does
epoch E end in your log?") and a returning follower can find where its log diverged
from the leader's and truncate there.

Entries are ``(epoch, start_offset)``: the first offset written (or about to be written)
under that epoch. Invariant: both columns strictly increase. The cache is persisted in
the partition directory as ``leader-epoch-checkpoint`` in Kafka's checkpoint format
(version 0, then ``epoch start_offset`` lines; see broker.storage.checkpoint), written
atomically after every change. Changes are rare (one per leader change), so every
write is synchronous; the owning Log writes it before the data it describes, and
re-checks it against the log when it opens (see broker.storage.log_loader).

``assign`` follows current Kafka rather than refusing anything: the entries come from
the log itself (a leader's new epoch, or a replicated batch's epoch), so the log is the
truth and the cache adapts to it.

- the latest epoch again, at a later offset: ignored (the epoch already started);
- an entry that conflicts with later entries (their epoch >= the new epoch, or their
  start >= the new start) replaces them: they are removed from the end, with a warning
  unless the only one removed started at the same offset (no data was written under it,
  the expected case for a leader change before any append).

A leader appending under an epoch older than the latest is refused by the Log before it
reaches the cache (FencedLeaderEpochError). Not thread-safe: owned by one Log.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Iterable
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

from broker.storage.checkpoint import parse_offset, read_checkpoint, write_checkpoint
from broker.storage.errors import CorruptCheckpointError

__all__ = [
    "EPOCH_CHECKPOINT",
    "UNDEFINED_EPOCH",
    "UNDEFINED_EPOCH_OFFSET",
    "EpochEndOffset",
    "EpochEntry",
    "LeaderEpochCache",
]

log = logging.getLogger(__name__)

EPOCH_CHECKPOINT = "leader-epoch-checkpoint"
UNDEFINED_EPOCH = -1
UNDEFINED_EPOCH_OFFSET = -1
_VERSION = 0


class EpochEntry(NamedTuple):
    epoch: int
    start_offset: int


class EpochEndOffset(NamedTuple):
    """An OffsetsForLeaderEpoch answer: the largest epoch <= the one asked for, and the
    offset where it ends (the next epoch's start, or the log end for the latest)."""

    leader_epoch: int
    end_offset: int


UNDEFINED_EPOCH_END_OFFSET = EpochEndOffset(UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)


class LeaderEpochCache:
    """See the module docstring."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._epochs: list[int] = []
        self._starts: list[int] = []

    @classmethod
    def load(cls, path: Path) -> tuple[LeaderEpochCache, str | None]:
        """The cache persisted at ``path``, and why it could not be read (None when it
        was): a missing file or a corrupt one (wrong format, entries that do not strictly
        increase) gives an empty cache and the reason; the caller rebuilds it from the
        log. Nothing is written here."""
        cache = cls(path)
        try:
            rows = read_checkpoint(path, _VERSION, 2)
            entries = [
                EpochEntry(parse_offset(path, e, "epoch"), parse_offset(path, s, "start offset"))
                for e, s in rows
            ]
        except FileNotFoundError:
            return cache, f"{path.name} is missing"
        except (CorruptCheckpointError, OSError) as exc:
            return cache, str(exc)
        for previous, entry in pairwise(entries):
            if entry.epoch <= previous.epoch or entry.start_offset <= previous.start_offset:
                return cache, f"{path.name}: entry {entry} does not follow {previous}"
        cache._epochs = [e.epoch for e in entries]
        cache._starts = [e.start_offset for e in entries]
        return cache, None

    # -- queries ---------------------------------------------------------------------

    @property
    def entries(self) -> list[EpochEntry]:
        return [EpochEntry(e, s) for e, s in zip(self._epochs, self._starts, strict=True)]

    def __len__(self) -> int:
        return len(self._epochs)

    @property
    def latest_epoch(self) -> int:
        """The latest epoch, or UNDEFINED_EPOCH (-1) when the cache is empty."""
        return self._epochs[-1] if self._epochs else UNDEFINED_EPOCH

    @property
    def latest_entry(self) -> EpochEntry | None:
        return EpochEntry(self._epochs[-1], self._starts[-1]) if self._epochs else None

    def end_offset_for(self, epoch: int, log_end_offset: int) -> EpochEndOffset:
        """Kafka's OffsetsForLeaderEpoch answer for ``epoch``:

        - UNDEFINED (-1, -1) when ``epoch`` is UNDEFINED_EPOCH, the cache is empty, or
          ``epoch`` is above the latest epoch;
        - (epoch, log_end_offset) for the latest epoch;
        - (largest epoch <= ``epoch``, start offset of the next higher epoch) otherwise;
        - below the first epoch: (``epoch``, start of the first epoch), as current Kafka
          answers (the data before it was deleted; the follower truncates there).
        """
        if epoch == UNDEFINED_EPOCH or not self._epochs:
            return UNDEFINED_EPOCH_END_OFFSET
        if epoch == self._epochs[-1]:
            return EpochEndOffset(epoch, log_end_offset)
        higher = bisect_right(self._epochs, epoch)
        if higher == len(self._epochs):
            return UNDEFINED_EPOCH_END_OFFSET
        if higher == 0:
            return EpochEndOffset(epoch, self._starts[0])
        return EpochEndOffset(self._epochs[higher - 1], self._starts[higher])

    def epoch_for_offset(self, offset: int) -> int:
        """The epoch the record at ``offset`` was written under, by the cache (the entry
        with the largest start <= ``offset``), or UNDEFINED_EPOCH."""
        i = bisect_right(self._starts, offset)
        return self._epochs[i - 1] if i else UNDEFINED_EPOCH

    # -- changes (each persists the file when it changes something) -------------------

    def assign(self, epoch: int, start_offset: int) -> bool:
        """Record that ``epoch`` starts at ``start_offset``; True when the cache changed.

        Raises ValueError for a negative epoch or offset, LogStorageError when the
        checkpoint cannot be written (the in-memory cache has changed anyway: it
        describes the log, and the next successful write persists it)."""
        changed = self._assign(EpochEntry(epoch, start_offset))
        if changed:
            self._persist()
        return changed

    def assign_all(self, entries: Iterable[EpochEntry]) -> bool:
        """``assign`` each entry in order, writing the file once at the end."""
        changed = False
        for entry in entries:
            changed |= self._assign(entry)
        if changed:
            self._persist()
        return changed

    def _assign(self, entry: EpochEntry) -> bool:
        if entry.epoch < 0 or entry.start_offset < 0:
            raise ValueError(f"invalid leader epoch entry {entry}")
        if (
            self._epochs
            and entry.epoch == self._epochs[-1]
            and entry.start_offset >= self._starts[-1]
        ):
            return False  # the latest epoch again, later: it already started
        removed: list[EpochEntry] = []
        while self._epochs and (
            self._epochs[-1] >= entry.epoch or self._starts[-1] >= entry.start_offset
        ):
            removed.append(EpochEntry(self._epochs.pop(), self._starts.pop()))
        if len(removed) > 1 or (removed and removed[0].start_offset != entry.start_offset):
            log.warning(
                "%s: new epoch entry %s replaced conflicting entries %s",
                self.path.parent.name,
                entry,
                removed,
            )
        self._epochs.append(entry.epoch)
        self._starts.append(entry.start_offset)
        return True

    def truncate_from_end(self, end_offset: int) -> bool:
        """Drop entries starting at or after ``end_offset`` (the log was truncated
        there). A negative offset changes nothing. True when the cache changed."""
        if end_offset < 0:
            return False
        changed = False
        while self._starts and self._starts[-1] >= end_offset:
            self._epochs.pop()
            self._starts.pop()
            changed = True
        if changed:
            self._persist()
        return changed

    def truncate_from_start(self, start_offset: int) -> bool:
        """The log start moved to ``start_offset``: entries starting at or before it go,
        except the last of them, which now starts at ``start_offset`` (the epoch of the
        first remaining record). True when the cache changed."""
        cut = bisect_right(self._starts, start_offset)
        if cut == 0 or (cut == 1 and self._starts[0] == start_offset):
            return False
        first_epoch = self._epochs[cut - 1]
        del self._epochs[:cut]
        del self._starts[:cut]
        self._epochs.insert(0, first_epoch)
        self._starts.insert(0, start_offset)
        self._persist()
        return True

    def clear(self) -> None:
        """Forget every entry (the log was emptied and restarted elsewhere)."""
        self._epochs.clear()
        self._starts.clear()
        self._persist()

    def rebuild(self, entries: Iterable[EpochEntry]) -> None:
        """Replace the contents with ``entries`` (assigned in order) and persist."""
        self._epochs.clear()
        self._starts.clear()
        for entry in entries:
            self._assign(entry)
        self._persist()

    def _persist(self) -> None:
        write_checkpoint(self.path, _VERSION, self.entries)
