"""A partition log as the replication core sees it (``ReplicaLogView``), in memory but
with the real epoch cache, so epoch answers are the storage layer's own."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from broker.storage.epoch_cache import EpochEndOffset, EpochEntry, LeaderEpochCache


@dataclass
class FakeLog:
    epoch_cache: LeaderEpochCache
    log_start_offset: int
    log_end_offset: int
    flushed_offset: int

    def end_offset_for_epoch(self, leader_epoch: int) -> EpochEndOffset:
        return self.epoch_cache.end_offset_for(leader_epoch, self.log_end_offset)


class FakeLogs:
    """Makes FakeLogs whose epoch caches persist under one temporary directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.made = 0

    def __call__(
        self,
        epochs: list[tuple[int, int]] | None = None,
        *,
        end: int,
        start: int = 0,
        flushed: int | None = None,
    ) -> FakeLog:
        """A log over [start, end) whose leader epochs start at ``epochs`` ((epoch,
        start offset) pairs)."""
        self.made += 1
        cache = LeaderEpochCache(self.directory / f"epochs-{self.made}")
        cache.rebuild(EpochEntry(e, s) for e, s in epochs or [])
        return FakeLog(cache, start, end, end if flushed is None else flushed)
