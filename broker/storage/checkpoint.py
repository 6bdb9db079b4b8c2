"""Checkpoint files: small text files that are replaced atomically, in Kafka's format.

Format (ASCII text, as Kafka's ``CheckpointFile``)::

    0                   version
    2                   number of entries that follow
    <entry>             one entry per line, fields separated by one space
    <entry>

The files written with it:

    <partition dir>/leader-epoch-checkpoint       "epoch start_offset"      (epoch_cache)
    <partition dir>/log-start-offset-checkpoint   "start_offset"            (log)
    <data dir>/replication-offset-checkpoint      "topic partition offset"  (manager)

Writes are atomic and durable: the content goes to ``<name>.tmp`` beside the target,
is fsynced, renamed over the target, and the directory is fsynced, so a crash leaves
either the old file or the new one (plus perhaps a stray ``.tmp``, which the owner
removes when it opens). Rewriting a file with the content it already holds writes
nothing, so it also succeeds on a full disk. Reads are strict: anything but the exact format raises
CorruptCheckpointError naming the file and what is wrong; a missing file is the
caller's business (FileNotFoundError). Pure functions, no state: callers serialise
writes to one file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from broker.storage.errors import CorruptCheckpointError, LogStorageError

__all__ = [
    "HIGH_WATERMARK_CHECKPOINT",
    "LOG_START_CHECKPOINT",
    "fsync_directory",
    "parse_offset",
    "read_checkpoint",
    "read_log_start_checkpoint",
    "read_offset_checkpoint",
    "write_atomically",
    "write_checkpoint",
    "write_log_start_checkpoint",
    "write_offset_checkpoint",
]

HIGH_WATERMARK_CHECKPOINT = "replication-offset-checkpoint"
LOG_START_CHECKPOINT = "log-start-offset-checkpoint"
_OFFSET_CHECKPOINT_VERSION = 0


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` (tmp file, fsync, rename, fsync of the directory).

    When ``path`` already holds exactly ``data`` nothing is written: an unchanged file
    needs no disk space, so an owner that rewrites its files at open (the data
    directory's ``meta.json``, say) still opens on a full disk. (The files passed here
    are only ever written by this function, so an existing copy was fsynced before it
    was renamed into place.) Raises LogStorageError when the disk refuses; the old file
    is then unchanged."""
    if _holds(path, data):
        return
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_directory(path.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):  # best effort: the owner removes it at open
            tmp.unlink(missing_ok=True)
        raise LogStorageError(f"cannot write {path.name}: {exc.strerror or exc}") from exc


def _holds(path: Path, data: bytes) -> bool:
    """Whether ``path`` is a file whose content is exactly ``data`` (False when it
    cannot be read: the caller then writes it)."""
    try:
        if path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except OSError:
        return False


def fsync_directory(directory: Path) -> None:
    """fsync a directory, making renames, creations and deletions in it durable.
    Raises LogStorageError when the disk refuses."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise LogStorageError(f"cannot sync directory {directory.name}: {exc.strerror}") from exc


def write_checkpoint(path: Path, version: int, entries: Iterable[Sequence[object]]) -> None:
    """Write ``entries`` (each a sequence of fields) in the checkpoint format."""
    lines = [" ".join(str(field) for field in entry) for entry in entries]
    text = f"{version}\n{len(lines)}\n" + "".join(line + "\n" for line in lines)
    write_atomically(path, text.encode("ascii"))


def read_checkpoint(path: Path, version: int, fields: int) -> list[list[str]]:
    """The entries of a checkpoint file, each split into exactly ``fields`` strings.

    Raises FileNotFoundError when the file is missing and CorruptCheckpointError when it
    is not a version-``version`` checkpoint with the announced number of entries."""
    raw = path.read_bytes()
    if not raw:
        raise CorruptCheckpointError(f"{path.name}: is empty (torn write?)")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise CorruptCheckpointError(f"{path.name}: not ASCII text") from None
    if not text.endswith("\n"):
        raise CorruptCheckpointError(f"{path.name}: does not end with a newline (torn write?)")
    lines = text[:-1].split("\n")
    if len(lines) < 2:
        raise CorruptCheckpointError(f"{path.name}: needs a version line and a count line")
    if lines[0] != str(version):
        raise CorruptCheckpointError(f"{path.name}: version {lines[0]!r}, expected {version}")
    count = _parse_int(path, lines[1], "entry count")
    entries = [line.split(" ") for line in lines[2:]]
    if count != len(entries):
        raise CorruptCheckpointError(
            f"{path.name}: announces {count} entries but holds {len(entries)}"
        )
    for number, entry in enumerate(entries, start=3):
        if len(entry) != fields or not all(entry):
            raise CorruptCheckpointError(
                f"{path.name}: line {number} has {len(entry)} fields, expected {fields}"
            )
    return entries


def parse_offset(path: Path, text: str, what: str) -> int:
    """A non-negative integer field of a checkpoint; CorruptCheckpointError otherwise."""
    value = _parse_int(path, text, what)
    if value < 0:
        raise CorruptCheckpointError(f"{path.name}: {what} {value} is negative")
    return value


def _parse_int(path: Path, text: str, what: str) -> int:
    if not (text.isascii() and text.lstrip("-").isdigit()):
        raise CorruptCheckpointError(f"{path.name}: {what} {text!r} is not an integer")
    return int(text)


def read_offset_checkpoint(path: Path) -> dict[tuple[str, int], int]:
    """``{(topic, partition): offset}`` from a ``topic partition offset`` checkpoint."""
    offsets: dict[tuple[str, int], int] = {}
    for topic, partition, offset in read_checkpoint(path, _OFFSET_CHECKPOINT_VERSION, 3):
        key = (topic, parse_offset(path, partition, "partition"))
        if key in offsets:
            raise CorruptCheckpointError(f"{path.name}: {topic}-{key[1]} appears twice")
        offsets[key] = parse_offset(path, offset, f"offset of {topic}-{key[1]}")
    return offsets


def write_offset_checkpoint(path: Path, offsets: Mapping[tuple[str, int], int]) -> None:
    """Write ``{(topic, partition): offset}``, sorted, as a ``topic partition offset``
    checkpoint. Topic names never contain spaces (validate_topic_name). Raises
    ValueError for a negative offset or partition (the file could not be read back)."""
    for (topic, partition), offset in offsets.items():
        if offset < 0 or partition < 0 or not topic or " " in topic:
            raise ValueError(f"cannot checkpoint offset {offset} of {topic!r}-{partition}")
    write_checkpoint(
        path,
        _OFFSET_CHECKPOINT_VERSION,
        ((topic, partition, offset) for (topic, partition), offset in sorted(offsets.items())),
    )


def read_log_start_checkpoint(directory: Path) -> int | None:
    """The log start offset persisted in a partition directory, or None when there is
    no such file. Raises CorruptCheckpointError."""
    path = directory / LOG_START_CHECKPOINT
    try:
        rows = read_checkpoint(path, _OFFSET_CHECKPOINT_VERSION, 1)
    except FileNotFoundError:
        return None
    if len(rows) != 1:
        raise CorruptCheckpointError(f"{path.name}: holds {len(rows)} entries, expected 1")
    return parse_offset(path, rows[0][0], "log start offset")


def write_log_start_checkpoint(directory: Path, offset: int) -> None:
    """Persist a partition's log start offset (one ``start_offset`` entry)."""
    write_checkpoint(directory / LOG_START_CHECKPOINT, _OFFSET_CHECKPOINT_VERSION, [(offset,)])
