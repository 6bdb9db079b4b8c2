"""Sparse per-segment indexes: offset -> file position, and timestamp -> offset.

On-disk formats (big-endian, fixed-size entries, no header)::

    .index      relative_offset uint32, position uint32            (8 bytes)
    .timeindex  timestamp int64, relative_offset uint32              (12 bytes)

Relative offsets are ``offset - segment base offset``; the API speaks only absolute
offsets. Entries are strictly increasing in both columns. Indexes know nothing about
records: the segment decides when to add an entry. The entries live in memory; the file
is the persisted copy, written on roll and close (not fsynced: it is derived data),
validated on load and rebuilt from the log when it is missing or fails validation.
Not thread-safe: the owning segment serialises access.
"""

from __future__ import annotations

import os
import struct
from array import array
from bisect import bisect_right
from pathlib import Path

__all__ = ["IndexCorruptError", "OffsetIndex", "TimeIndex"]

_OFFSET_ENTRY = struct.Struct(">II")
_TIME_ENTRY = struct.Struct(">qI")


def _append_whole(path: Path, chunk: bytes, persisted_bytes: int) -> None:
    """Append ``chunk`` to the index file, or leave the file as it was (cut back to
    ``persisted_bytes``) and re-raise when the write fails, e.g. on a full disk."""
    try:
        with open(path, "ab") as f:
            f.write(chunk)
    except OSError:
        try:
            os.truncate(path, persisted_bytes)
        except OSError:
            pass
        raise


class IndexCorruptError(ValueError):
    """An index file failed validation; the caller rebuilds it from the log."""


class OffsetIndex:
    """Maps absolute offsets to the byte position of a batch at or before them."""

    def __init__(self, path: Path, base_offset: int) -> None:
        self.path = path
        self.base_offset = base_offset
        self._offsets = array("q")
        self._positions = array("q")
        self._persisted = 0

    def __len__(self) -> int:
        return len(self._offsets)

    def append(self, offset: int, position: int) -> None:
        """Add an entry; offsets and positions must increase."""
        if self._offsets and (offset <= self._offsets[-1] or position <= self._positions[-1]):
            raise ValueError(f"index entry ({offset}, {position}) does not increase")
        self._offsets.append(offset)
        self._positions.append(position)

    def lookup(self, offset: int) -> tuple[int, int]:
        """(offset, position) of the last entry at or before ``offset``, else the base."""
        i = bisect_right(self._offsets, offset)
        if i == 0:
            return self.base_offset, 0
        return self._offsets[i - 1], self._positions[i - 1]

    def last(self) -> tuple[int, int]:
        if not self._offsets:
            return self.base_offset, 0
        return self._offsets[-1], self._positions[-1]

    def truncate_to_position(self, position: int) -> None:
        """Drop entries pointing at or after ``position`` (used when the log is truncated)."""
        keep = bisect_right(self._positions, position - 1)
        del self._offsets[keep:]
        del self._positions[keep:]
        self._persisted = min(self._persisted, keep)
        if self.path.exists():
            # Cut to what is on disk, never past it: truncating to ``keep`` entries when
            # fewer were persisted would pad the file with zeros that ``persist`` then
            # appends after, leaving a file that fails validation.
            os.truncate(self.path, self._persisted * _OFFSET_ENTRY.size)

    def persist(self) -> None:
        """Append entries not yet on disk to the index file."""
        if self._persisted == len(self._offsets):
            if not self.path.exists():
                self.path.touch()
            return
        chunk = b"".join(
            _OFFSET_ENTRY.pack(self._offsets[i] - self.base_offset, self._positions[i])
            for i in range(self._persisted, len(self._offsets))
        )
        _append_whole(self.path, chunk, self._persisted * _OFFSET_ENTRY.size)
        self._persisted = len(self._offsets)

    def load(self, segment_size: int) -> None:
        """Read the file, validating monotonicity and bounds; raise IndexCorruptError."""
        raw = self.path.read_bytes()
        if len(raw) % _OFFSET_ENTRY.size:
            raise IndexCorruptError(f"{self.path.name}: size {len(raw)} is not a multiple of 8")
        offsets = array("q")
        positions = array("q")
        for rel, pos in _OFFSET_ENTRY.iter_unpack(raw):
            if offsets and (self.base_offset + rel <= offsets[-1] or pos <= positions[-1]):
                raise IndexCorruptError(f"{self.path.name}: entries do not increase")
            if pos >= segment_size:
                raise IndexCorruptError(f"{self.path.name}: position {pos} beyond segment end")
            offsets.append(self.base_offset + rel)
            positions.append(pos)
        self._offsets, self._positions = offsets, positions
        self._persisted = len(offsets)

    def reset(self) -> None:
        self._offsets = array("q")
        self._positions = array("q")
        self._persisted = 0
        self.path.unlink(missing_ok=True)


