"""The segments of one log and their flushing (Kafka's ``LocalLog``).

``LogSegments`` is the mechanics under broker.storage.log.Log: finding the segment and
byte position of an offset, reading whole batches, timestamp lookups, adding a segment
at the end, removing segments from either end (deleting their files), cutting the log
at a batch boundary, and fsyncing (``flush``, ``flushed_offset``). It knows nothing of
leader epochs, producer state, the log start offset or retention policy; the Log
decides what to remove and keeps those consistent.

Invariants: segments are contiguous (each base offset is the previous segment's next
offset) and there is always at least one once the Log is open; ``size_bytes`` is the
sum of their sizes (the Log reports appends with ``grew``). Reads remember where the
previous read of a consumer ended (a small cache keyed by the next offset), so
sequential fetches skip the index lookup; any removal forgets those positions.

Threads: ``flush`` may run on the flusher thread while the event loop appends; every
other method belongs to the event-loop thread. A flush that overlaps a truncation
does not advance ``flushed_offset`` (a lock and a truncation counter see to it).
"""

from __future__ import annotations

import struct
import threading
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

from broker.records.batch import LOG_OVERHEAD, BatchHeader, CorruptBatchError, read_prefix
from broker.records.record import decode_batch
from broker.storage.checkpoint import fsync_directory
from broker.storage.errors import LogStorageError
from broker.storage.log_results import ReadInfo
from broker.storage.segment import LogSegment, headers_between

__all__ = ["LogSegments"]

_LAST_DELTA = struct.Struct(">i")
_READ_CACHE_ENTRIES = 16


_EMPTY_READ = ReadInfo(b"", 0)


