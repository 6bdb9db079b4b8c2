"""One log segment: a file of contiguous record batches plus its two sparse indexes.

Files, named by the zero-padded base offset (the offset of the first batch)::

    00000000000000000000.log        batches exactly as stored (see broker.records.batch)
    00000000000000000000.index      OffsetIndex
    00000000000000000000.timeindex  TimeIndex

Invariants: batches are contiguous from byte 0 to ``size`` with strictly increasing
offsets, all >= ``base_offset``; ``size`` is the file length after every completed
append (a failed write is truncated away before the error is raised); an index entry is
added after every ``index_interval_bytes`` of appended data. A segment is owned by one
Log and used from one thread; the flusher thread may only call ``fsync``.
"""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from broker.records.batch import (
    HEADER_SIZE,
    BatchHeader,
    CorruptBatchError,
    check_batch,
    parse_header,
    read_prefix,
)
from broker.storage.errors import LogStorageError
from broker.storage.index import IndexCorruptError, OffsetIndex, TimeIndex

__all__ = ["LogSegment", "RecoveryInfo", "headers_between", "segment_file_name"]

_SCAN_CHUNK = 8 * 1024 * 1024
# base_offset int64, batch_length int32, partition_leader_epoch int32: the patched prefix.
_PATCH = struct.Struct(">qii")


def segment_file_name(base_offset: int, suffix: str) -> str:
    return f"{base_offset:020d}{suffix}"


@dataclass(frozen=True, slots=True)
class RecoveryInfo:
    """What a recovery scan found in one segment."""

    batches: int
    valid_bytes: int
    truncated_bytes: int
    next_offset: int
    reason: str | None