class TimeIndex:
    """Maps timestamps to the first offset whose batch may hold a record at or after it."""

    def __init__(self, path: Path, base_offset: int) -> None:
        self.path = path
        self.base_offset = base_offset
        self._timestamps = array("q")
        self._offsets = array("q")
        self._persisted = 0

    def __len__(self) -> int:
        return len(self._timestamps)

    @property
    def last_timestamp(self) -> int:
        return self._timestamps[-1] if self._timestamps else -1

    def maybe_append(self, timestamp: int, offset: int) -> None:
        """Add an entry when ``timestamp`` exceeds the last one indexed."""
        if self._timestamps and timestamp <= self._timestamps[-1]:
            return
        if self._offsets and offset <= self._offsets[-1]:
            return
        self._timestamps.append(timestamp)
        self._offsets.append(offset)

    def lookup(self, timestamp: int) -> int:
        """An offset from which a forward scan finds the first record >= ``timestamp``.

        Entries record (max timestamp so far, offset of the batch where it was seen), so
        every record before the entry just below ``timestamp`` is older than it.
        """
        i = bisect_right(self._timestamps, timestamp - 1)
        if i == 0:
            return self.base_offset
        return self._offsets[i - 1]

    def truncate_to_offset(self, offset: int) -> None:
        keep = bisect_right(self._offsets, offset - 1)
        del self._timestamps[keep:]
        del self._offsets[keep:]
        self._persisted = min(self._persisted, keep)
        if self.path.exists():
            # As in OffsetIndex: never extend the file past the persisted entries.
            os.truncate(self.path, self._persisted * _TIME_ENTRY.size)

    def persist(self) -> None:
        if self._persisted == len(self._timestamps):
            if not self.path.exists():
                self.path.touch()
            return
        chunk = b"".join(
            _TIME_ENTRY.pack(self._timestamps[i], self._offsets[i] - self.base_offset)
            for i in range(self._persisted, len(self._timestamps))
        )
        _append_whole(self.path, chunk, self._persisted * _TIME_ENTRY.size)
        self._persisted = len(self._timestamps)

    def load(self, next_offset: int) -> None:
        raw = self.path.read_bytes()
        if len(raw) % _TIME_ENTRY.size:
            raise IndexCorruptError(f"{self.path.name}: size {len(raw)} is not a multiple of 12")
        timestamps = array("q")
        offsets = array("q")
        for ts, rel in _TIME_ENTRY.iter_unpack(raw):
            offset = self.base_offset + rel
            if timestamps and (ts <= timestamps[-1] or offset <= offsets[-1]):
                raise IndexCorruptError(f"{self.path.name}: entries do not increase")
            if offset >= next_offset:
                raise IndexCorruptError(f"{self.path.name}: offset {offset} beyond segment end")
            timestamps.append(ts)
            offsets.append(offset)
        self._timestamps, self._offsets = timestamps, offsets
        self._persisted = len(timestamps)

    def reset(self) -> None:
        self._timestamps = array("q")
        self._offsets = array("q")
        self._persisted = 0
        self.path.unlink(missing_ok=True)
