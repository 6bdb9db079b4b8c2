"""The log of one partition: an ordered list of segments, the last one active.

Directory layout (one directory per partition, ``<topic>-<partition>``)::

    00000000000000000000.log / .index / .timeindex    sealed segments
    00000000000004213378.log / .index / .timeindex    the active segment
    00000000000004213378.snapshot                    producer state as of that offset

Invariants: segments are contiguous (each base offset is the previous segment's next
offset); ``log_start_offset`` is the first segment's base offset; ``log_end_offset`` is
the offset the next batch gets; batches are stored byte for byte as received except the
base offset and partition leader epoch, which are patched outside the CRC.

Durability: appends go to the page cache with ``pwrite`` before they are acknowledged,
so a killed process loses nothing; ``flush`` fsyncs and advances ``flushed_offset``,
which is what survives a power loss. Who calls ``flush`` and when is the flush policy
(``broker.cluster.flusher``). ``flush`` is the only method safe to call from another
thread; everything else belongs to the event-loop thread.
"""

from __future__ import annotations

import logging
import struct
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from broker.records.batch import (
    LOG_OVERHEAD,
    BatchHeader,
    CorruptBatchError,
    read_prefix,
)
from broker.records.record import decode_batch
from broker.storage.errors import (
    InvalidRecordError,
    LogStorageError,
    OffsetOutOfRangeError,
    RecordTooLargeError,
)
from broker.storage.log_config import LogConfig
from broker.storage.producer_state import ProducerStateManager
from broker.storage.segment import LogSegment, RecoveryInfo, segment_file_name

__all__ = ["AppendInfo", "DeletedSegment", "Log", "LogRecovery", "ReadInfo"]

log = logging.getLogger(__name__)

_LAST_DELTA = struct.Struct(">i")
_MAX_RELATIVE_OFFSET = 2**31 - 1
_READ_CACHE_ENTRIES = 16


class AppendInfo(NamedTuple):
    """Where an appended batch landed. ``duplicate`` marks a retried idempotent batch
    that was not stored again; its offsets are those of the original."""

    base_offset: int
    last_offset: int
    records: int
    size_bytes: int
    max_timestamp: int
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class ReadInfo:
    """Whole batches read from one segment, starting at the batch holding the offset.
    ``records`` counts the records in them (``next_offset`` - first batch's base)."""

    data: memoryview | bytes
    batches: int
    records: int = 0


_EMPTY_READ = ReadInfo(b"", 0)


@dataclass(frozen=True, slots=True)
class DeletedSegment:
    base_offset: int
    next_offset: int
    size_bytes: int
    reason: str


@dataclass(frozen=True, slots=True)
class LogRecovery:
    """What opening a log found; ``truncated_bytes`` > 0 means a torn or corrupt tail
    was cut off, and ``reason`` says what was wrong."""

    segments: int
    log_start_offset: int
    log_end_offset: int
    truncated_bytes: int
    rebuilt_indexes: int
    reason: str | None


