"""File-backed durable state of one RaftNode: hard state, snapshot and log in a directory.

The I/O edge of the quorum: ``save(ready)`` does the persistence a ``Ready`` asks for
(the rules are in ``state.py``; this class follows them exactly) and ``load()`` returns
the ``PersistedState`` to build the node from after a restart. Files, all big-endian::

    hard_state   "TWHS" u8 version, i64 term, i64 voted_for (-1: none), u32 crc32
    snapshot     "TWSN" u8 version, i64 index, i64 term, u32 data_len, data, u32 crc32
    entries.log  one segment of frames, append-only:
                 u32 body_len, u32 crc32(body), body = i64 term, i64 index, payload

``hard_state`` and ``snapshot`` are replaced atomically (write a temp file, fsync it,
rename it over the old one, fsync the directory), so they are either old or new, never
torn; if one fails its checks on open that is real damage and ``open`` raises rather
than forget a vote. ``entries.log`` is appended to and truncated in place; entry indexes
in it are consecutive. A crash can tear its tail: ``open`` scans every frame, cuts the
file at the first one that is short, fails its CRC or breaks the index run, and reports
what it dropped in ``recovery``. Compaction (a new snapshot) rewrites the entries after
the snapshot into a new segment atomically: the metadata log is small between
snapshots, and one file keeps recovery simple.

Durability: ``save`` fsyncs whatever it wrote before returning (``sync=False`` leaves
the log fsync to a later ``sync()``). Any ``OSError`` (disk full, permissions, I/O
error) becomes ``QuorumStorageError`` and the store refuses further writes: reopen the
directory, which recovers to the last consistent state, rather than trust a half-done
write. One store per directory (an exclusive ``flock`` on ``lock`` enforces it, so two
controllers pointed at one directory cannot interleave writes), used from one thread;
the entries are also kept in memory.
"""

from __future__ import annotations

import fcntl
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from broker.quorum.errors import QuorumStorageError
from broker.quorum.messages import Entry
from broker.quorum.state import (
    HardState,
    PersistedState,
    Ready,
    Snapshot,
    entries_after_snapshot,
)

__all__ = ["RaftStorage", "RecoveryInfo"]

LOCK_FILE = "lock"
HARD_STATE_FILE = "hard_state"
SNAPSHOT_FILE = "snapshot"
LOG_FILE = "entries.log"
_TEMP_SUFFIX = ".tmp"
_VERSION = 1
_HARD_STATE = struct.Struct(">4sBqq")
_SNAPSHOT_HEAD = struct.Struct(">4sBqqI")
_CRC = struct.Struct(">I")
_FRAME_HEAD = struct.Struct(">II")
_ENTRY_HEAD = struct.Struct(">qq")
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class RecoveryInfo:
    """What opening the log found: how many entries survived, and what was cut."""

    entries: int
    valid_bytes: int
    dropped_bytes: int
    reason: str | None


def encode_entry(entry: Entry) -> bytes:
    body = _ENTRY_HEAD.pack(entry.term, entry.index) + entry.payload
    return _FRAME_HEAD.pack(len(body), zlib.crc32(body)) + body


def _scan(data: bytes) -> tuple[list[Entry], list[int], int, str | None]:
    """Entries, their byte positions, the valid length and why the scan stopped early."""
    entries: list[Entry] = []
    positions: list[int] = []
    position = 0
    while position < len(data):
        if len(data) - position < _FRAME_HEAD.size:
            return entries, positions, position, f"position {position}: torn frame header"
        size, crc = _FRAME_HEAD.unpack_from(data, position)
        body = data[position + _FRAME_HEAD.size : position + _FRAME_HEAD.size + size]
        if len(body) < size or size < _ENTRY_HEAD.size:
            return entries, positions, position, f"position {position}: torn frame body"
        if zlib.crc32(body) != crc:
            return entries, positions, position, f"position {position}: CRC mismatch"
        term, index = _ENTRY_HEAD.unpack_from(body)
        if (entries and index != entries[-1].index + 1) or term < 1 or index < 1:
            return entries, positions, position, f"position {position}: entry {index} out of run"
        entries.append(Entry(term, index, body[_ENTRY_HEAD.size :]))
        positions.append(position)
        position += _FRAME_HEAD.size + size
    return entries, positions, position, None