class LogSegment:
    """A segment file with an offset index and a time index. See the module docstring."""

    def __init__(self, directory: Path, base_offset: int, index_interval_bytes: int) -> None:
        self.directory = directory
        self.base_offset = base_offset
        self.index_interval_bytes = index_interval_bytes
        self.path = directory / segment_file_name(base_offset, ".log")
        self.index = OffsetIndex(directory / segment_file_name(base_offset, ".index"), base_offset)
        self.time_index = TimeIndex(
            directory / segment_file_name(base_offset, ".timeindex"), base_offset
        )
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        self.size = os.fstat(self._fd).st_size
        self.next_offset = base_offset
        self.max_timestamp = -1
        self.offset_of_max_timestamp = -1
        # Timestamp of the first batch: the age used to roll by segment.ms.
        self.first_batch_timestamp = -1
        self.created_ms = -1
        self._bytes_since_index = 0
        self.closed = False

    # -- writing -------------------------------------------------------------------

    def append(
        self,
        batch: bytes | bytearray | memoryview,
        header: BatchHeader,
        base_offset: int,
        leader_epoch: int,
    ) -> int:
        """Write one batch at the end with ``base_offset`` and ``leader_epoch`` patched
        into its first 16 bytes (outside the CRC; the caller's buffer is not modified).
        Returns the batch's position. On an I/O error the partial write is removed and
        LogStorageError raised, leaving the segment as it was."""
        position = self.size
        view = memoryview(batch)
        total = len(view)
        prefix = _PATCH.pack(base_offset, header.batch_length, leader_epoch)
        written = 0
        try:
            written = os.pwritev(self._fd, [prefix, view[16:]], position)
            if written < total:  # a short write (rare): finish from a patched copy
                patched = memoryview(prefix + bytes(view[16:]))
                while written < total:
                    written += os.pwrite(self._fd, patched[written:], position + written)
        except OSError as exc:
            self._undo_write(position)
            raise LogStorageError(_describe_os_error(exc, self.path)) from exc
        self.size = position + written
        self._after_append(
            position, base_offset, header.last_offset_delta, header.max_timestamp, header.size
        )
        return position

    def _undo_write(self, position: int) -> None:
        try:
            os.ftruncate(self._fd, position)
        except OSError:
            pass

    def _after_append(
        self, position: int, base_offset: int, last_delta: int, max_timestamp: int, size: int
    ) -> None:
        if self.first_batch_timestamp < 0:
            self.first_batch_timestamp = max_timestamp
        if self._bytes_since_index >= self.index_interval_bytes and position > 0:
            self.index.append(base_offset, position)
            self._bytes_since_index = 0
        self._bytes_since_index += size
        if max_timestamp > self.max_timestamp:
            self.max_timestamp = max_timestamp
            self.offset_of_max_timestamp = base_offset + last_delta
            self.time_index.maybe_append(max_timestamp, base_offset)
        self.next_offset = base_offset + last_delta + 1

    def append_batches(self, data: memoryview, headers: Sequence[BatchHeader]) -> int:
        """Write whole batches exactly as given: a follower's copy of its leader's bytes,
        offsets and leader epochs already assigned. ``headers`` describe ``data`` batch
        by batch (the caller validated them). Returns the position of the first batch.
        On an I/O error the partial write is removed and LogStorageError raised."""
        position = self.size
        total = len(data)
        written = 0
        try:
            while written < total:
                written += os.pwrite(self._fd, data[written:], position + written)
        except OSError as exc:
            self._undo_write(position)
            raise LogStorageError(_describe_os_error(exc, self.path)) from exc
        self.size = position + total
        batch_position = position
        for header in headers:
            self._after_append(
                batch_position,
                header.base_offset,
                header.last_offset_delta,
                header.max_timestamp,
                header.size,
            )
            batch_position += header.size
        return position

    def truncate_to(self, position: int) -> int:
        """Cut the file at ``position`` (a batch boundary), fsync the new length, and
        rebuild the indexes and offsets from what remains (a header scan); returns the
        bytes removed. Raises LogStorageError when the disk refuses."""
        removed = self.size - position
        try:
            os.ftruncate(self._fd, position)
            os.fsync(self._fd)
        except OSError as exc:
            raise LogStorageError(_describe_os_error(exc, self.path)) from exc
        self.recover(verify_crc=False)
        return removed

    def fsync(self) -> None:
        if not self.closed:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                if exc.errno != errno.EBADF:
                    raise LogStorageError(_describe_os_error(exc, self.path)) from exc

    def persist_indexes(self) -> None:
        self.index.persist()
        self.time_index.persist()

    def flush(self) -> None:
        self.fsync()
        self.persist_indexes()

    # -- reading -------------------------------------------------------------------

    def read(self, position: int, max_bytes: int) -> bytes:
        """Raw bytes from ``position``; may end mid-batch (the caller cuts)."""
        length = max(0, min(max_bytes, self.size - position))
        if length == 0:
            return b""
        return os.pread(self._fd, length, position)

    def read_header(self, position: int) -> BatchHeader:
        raw = os.pread(self._fd, HEADER_SIZE, position)
        if len(raw) < HEADER_SIZE:
            raise CorruptBatchError(f"{self.path.name}: short header at position {position}")
        return parse_header(raw)

    def iter_headers(self, position: int = 0) -> Iterator[tuple[int, BatchHeader]]:
        """(position, header) for each batch from ``position`` to the end (no CRC check)."""
        while position + HEADER_SIZE <= self.size:
            header = self.read_header(position)
            yield position, header
            position += header.size

    def find_batch(self, offset: int) -> tuple[int, BatchHeader] | None:
        """Position and header of the first batch whose last offset >= ``offset``."""
        _, position = self.index.lookup(offset)
        for pos, header in self.iter_headers(position):
            if header.last_offset >= offset:
                return pos, header
        return None

    def first_batch(self) -> BatchHeader | None:
        return self.read_header(0) if self.size else None

    def last_batch(self) -> BatchHeader | None:
        if not self.size:
            return None
        found = self.find_batch(self.next_offset - 1)
        return found[1] if found is not None else None

    def find_timestamp(self, timestamp: int) -> tuple[int, BatchHeader] | None:
        """Position and header of the first batch whose max timestamp >= ``timestamp``."""
        start_offset = self.time_index.lookup(timestamp)
        found = self.find_batch(start_offset)
        if found is None:
            return None
        for pos, header in self.iter_headers(found[0]):
            if header.max_timestamp >= timestamp:
                return pos, header
        return None

    # -- recovery ------------------------------------------------------------------

    def load_indexes(self) -> bool:
        """Load index files for a sealed segment; False when they must be rebuilt."""
        try:
            self.index.load(self.size)
            _, last_position = self.index.last()
            # The next offset comes from the batches after the last index entry.
            self.next_offset = self.base_offset
            for position, header in self.iter_headers(last_position):
                if (
                    position > last_position
                    and position - last_position >= self.index_interval_bytes
                ):
                    return False  # appends would have indexed this batch: the file lost entries
                self.next_offset = header.next_offset
                self.max_timestamp = max(self.max_timestamp, header.max_timestamp)
            self.time_index.load(self.next_offset)
        except (IndexCorruptError, OSError, CorruptBatchError):
            return False
        if self.size and self.next_offset == self.base_offset:
            return False
        self.max_timestamp = max(self.max_timestamp, self.time_index.last_timestamp)
        if self.size:
            self.first_batch_timestamp = self.read_header(0).max_timestamp
        return True

    def recover(
        self, verify_crc: bool, on_batch: Callable[[BatchHeader], None] | None = None
    ) -> RecoveryInfo:
        """Rebuild indexes and state by scanning every batch; truncate a torn or corrupt
        tail at the first batch that fails validation. ``on_batch`` sees each valid
        header (the log replays producer state with it)."""
        self.index.reset()
        self.time_index.reset()
        self.next_offset = self.base_offset
        self.max_timestamp = -1
        self.offset_of_max_timestamp = -1
        self.first_batch_timestamp = -1
        self._bytes_since_index = 0
        file_size = os.fstat(self._fd).st_size
        position = 0
        batches = 0
        reason: str | None = None
        while position < file_size:
            try:
                header = self._check_at(position, file_size, verify_crc)
            except CorruptBatchError as exc:
                reason = f"position {position}: {exc}"
                break
            if header.base_offset < self.next_offset:
                reason = (
                    f"position {position}: offset {header.base_offset} goes backwards "
                    f"(expected >= {self.next_offset})"
                )
                break
            self._after_append(
                position,
                header.base_offset,
                header.last_offset_delta,
                header.max_timestamp,
                header.size,
            )
            if on_batch is not None:
                on_batch(header)
            position += header.size
            batches += 1
        truncated = file_size - position
        if truncated:
            os.ftruncate(self._fd, position)
        self.size = position
        return RecoveryInfo(batches, position, truncated, self.next_offset, reason)

    def _check_at(self, position: int, file_size: int, verify_crc: bool) -> BatchHeader:
        prefix = os.pread(self._fd, 12, position)
        if len(prefix) < 12:
            raise CorruptBatchError(f"torn batch prefix ({len(prefix)} bytes)")
        _, size = read_prefix(prefix)
        if size < HEADER_SIZE or position + size > file_size:
            raise CorruptBatchError(
                f"batch of {size} bytes does not fit the {file_size - position} bytes left"
            )
        if not verify_crc:
            header = self.read_header(position)
            if header.magic != 2:
                raise CorruptBatchError(f"unsupported magic {header.magic}")
            return header
        if size <= _SCAN_CHUNK:
            data = os.pread(self._fd, size, position)
        else:
            data = self._read_exact(position, size)
        return check_batch(data)

    def _read_exact(self, position: int, size: int) -> bytes:
        parts = []
        done = 0
        while done < size:
            chunk = os.pread(self._fd, min(_SCAN_CHUNK, size - done), position + done)
            if not chunk:
                break
            parts.append(chunk)
            done += len(chunk)
        return b"".join(parts)

    # -- lifecycle -----------------------------------------------------------------

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        os.close(self._fd)

    def delete(self) -> None:
        self.close()
        for path in (self.path, self.index.path, self.time_index.path):
            path.unlink(missing_ok=True)


def headers_between(segments: Iterable[LogSegment], start: int, end: int) -> Iterator[BatchHeader]:
    """Headers of the batches whose base offset is in [``start``, ``end``), in order,
    across contiguous ``segments`` (no CRC check: replays of what the log holds)."""
    for segment in segments:
        if segment.next_offset <= start or segment.base_offset >= end or not segment.size:
            continue
        position = 0
        if start > segment.base_offset:
            found = segment.find_batch(start)
            if found is None:
                continue
            position = found[0]
        for _, header in segment.iter_headers(position):
            if header.base_offset >= end:
                return
            if header.base_offset >= start:
                yield header


def _describe_os_error(exc: OSError, path: Path) -> str:
    if exc.errno == errno.ENOSPC:
        return f"no space left on device writing {path.name}: free disk space, then retry"
    if exc.errno == errno.EDQUOT:
        return f"disk quota exceeded writing {path.name}: raise the quota, then retry"
    return f"I/O error writing {path.name}: {exc.strerror or exc}"
