"""The simulation's disks: real ``broker.storage.Log`` objects, watched and crashed.

``ObservedLog`` is the shipped Log with two changes the simulator needs: ``flush`` only
marks everything durable (no fsync: the simulated power loss, ``lose_unflushed_tail``,
decides what a crash keeps), and it remembers the lowest offset a truncation touched
since the checker last looked, so ``LogMirror`` re-reads only what changed.
``LogMirror`` holds every batch of a log as ``Log.read`` returns it: the checker
compares replicas through it, so what is compared is what the Log serves.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from broker.records.batch import parse_header, read_prefix, split_batches
from broker.storage.epoch_cache import EpochEntry
from broker.storage.log import Log, LogRecovery, TruncationInfo
from broker.storage.log_config import LogConfig

NOTHING_DIRTY = 1 << 62


class ObservedLog(Log):
    """A Log whose flushes are free and whose truncations are noticed."""

    def __init__(self, directory: Path, config: LogConfig, clock_ms: Callable[[], int]) -> None:
        super().__init__(directory, config, clock_ms)
        self.dirty_from = 0
        self._durable_offset = 0

    @classmethod
    def open_observed(cls, directory: Path, config: LogConfig, now_ms: int) -> ObservedLog:
        opened, _ = cls.open(directory, config, lambda: now_ms)
        log = cast(ObservedLog, opened)
        log._durable_offset = log.log_end_offset
        return log

    @classmethod
    def open(
        cls,
        directory: Path,
        config: LogConfig,
        clock_ms: Callable[[], int],
        *,
        clean_shutdown: bool = False,
    ) -> tuple[Log, LogRecovery]:
        return super().open(directory, config, clock_ms, clean_shutdown=clean_shutdown)

    def flush(self) -> int:
        self._durable_offset = self.log_end_offset
        return self._durable_offset

    @property
    def flushed_offset(self) -> int:
        return self._durable_offset

    def truncate_to(self, offset: int) -> TruncationInfo:
        self.dirty_from = min(self.dirty_from, offset)
        info = super().truncate_to(offset)
        self._durable_offset = min(self._durable_offset, self.log_end_offset)
        return info

    def truncate_fully_and_start_at(self, offset: int) -> TruncationInfo:
        self.dirty_from = 0
        info = super().truncate_fully_and_start_at(offset)
        self._durable_offset = offset
        return info


@dataclass(slots=True)
class MirroredBatch:
    base_offset: int
    next_offset: int
    leader_epoch: int
    data: bytes


@dataclass(slots=True)
class LogMirror:
    """Every batch of one log, in offset order, as the Log reads it back."""

    batches: list[MirroredBatch] = field(default_factory=list)
    by_base: dict[int, bytes] = field(default_factory=dict)

    @property
    def end_offset(self) -> int:
        return self.batches[-1].next_offset if self.batches else 0

    def reset(self) -> None:
        self.batches.clear()
        self.by_base.clear()

    def sync(self, log: ObservedLog) -> None:
        """Drop what a truncation touched, then read what was appended since."""
        if log.dirty_from < self.end_offset or log.log_end_offset < self.end_offset:
            cut = min(log.dirty_from, log.log_end_offset)
            while self.batches and self.batches[-1].next_offset > cut:
                del self.by_base[self.batches.pop().base_offset]
        log.dirty_from = NOTHING_DIRTY
        start = log.log_start_offset
        drop = 0
        while drop < len(self.batches) and self.batches[drop].next_offset <= start:
            del self.by_base[self.batches[drop].base_offset]
            drop += 1
        del self.batches[:drop]
        offset = max(self.end_offset, start)
        while offset < log.log_end_offset:
            data = bytes(log.read(offset, 1 << 20, log.log_end_offset).data)
            position = 0
            for header in split_batches(data):
                batch = data[position : position + header.size]
                position += header.size
                mirrored = MirroredBatch(
                    header.base_offset,
                    header.next_offset,
                    header.partition_leader_epoch,
                    batch,
                )
                self.batches.append(mirrored)
                self.by_base[header.base_offset] = batch
            offset = self.end_offset

    def epochs_below(self, log_start: int, bound: int) -> list[EpochEntry]:
        """Where each leader epoch starts, from the batches below ``bound`` (the first
        one at the log start at the earliest, as the epoch cache keeps it)."""
        entries: list[EpochEntry] = []
        for batch in self.batches:
            if batch.base_offset >= bound:
                break
            if not entries or entries[-1].epoch != batch.leader_epoch:
                entries.append(EpochEntry(batch.leader_epoch, max(batch.base_offset, log_start)))
        return entries


def lose_unflushed_tail(directory: Path, durable_offset: int, rng: random.Random) -> int:
    """What a power loss does to a closed log's files: batches at or above
    ``durable_offset`` go (segment files created after it entirely), perhaps leaving a
    torn prefix of the first lost batch. Index, epoch and producer files stay as they
    were: opening the log must cope. Returns the number of bytes lost."""
    segments = sorted(directory.glob("*.log"))
    lost = 0
    for number, path in enumerate(segments):
        if number > 0 and int(path.stem) >= durable_offset:
            lost += path.stat().st_size
            path.unlink()
            continue
        data = path.read_bytes()
        position = 0
        while position < len(data) and parse_header(data, position).next_offset <= durable_offset:
            position += read_prefix(data, position)[1]
        if position == len(data):
            continue
        keep = position
        if rng.random() < 0.5:
            keep += rng.randint(0, read_prefix(data, position)[1] - 1)
        lost += len(data) - keep
        with path.open("r+b") as file:
            file.truncate(keep)
    return lost