def _decode_hard_state(data: bytes) -> HardState:
    if len(data) != _HARD_STATE.size + _CRC.size:
        raise ValueError(f"{len(data)} bytes, expected {_HARD_STATE.size + _CRC.size}")
    magic, version, term, voted_for = _HARD_STATE.unpack_from(data)
    if (magic, version) != (b"TWHS", _VERSION) or term < 0 or voted_for < -1:
        raise ValueError(f"bad header {magic!r} v{version} or values {term}/{voted_for}")
    if zlib.crc32(data[: _HARD_STATE.size]) != _CRC.unpack_from(data, _HARD_STATE.size)[0]:
        raise ValueError("CRC mismatch")
    return HardState(term, None if voted_for == -1 else voted_for)


def _encode_hard_state(hard_state: HardState) -> bytes:
    voted_for = -1 if hard_state.voted_for is None else hard_state.voted_for
    head = _HARD_STATE.pack(b"TWHS", _VERSION, hard_state.term, voted_for)
    return head + _CRC.pack(zlib.crc32(head))


def _decode_snapshot(data: bytes) -> Snapshot:
    if len(data) < _SNAPSHOT_HEAD.size + _CRC.size:
        raise ValueError(f"only {len(data)} bytes")
    magic, version, index, term, size = _SNAPSHOT_HEAD.unpack_from(data)
    if (magic, version) != (b"TWSN", _VERSION) or index < 1 or term < 1:
        raise ValueError(f"bad header {magic!r} v{version} or position {index}/{term}")
    if len(data) != _SNAPSHOT_HEAD.size + size + _CRC.size:
        raise ValueError(f"{len(data)} bytes, header says {size} bytes of data")
    body_end = _SNAPSHOT_HEAD.size + size
    if zlib.crc32(data[:body_end]) != _CRC.unpack_from(data, body_end)[0]:
        raise ValueError("CRC mismatch")
    return Snapshot(index, term, data[_SNAPSHOT_HEAD.size : body_end])


def _encode_snapshot(snapshot: Snapshot) -> bytes:
    head = _SNAPSHOT_HEAD.pack(b"TWSN", _VERSION, snapshot.index, snapshot.term, len(snapshot.data))
    return head + snapshot.data + _CRC.pack(zlib.crc32(head + snapshot.data))