class Log:
    """See the module docstring."""

    def __init__(self, directory: Path, config: LogConfig, clock_ms: Callable[[], int]) -> None:
        self.directory = directory
        self.config = config
        self._clock_ms = clock_ms
        self._segments: list[LogSegment] = []
        self._bases: list[int] = []
        self.producer_state = ProducerStateManager()
        self.size_bytes = 0
        self.flushed_offset = 0
        self._unflushed: list[LogSegment] = []
        self._read_cache: OrderedDict[int, tuple[LogSegment, int]] = OrderedDict()

    # -- opening -------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        directory: Path,
        config: LogConfig,
        clock_ms: Callable[[], int],
        *,
        clean_shutdown: bool = False,
    ) -> tuple[Log, LogRecovery]:
        """Open (creating if needed) the log in ``directory`` and recover it.

        Sealed segments keep their index files when these validate, otherwise the index
        is rebuilt by a scan. The active segment is always scanned (with CRC checks
        unless the previous shutdown was clean) to rebuild its index, find the log end
        and replay producer state; a torn tail is truncated and reported.
        """
        directory.mkdir(parents=True, exist_ok=True)
        self = cls(directory, config, clock_ms)
        for stray in directory.glob("*.tmp"):
            stray.unlink()
        bases = sorted(int(p.stem) for p in directory.glob("*.log") if p.stem.isdigit())
        if not bases:
            bases = [0]
        rebuilt = 0
        for base in bases[:-1]:
            segment = LogSegment(directory, base, config.index_interval_bytes)
            if not segment.load_indexes():
                segment.recover(verify_crc=True)
                segment.persist_indexes()
                rebuilt += 1
            self._add_segment(segment)
        active = LogSegment(directory, bases[-1], config.index_interval_bytes)
        self._load_producer_snapshot(active.base_offset)
        info: RecoveryInfo = active.recover(
            verify_crc=not clean_shutdown, on_batch=self.producer_state.update
        )
        if info.truncated_bytes:
            log.warning(
                "recovered %s by truncating %d bytes of %s: %s",
                directory.name,
                info.truncated_bytes,
                active.path.name,
                info.reason,
            )
        if active.size:
            active.created_ms = active.first_batch_timestamp
        else:
            active.created_ms = clock_ms()
        self._add_segment(active)
        active.fsync()
        self.flushed_offset = self.log_end_offset
        recovery = LogRecovery(
            segments=len(self._segments),
            log_start_offset=self.log_start_offset,
            log_end_offset=self.log_end_offset,
            truncated_bytes=info.truncated_bytes,
            rebuilt_indexes=rebuilt,
            reason=info.reason,
        )
        return self, recovery

    def _load_producer_snapshot(self, active_base: int) -> None:
        snapshots = sorted(
            (int(p.stem), p) for p in self.directory.glob("*.snapshot") if p.stem.isdigit()
        )
        for offset, path in reversed(snapshots):
            if offset > active_base:
                path.unlink()
                continue
            try:
                self.producer_state.load_snapshot(path)
                return
            except (ValueError, KeyError, TypeError, OSError) as exc:
                log.warning("ignoring unreadable producer snapshot %s: %s", path, exc)

    def _add_segment(self, segment: LogSegment) -> None:
        self._segments.append(segment)
        self._bases.append(segment.base_offset)
        self.size_bytes += segment.size

    # -- state -----------------------------------------------------------------------

    @property
    def active(self) -> LogSegment:
        return self._segments[-1]

    @property
    def log_start_offset(self) -> int:
        return self._segments[0].base_offset

    @property
    def log_end_offset(self) -> int:
        return self._segments[-1].next_offset

    @property
    def segment_count(self) -> int:
        return len(self._segments)

    @property
    def max_timestamp(self) -> int:
        return max(segment.max_timestamp for segment in self._segments)

    # -- append ----------------------------------------------------------------------

    def append(
        self, batch: bytes | bytearray | memoryview, header: BatchHeader, leader_epoch: int
    ) -> AppendInfo:
        """Assign offsets to one validated batch and write it (the stored copy carries
        the assigned base offset and ``leader_epoch``; ``batch`` itself is not modified).

        Raises RecordTooLargeError, InvalidRecordError, the producer-state errors, or
        LogStorageError when the disk refuses the write (nothing is stored then).
        """
        size = header.size
        if size > self.config.max_message_bytes:
            raise RecordTooLargeError(
                f"batch of {size} bytes exceeds max.message.bytes={self.config.max_message_bytes}"
            )
        if header.is_transactional or header.is_control:
            raise InvalidRecordError("transactional and control batches are not supported")
        if header.producer_id >= 0:
            original = self.producer_state.check(header)
            if original is not None:
                return AppendInfo(
                    original.first_offset,
                    original.last_offset,
                    header.records_count,
                    size,
                    original.max_timestamp,
                    duplicate=True,
                )
        self._maybe_roll(size, header.last_offset_delta)
        segment = self._segments[-1]
        base_offset = segment.next_offset
        if segment.size == 0:
            segment.created_ms = self._clock_ms()
        segment.append(batch, header, base_offset, leader_epoch)
        self.size_bytes += size
        if header.producer_id >= 0:
            self.producer_state.update(header._replace(base_offset=base_offset))
        return AppendInfo(
            base_offset,
            base_offset + header.last_offset_delta,
            header.records_count,
            size,
            header.max_timestamp,
        )

    def _maybe_roll(self, incoming_bytes: int, last_delta: int) -> None:
        active = self._segments[-1]
        if active.size == 0:
            return
        reason = None
        if active.size + incoming_bytes > self.config.segment_bytes:
            reason = "size"
        elif self._clock_ms() - active.created_ms >= self.config.segment_ms:
            reason = "age"
        elif active.next_offset + last_delta - active.base_offset > _MAX_RELATIVE_OFFSET:
            reason = "offset range"
        if reason is not None:
            self.roll(reason)

    def roll(self, reason: str = "requested") -> LogSegment:
        """Seal the active segment and start a new one at the log end offset.

        Raises LogStorageError when the disk refuses a file (full, read-only); the
        active segment then stays active and a later append retries the roll."""
        old = self._segments[-1]
        if old.size == 0:
            return old
        base = old.next_offset
        try:
            old.persist_indexes()
            self.producer_state.write_snapshot(
                self.directory / segment_file_name(base, ".snapshot")
            )
            segment = LogSegment(self.directory, base, self.config.index_interval_bytes)
        except OSError as exc:
            raise LogStorageError(f"cannot roll {self.directory.name}: {exc.strerror}") from exc
        self._unflushed.append(old)
        segment.next_offset = base
        segment.created_ms = self._clock_ms()
        self._add_segment(segment)
        log.debug("rolled %s at offset %d (%s)", self.directory.name, base, reason)
        return segment

    # -- read ------------------------------------------------------------------------

    def read(self, offset: int, max_bytes: int, max_offset: int, min_one: bool = True) -> ReadInfo:
        """Whole batches from the batch holding ``offset``, up to ``max_bytes`` and not
        past ``max_offset`` (the high watermark). With ``min_one`` the first batch is
        returned even when larger than ``max_bytes``. Reads stay within one segment.

        Raises OffsetOutOfRangeError below the log start or above the log end.
        """
        if offset < self.log_start_offset or offset > self.log_end_offset:
            raise OffsetOutOfRangeError(
                f"offset {offset} is outside [{self.log_start_offset}, {self.log_end_offset}]"
            )
        if offset >= max_offset:
            return _EMPTY_READ
        located = self._locate(offset)
        if located is None:
            return _EMPTY_READ
        segment, position = located
        data = segment.read(position, max(max_bytes, LOG_OVERHEAD))
        end, batches, next_offset = _cut_whole_batches(data, max_bytes, max_offset)
        if batches == 0:
            if not min_one or len(data) < LOG_OVERHEAD:
                return _EMPTY_READ
            base, size = read_prefix(data)
            if base >= max_offset:
                return _EMPTY_READ
            data = segment.read(position, size)
            end, batches, next_offset = _cut_whole_batches(data, size, max_offset)
            if batches == 0:
                return _EMPTY_READ
        self._remember(next_offset, segment, position + end)
        first_base = read_prefix(data)[0]
        return ReadInfo(memoryview(data)[:end], batches, next_offset - first_base)

    def _locate(self, offset: int) -> tuple[LogSegment, int] | None:
        cached = self._read_cache.get(offset)
        if cached is not None:
            segment, position = cached
            # A cached position at the end of a sealed segment means "next segment".
            if not segment.closed and (position < segment.size or segment is self.active):
                return cached
        i = bisect_right(self._bases, offset) - 1
        while 0 <= i < len(self._segments):
            segment = self._segments[i]
            found = segment.find_batch(offset)
            if found is not None:
                return segment, found[0]
            i += 1
        return None

    def _remember(self, next_offset: int, segment: LogSegment, position: int) -> None:
        cache = self._read_cache
        cache[next_offset] = (segment, position)
        if len(cache) > _READ_CACHE_ENTRIES:
            cache.popitem(last=False)

    def offset_for_timestamp(self, timestamp: int) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record with timestamp >= ``timestamp``."""
        for segment in self._segments:
            if segment.max_timestamp < timestamp:
                continue
            found = segment.find_timestamp(timestamp)
            if found is None:
                continue
            position, header = found
            for record in decode_batch(segment.read(position, header.size)):
                if record.timestamp_ms >= timestamp:
                    return record.offset, record.timestamp_ms
        return None

    def offset_of_max_timestamp(self) -> tuple[int, int] | None:
        """(offset, timestamp) of the record with the largest timestamp, or None."""
        best = max(self._segments, key=lambda s: s.max_timestamp)
        if best.max_timestamp < 0:
            return None
        found = best.find_timestamp(best.max_timestamp)
        if found is None:
            return None
        position, header = found
        for record in decode_batch(best.read(position, header.size)):
            if record.timestamp_ms == best.max_timestamp:
                return record.offset, record.timestamp_ms
        return header.last_offset, header.max_timestamp

    def record_timestamp(self, offset: int) -> int | None:
        """Exact timestamp of the record at ``offset`` (decoding its batch), or None
        when the offset is not stored. A batch that cannot be decoded (compressed
        batches are stored as received, and garbage can carry a correct CRC) answers
        with its base timestamp, the first record's, rather than failing the caller."""
        if not self.log_start_offset <= offset < self.log_end_offset:
            return None
        located = self._locate(offset)
        if located is None:
            return None
        segment, position = located
        header = segment.read_header(position)
        if header.records_count == 1:
            return header.max_timestamp
        try:
            records = decode_batch(segment.read(position, header.size))
        except CorruptBatchError:
            return header.base_timestamp
        for record in records:
            if record.offset == offset:
                return record.timestamp_ms
        return None

    def segment_max_timestamp(self, offset: int) -> int | None:
        """Largest timestamp of the segment holding ``offset``: when retention.ms will
        delete it is this plus retention.ms."""
        i = bisect_right(self._bases, offset) - 1
        if i < 0:
            return None
        return self._segments[i].max_timestamp

    # -- retention -------------------------------------------------------------------

    def delete_expired(self, now_ms: int) -> list[DeletedSegment]:
        """Delete whole segments beyond retention.ms or retention.bytes, oldest first.

        A fully expired active segment is rolled first so its data can go too (the log
        start then equals the log end). Never deletes data above the deleted segments.
        """
        deleted: list[DeletedSegment] = []
        retention_ms = self.config.retention_ms
        if retention_ms >= 0:
            horizon = now_ms - retention_ms
            active = self._segments[-1]
            if (
                active.size
                and active.max_timestamp < horizon
                and all(s.max_timestamp < horizon for s in self._segments)
            ):
                self.roll("retention")
            while len(self._segments) > 1 and self._segments[0].max_timestamp < horizon:
                deleted.append(self._delete_oldest(f"older than retention.ms={retention_ms}"))
        retention_bytes = self.config.retention_bytes
        if retention_bytes >= 0:
            while (
                len(self._segments) > 1
                and self.size_bytes - self._segments[0].size >= retention_bytes
            ):
                deleted.append(self._delete_oldest(f"beyond retention.bytes={retention_bytes}"))
        return deleted

    def delete_segments_below(self, offset: int, reason: str) -> list[DeletedSegment]:
        """Delete sealed segments whose every offset is below ``offset`` (used by
        internal logs that snapshot their state and drop the history before it)."""
        deleted = []
        while len(self._segments) > 1 and self._segments[0].next_offset <= offset:
            deleted.append(self._delete_oldest(reason))
        return deleted

    def _delete_oldest(self, reason: str) -> DeletedSegment:
        segment = self._segments.pop(0)
        self._bases.pop(0)
        self.size_bytes -= segment.size
        info = DeletedSegment(segment.base_offset, segment.next_offset, segment.size, reason)
        self._read_cache.clear()
        segment.delete()
        for snapshot in self.directory.glob("*.snapshot"):
            if snapshot.stem.isdigit() and int(snapshot.stem) < self.log_start_offset:
                snapshot.unlink(missing_ok=True)
        return info

    # -- durability and lifecycle ----------------------------------------------------

    def flush(self) -> int:
        """fsync everything appended so far; returns the offset now durable. Safe to call
        from a flusher thread while the event loop appends."""
        target = self.log_end_offset
        pending, self._unflushed = self._unflushed, []
        for segment in pending:
            segment.fsync()
        self._segments[-1].fsync()
        if target > self.flushed_offset:
            self.flushed_offset = target
        return target

    @property
    def unflushed(self) -> bool:
        return self.flushed_offset < self.log_end_offset

    def close(self) -> None:
        """fsync, persist the indexes and close every segment. Raises LogStorageError
        when the disk refuses; the segments are closed anyway and, without a clean
        shutdown, the next open recovers the log by a scan."""
        try:
            self.flush()
            for segment in self._segments:
                segment.persist_indexes()
        except OSError as exc:
            raise LogStorageError(
                f"cannot close {self.directory.name} cleanly: {exc.strerror or exc}"
            ) from exc
        finally:
            for segment in self._segments:
                segment.close()

    def delete(self) -> None:
        for segment in self._segments:
            segment.delete()
        for path in self.directory.iterdir():
            path.unlink()
        self.directory.rmdir()


def _cut_whole_batches(data: bytes, max_bytes: int, max_offset: int) -> tuple[int, int, int]:
    """(end, batch count, next offset) of the whole batches at the start of ``data`` that
    fit ``max_bytes`` and start below ``max_offset``."""
    pos = 0
    count = 0
    next_offset = -1
    limit = min(len(data), max_bytes)
    while pos + LOG_OVERHEAD <= limit:
        base, size = read_prefix(data, pos)
        if base >= max_offset or size < LOG_OVERHEAD or pos + size > limit:
            break
        next_offset = base + _LAST_DELTA.unpack_from(data, pos + 23)[0] + 1
        pos += size
        count += 1
    return pos, count, next_offset
