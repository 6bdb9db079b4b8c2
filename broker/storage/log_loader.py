"""Opening a partition log: what a restart finds on disk, made consistent (Kafka's
``LogLoader``). The same steps repair whatever a crash interrupted, including a
truncation or a segment deletion half done (see broker.storage.log).

In order:

1. Leftovers of interrupted writes go: ``*.tmp`` files, and index files whose segment
   file is gone (a crash while a segment was being deleted).
2. Sealed segments keep their index files when these validate; otherwise the index is
   rebuilt by a scan (with CRC checks).
3. Producer state: snapshots above the active segment's base are deleted; the newest
   readable one at or below it is loaded and the batches after it replayed, those of
   sealed segments by a header scan, then the active segment's during step 4.
4. The active segment is scanned (CRC checked unless the shutdown was clean) and a torn
   or corrupt tail truncated.
5. The log start offset is the first segment's base, or the persisted
   ``log-start-offset-checkpoint`` when that is higher (clamped to the log end).
6. The leader epoch cache is loaded, then truncated to [log start, log end]. It is
   rebuilt from the batches' partition leader epochs when its file is missing or
   corrupt while the log holds batches, or when it disagrees with the last batch (the
   epoch it gives that batch's offset is not the batch's epoch).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from broker.records.batch import BatchHeader
from broker.storage.checkpoint import read_log_start_checkpoint
from broker.storage.epoch_cache import EPOCH_CHECKPOINT, EpochEntry, LeaderEpochCache
from broker.storage.errors import CorruptCheckpointError
from broker.storage.log_config import LogConfig
from broker.storage.producer_snapshots import delete_snapshots, producer_state_at
from broker.storage.producer_state import ProducerStateManager
from broker.storage.segment import LogSegment

__all__ = ["LoadedLog", "LogRecovery", "epochs_in_log", "load_log"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LogRecovery:
    """What opening a log found; ``truncated_bytes`` > 0 means a torn or corrupt tail
    was cut off, and ``reason`` says what was wrong. ``epoch_cache_rebuilt`` says why
    the leader epoch cache was rebuilt from the log, when it was."""

    segments: int
    log_start_offset: int
    log_end_offset: int
    truncated_bytes: int
    rebuilt_indexes: int
    reason: str | None
    epoch_cache_rebuilt: str | None = None


@dataclass(frozen=True, slots=True)
class LoadedLog:
    """The recovered parts a Log is built from."""

    segments: list[LogSegment]
    producer_state: ProducerStateManager
    epoch_cache: LeaderEpochCache
    log_start_offset: int
    recovery: LogRecovery


def load_log(
    directory: Path, config: LogConfig, clock_ms: Callable[[], int], *, clean_shutdown: bool
) -> LoadedLog:
    """Open (creating if needed) and recover the log in ``directory``; see the module
    docstring for the steps."""
    directory.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(directory)
    bases = sorted(int(p.stem) for p in directory.glob("*.log") if p.stem.isdigit()) or [0]
    segments, rebuilt = _load_sealed(directory, bases[:-1], config.index_interval_bytes)
    active = LogSegment(directory, bases[-1], config.index_interval_bytes)
    delete_snapshots(directory, above=active.base_offset)
    state = producer_state_at(directory, segments, active.base_offset)
    last: list[BatchHeader] = []

    def on_batch(header: BatchHeader) -> None:
        if header.producer_id >= 0:
            state.update(header)
        last[:] = [header]

    info = active.recover(verify_crc=not clean_shutdown, on_batch=on_batch)
    if info.truncated_bytes:
        log.warning(
            "recovered %s by truncating %d bytes of %s: %s",
            directory.name,
            info.truncated_bytes,
            active.path.name,
            info.reason,
        )
    active.created_ms = active.first_batch_timestamp if active.size else clock_ms()
    active.fsync()
    segments.append(active)
    last_batch = last[0] if last else _last_sealed_batch(segments)
    log_end = active.next_offset
    log_start = _log_start(directory, segments[0].base_offset, log_end)
    cache, rebuilt_because = _epoch_cache(directory, segments, log_start, log_end, last_batch)
    recovery = LogRecovery(
        segments=len(segments),
        log_start_offset=log_start,
        log_end_offset=log_end,
        truncated_bytes=info.truncated_bytes,
        rebuilt_indexes=rebuilt,
        reason=info.reason,
        epoch_cache_rebuilt=rebuilt_because,
    )
    return LoadedLog(segments, state, cache, log_start, recovery)


def _load_sealed(
    directory: Path, bases: Sequence[int], index_interval_bytes: int
) -> tuple[list[LogSegment], int]:
    """The sealed segments, and how many of them needed their indexes rebuilt."""
    segments = []
    rebuilt = 0
    for base in bases:
        segment = LogSegment(directory, base, index_interval_bytes)
        if not segment.load_indexes():
            segment.recover(verify_crc=True)
            segment.persist_indexes()
            rebuilt += 1
        segments.append(segment)
    return segments, rebuilt


def _remove_leftovers(directory: Path) -> None:
    for stray in directory.glob("*.tmp"):
        stray.unlink()
    for suffix in (".index", ".timeindex"):
        for index in directory.glob("*" + suffix):
            if not index.with_suffix(".log").exists():
                log.info("removing %s: its segment was deleted", index.name)
                index.unlink()


def _last_sealed_batch(segments: Sequence[LogSegment]) -> BatchHeader | None:
    for segment in reversed(segments):
        header = segment.last_batch()
        if header is not None:
            return header
    return None


def _log_start(directory: Path, first_base: int, log_end: int) -> int:
    try:
        stored = read_log_start_checkpoint(directory)
    except (CorruptCheckpointError, OSError) as exc:
        log.warning("%s: ignoring the log start checkpoint: %s", directory.name, exc)
        return first_base
    if stored is None or stored <= first_base:
        return first_base
    if stored > log_end:
        log.warning(
            "%s: log start offset %d is beyond the recovered log end %d; starting at the end",
            directory.name,
            stored,
            log_end,
        )
        return log_end
    return stored


def _epoch_cache(
    directory: Path,
    segments: Sequence[LogSegment],
    log_start: int,
    log_end: int,
    last_batch: BatchHeader | None,
) -> tuple[LeaderEpochCache, str | None]:
    cache, problem = LeaderEpochCache.load(directory / EPOCH_CHECKPOINT)
    if problem is None:
        cache.truncate_from_end(log_end)
        cache.truncate_from_start(log_start)
        problem = _disagreement(cache, last_batch)
    if problem is None or last_batch is None:
        return cache, None
    cache.rebuild(epochs_in_log(segments))
    cache.truncate_from_start(log_start)
    log.warning("%s: rebuilt the leader epoch cache from the log: %s", directory.name, problem)
    return cache, problem


def _disagreement(cache: LeaderEpochCache, last_batch: BatchHeader | None) -> str | None:
    if last_batch is None or last_batch.partition_leader_epoch < 0:
        return None
    cached = cache.epoch_for_offset(last_batch.base_offset)
    if cached == last_batch.partition_leader_epoch:
        return None
    return (
        f"{EPOCH_CHECKPOINT} gives offset {last_batch.base_offset} epoch {cached}, "
        f"the batch there says {last_batch.partition_leader_epoch}"
    )


def epochs_in_log(segments: Sequence[LogSegment]) -> Iterator[EpochEntry]:
    """(epoch, first offset) of every epoch change in the batches' partition leader
    epochs (negative epochs skipped). Epochs never decrease along a log, so a segment
    whose first batch has the same epoch as the next segment's first batch is skipped
    without a scan; other segments are scanned header by header."""
    latest = -1
    for i, segment in enumerate(segments):
        first = segment.first_batch()
        if first is None:
            continue
        following = segments[i + 1].first_batch() if i + 1 < len(segments) else None
        if (
            following is not None
            and following.partition_leader_epoch == first.partition_leader_epoch
        ):
            headers: Iterator[BatchHeader] = iter((first,))
        else:
            headers = (header for _, header in segment.iter_headers())
        for header in headers:
            epoch = header.partition_leader_epoch
            if epoch >= 0 and epoch != latest:
                yield EpochEntry(epoch, header.base_offset)
                latest = epoch