class LogSegments:
    """See the module docstring."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._segments: list[LogSegment] = []
        self._bases: list[int] = []
        self.size_bytes = 0
        self._read_cache: OrderedDict[int, tuple[LogSegment, int]] = OrderedDict()
        self.flushed_offset = 0
        self._flush_lock = threading.Lock()
        self._truncations = 0
        self._unflushed: list[LogSegment] = []

    def __len__(self) -> int:
        return len(self._segments)

    def __iter__(self) -> Iterator[LogSegment]:
        return iter(self._segments)

    def __getitem__(self, index: int) -> LogSegment:
        return self._segments[index]

    @property
    def first(self) -> LogSegment:
        return self._segments[0]

    @property
    def active(self) -> LogSegment:
        return self._segments[-1]

    @property
    def max_timestamp(self) -> int:
        return max(segment.max_timestamp for segment in self._segments)

    # -- changes -----------------------------------------------------------------------

    def add(self, segment: LogSegment) -> None:
        """Add ``segment`` at the end: it becomes the active one."""
        self._segments.append(segment)
        self._bases.append(segment.base_offset)
        self.size_bytes += segment.size

    def roll_to(self, segment: LogSegment) -> None:
        """Add ``segment`` as the new active one; the old one is fsynced by the next
        ``flush``."""
        self._unflushed.append(self._segments[-1])
        self.add(segment)

    def grew(self, size_bytes: int) -> None:
        """The active segment grew by ``size_bytes`` (an append)."""
        self.size_bytes += size_bytes

    def remove_oldest(self) -> LogSegment:
        """Remove the oldest segment and delete its files; returns it (closed)."""
        segment = self._segments.pop(0)
        self._bases.pop(0)
        self._forget(segment)
        return segment

    def remove_after(self, index: int) -> int:
        """Remove the segments after ``self[index]`` (all of them for -1), newest first
        (a crash part-way leaves a contiguous prefix), deleting their files; returns
        the bytes removed."""
        removed = 0
        while len(self._segments) > index + 1:
            segment = self._segments.pop()
            self._bases.pop()
            removed += segment.size
            self._forget(segment)
        return removed

    def truncate_at(self, offset: int) -> tuple[int, int]:
        """Remove every batch from the one holding ``offset`` on (``offset`` must be
        stored): later segments are deleted newest first, the segment holding it is cut
        at that batch and fsynced, then the directory is fsynced. Returns (the new end
        offset, bytes removed). Raises LogStorageError."""
        holding = self.index_holding(offset)
        segment = self._segments[holding]
        found = segment.find_batch(offset)
        if found is None:
            raise LogStorageError(f"{segment.path.name}: no batch holds offset {offset}")
        position, header = found
        removed = self.remove_after(holding)
        cut_bytes = segment.truncate_to(position)
        self.size_bytes -= cut_bytes
        fsync_directory(self.directory)
        self._truncated(header.base_offset)
        return header.base_offset, removed + cut_bytes

    def restart_at(self, offset: int, index_interval_bytes: int, created_ms: int) -> int:
        """Delete every segment (newest first), then continue with an empty segment at
        ``offset``; returns the bytes removed. Raises LogStorageError."""
        removed = self.remove_after(-1)
        directory = self.directory
        try:
            segment = LogSegment(directory, offset, index_interval_bytes)
        except OSError as exc:
            raise LogStorageError(
                f"cannot restart {directory.name} at offset {offset}: {exc.strerror}"
            ) from exc
        segment.created_ms = created_ms
        self.add(segment)
        fsync_directory(directory)
        self._truncated(offset)
        return removed

    def _truncated(self, new_end: int) -> None:
        with self._flush_lock:
            self._truncations += 1
            self.flushed_offset = min(self.flushed_offset, new_end)
        self._unflushed = [segment for segment in self._unflushed if not segment.closed]
        self._read_cache.clear()

    def flush(self) -> int:
        """fsync everything appended so far; returns the offset now durable. Safe to call
        from a flusher thread while the event loop appends."""
        truncations = self._truncations
        target = self._segments[-1].next_offset
        pending, self._unflushed = self._unflushed, []
        for segment in pending:
            segment.fsync()
        self._segments[-1].fsync()
        with self._flush_lock:
            if truncations == self._truncations and target > self.flushed_offset:
                self.flushed_offset = target
            return self.flushed_offset

    def _forget(self, segment: LogSegment) -> None:
        self.size_bytes -= segment.size
        self._read_cache.clear()
        segment.delete()

    # -- lookups ---------------------------------------------------------------------

    def index_holding(self, offset: int) -> int:
        """Index of the segment whose range starts at or below ``offset`` (-1: none)."""
        return bisect_right(self._bases, offset) - 1

    def locate(self, offset: int) -> tuple[LogSegment, int] | None:
        """The segment and byte position of the batch holding ``offset`` (or the first
        batch after it), or None past the end."""
        cached = self._read_cache.get(offset)
        if cached is not None:
            segment, position = cached
            # A cached position at the end of a sealed segment means "next segment".
            if not segment.closed and (position < segment.size or segment is self.active):
                return cached
        i = self.index_holding(offset)
        while 0 <= i < len(self._segments):
            segment = self._segments[i]
            found = segment.find_batch(offset)
            if found is not None:
                return segment, found[0]
            i += 1
        return None

    def bytes_from(self, offset: int) -> int:
        """Bytes of the batches from the one holding ``offset`` to the log end (0 past
        the end): exact at batch granularity, found with the offset index and a few
        header reads, never by reading records."""
        located = self.locate(offset)
        if located is None:
            return 0
        segment, position = located
        later = self._segments[self._segments.index(segment) + 1 :]
        return segment.size - position + sum(s.size for s in later)

    def headers_between(self, start: int, end: int) -> Iterator[BatchHeader]:
        """Headers of the batches with a base offset in [``start``, ``end``)."""
        return headers_between(self._segments, start, end)

    # -- reads -----------------------------------------------------------------------

    def read(self, offset: int, max_bytes: int, max_offset: int, min_one: bool) -> ReadInfo:
        """Whole batches from the batch holding ``offset`` within its segment, up to
        ``max_bytes`` and starting below ``max_offset``; with ``min_one`` at least the
        first batch even when larger than ``max_bytes``. The caller checks the range."""
        if offset >= max_offset:
            return _EMPTY_READ
        located = self.locate(offset)
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

    def _remember(self, next_offset: int, segment: LogSegment, position: int) -> None:
        cache = self._read_cache
        cache[next_offset] = (segment, position)
        if len(cache) > _READ_CACHE_ENTRIES:
            cache.popitem(last=False)

    def offset_for_timestamp(self, timestamp: int, start: int) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record at or above ``start`` with a
        timestamp >= ``timestamp``."""
        for segment in self._segments:
            if segment.max_timestamp < timestamp or segment.next_offset <= start:
                continue
            found = segment.find_timestamp(timestamp)
            if found is None:
                continue
            for position, header in segment.iter_headers(found[0]):
                if header.max_timestamp < timestamp or header.last_offset < start:
                    continue
                for record in decode_batch(segment.read(position, header.size)):
                    if record.timestamp_ms >= timestamp and record.offset >= start:
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
        when no batch holds it. A batch that cannot be decoded (compressed batches are
        stored as received, and garbage can carry a correct CRC) answers with its base
        timestamp, the first record's, rather than failing the caller."""
        located = self.locate(offset)
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
        """Largest timestamp of the segment holding ``offset``."""
        i = self.index_holding(offset)
        if i < 0:
            return None
        return self._segments[i].max_timestamp


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