class RaftStorage:
    """The durable state of one node in one directory. See the module docstring."""

    def __init__(self, directory: Path) -> None:
        """Use ``RaftStorage.open``."""
        self.directory = directory
        self.hard_state = HardState()
        self.snapshot = Snapshot()
        self.recovery = RecoveryInfo(0, 0, 0, None)
        self._entries: list[Entry] = []
        self._positions: list[int] = []
        self._size = 0
        self._fd = -1
        self._lock_fd = -1
        self._failed: str | None = None

    @classmethod
    def open(cls, directory: Path | str) -> RaftStorage:
        """Open (creating if needed) and recover the store in ``directory``."""
        store = cls(Path(directory))
        try:
            store._open()
        except OSError as error:
            store.close()
            raise QuorumStorageError(f"cannot open {directory}: {error}") from error
        except BaseException:
            store.close()
            raise
        return store

    def _open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise QuorumStorageError(f"{self.directory} is in use by another store") from None
        for leftover in self.directory.glob("*" + _TEMP_SUFFIX):
            leftover.unlink()
        self.hard_state = self._read_checked(HARD_STATE_FILE, _decode_hard_state, HardState())
        self.snapshot = self._read_checked(SNAPSHOT_FILE, _decode_snapshot, Snapshot())
        path = self.directory / LOG_FILE
        data = path.read_bytes() if path.exists() else b""
        entries, positions, valid, reason = _scan(data)
        self.recovery = RecoveryInfo(len(entries), valid, len(data) - valid, reason)
        if entries and entries[0].index > self.snapshot.index + 1:
            raise QuorumStorageError(
                f"{path} starts at entry {entries[0].index}, but the snapshot ends at "
                f"{self.snapshot.index}: entries are missing"
            )
        kept = entries_after_snapshot(tuple(entries), self.snapshot)
        if len(kept) != len(entries):
            self._rewrite_log(kept)
            return
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        if valid < len(data):
            os.ftruncate(self._fd, valid)
            os.fsync(self._fd)
        self._entries, self._positions, self._size = entries, positions, valid

    def _read_checked(self, name: str, decode: Callable[[bytes], _T], default: _T) -> _T:
        path = self.directory / name
        if not path.exists():
            return default
        try:
            return decode(path.read_bytes())
        except ValueError as error:
            raise QuorumStorageError(f"{path} is damaged: {error}") from None

    # -- reading -------------------------------------------------------------------

    def load(self) -> PersistedState:
        """What a RaftNode is built from after a restart."""
        return PersistedState(self.hard_state, self.snapshot, tuple(self._entries))

    @property
    def last_index(self) -> int:
        return self.snapshot.index + len(self._entries)

    # -- writing -------------------------------------------------------------------

    def save(self, ready: Ready, *, sync: bool = True) -> None:
        """Persist what ``ready`` asks for, in the order ``state.py`` defines."""
        if ready.hard_state is not None:
            self.save_hard_state(ready.hard_state)
        if ready.snapshot is not None:
            self.save_snapshot(ready.snapshot)
        if ready.entries:
            self.append(ready.entries, sync=sync)

    def save_hard_state(self, hard_state: HardState) -> None:
        self._check_usable()
        self._replace_file(HARD_STATE_FILE, _encode_hard_state(hard_state), "hard state")
        self.hard_state = hard_state

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """Store ``snapshot`` and cut the log by Raft's §7 rule (rewriting the segment)."""
        self._check_usable()
        self._replace_file(SNAPSHOT_FILE, _encode_snapshot(snapshot), "snapshot")
        self.snapshot = snapshot
        kept = entries_after_snapshot(tuple(self._entries), snapshot)
        try:
            self._rewrite_log(kept)
        except OSError as error:
            self._fail(error, "rewriting the log after a snapshot")

    def append(self, entries: tuple[Entry, ...], *, sync: bool = True) -> None:
        """Replace stored entries from ``entries[0].index`` on with ``entries``."""
        self._check_usable()
        if not entries:
            return
        first = entries[0].index
        if not self.snapshot.index < first <= self.last_index + 1:
            raise ValueError(
                f"entries from {first} do not fit a log of {self.snapshot.index + 1}.."
                f"{self.last_index}"
            )
        if first <= self.last_index:
            self.truncate_suffix(first, sync=False)
        frames = [encode_entry(entry) for entry in entries]
        try:
            _write_all(self._fd, b"".join(frames))
            if sync:
                os.fsync(self._fd)
        except OSError as error:
            self._fail(error, f"appending entries {first}..{entries[-1].index}")
        for entry, frame in zip(entries, frames, strict=True):
            self._entries.append(entry)
            self._positions.append(self._size)
            self._size += len(frame)

    def truncate_suffix(self, from_index: int, *, sync: bool = True) -> None:
        """Drop every stored entry with index >= ``from_index``."""
        self._check_usable()
        offset = from_index - self.snapshot.index - 1
        if offset >= len(self._entries):
            return
        if offset < 0:
            raise ValueError(f"entry {from_index} is inside the snapshot at {self.snapshot.index}")
        size = self._positions[offset]
        try:
            os.ftruncate(self._fd, size)
            if sync:
                os.fsync(self._fd)
        except OSError as error:
            self._fail(error, f"truncating the log at entry {from_index}")
        del self._entries[offset:], self._positions[offset:]
        self._size = size

    def sync(self) -> None:
        self._check_usable()
        try:
            os.fsync(self._fd)
        except OSError as error:
            self._fail(error, "syncing the log")

    def close(self) -> None:
        """Close the files and release the directory (also after a failure)."""
        for fd in (self._fd, self._lock_fd):
            if fd >= 0:
                os.close(fd)
        self._fd = self._lock_fd = -1
        self._failed = self._failed or "closed"

    # -- plumbing ------------------------------------------------------------------

    def _check_usable(self) -> None:
        if self._failed is not None:
            raise QuorumStorageError(f"store {self.directory} is unusable: {self._failed}")

    def _fail(self, error: OSError, doing: str) -> None:
        reason = f"{doing} in {self.directory} failed: {error.strerror or error}"
        self.close()
        self._failed = reason
        raise QuorumStorageError(reason) from error

    def _replace_file(self, name: str, data: bytes, what: str) -> None:
        try:
            _atomic_write(self.directory, name, data)
        except OSError as error:
            self._fail(error, f"writing the {what}")

    def _rewrite_log(self, entries: tuple[Entry, ...]) -> None:
        frames = [encode_entry(entry) for entry in entries]
        _atomic_write(self.directory, LOG_FILE, b"".join(frames))
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = os.open(self.directory / LOG_FILE, os.O_RDWR | os.O_APPEND)
        self._entries, self._positions, self._size = list(entries), [], 0
        for frame in frames:
            self._positions.append(self._size)
            self._size += len(frame)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _atomic_write(directory: Path, name: str, data: bytes) -> None:
    """Write temp, fsync, rename over ``name``, fsync the directory."""
    temp = directory / (name + _TEMP_SUFFIX)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, directory / name)
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
