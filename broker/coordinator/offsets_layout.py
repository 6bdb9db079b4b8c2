"""The local offsets logs on disk, and re-homing their records when the partition count
changes.

Layout of ``<data_dir>/.coordinator/``::

    offsets-layout.json               {"version": 1, "partitions": N}: the layout in force
    offsets-0/ ... offsets-<N-1>/     one broker.storage Log per offsets partition
    offsets-<p>.migrating-from-<M>/   partition p of the previous layout (M partitions),
                                      set aside while its records are re-homed
    offsets-<p>.migrated-<ms>[-<n>]/  partition p of a replaced layout, kept aside (safe
                                      to delete once the new layout is trusted)

Without a layout file the directory holds the first, single-log layout (every group in
``offsets-0``; M = 1), or nothing yet.

Re-homing (``prepare_layout``), when the configured partition count N differs from the
layout in force M. Each group's offsets must end up in partition
``coordinator_partition(group, N)``. The steps, every one safe to interrupt:

1. set the old partitions aside: ``offsets-<p>`` becomes ``offsets-<p>.migrating-from-M``;
2. remove every plain ``offsets-<q>`` directory left (half-written new partitions of an
   interrupted attempt; the old ones are all set aside by now);
3. replay the set-aside logs (``LiveOffsets``: the latest offset per key) and write each
   group's live offsets into its new partition, fsynced;
4. commit: replace ``offsets-layout.json`` with N (atomically, fsynced);
5. retire: rename each ``offsets-<p>.migrating-from-M`` to ``offsets-<p>.migrated-<ms>``.

At start a ``.migrating-from-M`` directory tells what was interrupted: if the layout in
force is still M, the commit (step 4) did not happen and re-homing starts again at step
1 (the set-aside logs are intact; new partitions are rebuilt from scratch, so nothing is
written twice); otherwise it did, and only step 5 remains. Until step 4 the old layout
is the one in force, after it the new one: a crash loses no committed offset and never
shows one twice.

The old logs are kept aside rather than deleted: re-homing is rare, they are at most
one compacted log per old partition, and they let an operator recover by hand if a bug
ever lost an offset (a start logs where they are). History is not re-homed, only the
live offsets (that is what a replay gives; compaction would drop the rest anyway).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from broker.coordinator.coordinator import OffsetCommitPlan
from broker.coordinator.offset_records import (
    LiveOffsets,
    OffsetsRecordError,
    commit_records,
    decode_record,
    encode_batches,
    records_from,
)
from broker.metadata.offsets_topic import coordinator_partition
from broker.records.batch import check_batch
from broker.storage.checkpoint import fsync_directory, write_atomically
from broker.storage.errors import LogStorageError, StorageError
from broker.storage.log import Log
from broker.storage.log_config import LogConfig

__all__ = [
    "COORDINATOR_DIR",
    "LAYOUT_FILE",
    "OFFSETS_LOG_CONFIG",
    "LayoutError",
    "layout_in_force",
    "partition_dir",
    "prepare_layout",
]

log = logging.getLogger(__name__)

COORDINATOR_DIR = ".coordinator"
LAYOUT_FILE = "offsets-layout.json"
_LAYOUT_VERSION = 1
OFFSETS_LOG_CONFIG = LogConfig(
    segment_bytes=16 * 1024 * 1024,
    retention_ms=-1,
    max_message_bytes=64 * 1024 * 1024,
)
_PLAIN = re.compile(r"offsets-(\d+)")
_MIGRATING = re.compile(r"offsets-(\d+)\.migrating-from-(\d+)")
_READ_BYTES = 1 << 20


class LayoutError(StorageError):
    """The offsets layout on disk cannot be understood; the message names the file (the
    broker refuses to start rather than guess where offsets live)."""


def partition_dir(directory: Path, partition: int) -> Path:
    return directory / f"offsets-{partition}"


def layout_in_force(directory: Path) -> int | None:
    """The partition count of the layout in force; None when there is no layout file
    (the single-log layout, or a fresh directory)."""
    path = directory / LAYOUT_FILE
    try:
        raw = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise LayoutError(f"{path}: unreadable ({exc})") from exc
    if not isinstance(raw, dict) or raw.get("version") != _LAYOUT_VERSION:
        raise LayoutError(f"{path}: expected a layout of version {_LAYOUT_VERSION}")
    partitions = raw.get("partitions")
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        raise LayoutError(f"{path}: partitions must be a whole number >= 1, not {partitions!r}")
    return partitions


def _write_layout(directory: Path, partitions: int) -> None:
    data = json.dumps({"version": _LAYOUT_VERSION, "partitions": partitions}, sort_keys=True)
    write_atomically(directory / LAYOUT_FILE, data.encode() + b"\n")


def prepare_layout(
    directory: Path, partitions: int, clock_ms: Callable[[], int], config: LogConfig
) -> None:
    """Make ``directory`` hold the layout with ``partitions`` partitions, re-homing the
    records of the layout in force (see the module docstring). Idempotent; safe to
    interrupt and call again. Raises LogStorageError when the disk refuses."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / (LAYOUT_FILE + ".tmp")).unlink(missing_ok=True)
    recorded = layout_in_force(directory)
    in_force = recorded or 1
    _retire_committed(directory, in_force, clock_ms)
    interrupted = any(m == in_force for _, m in _set_aside(directory))
    fresh = recorded is None and not partition_dir(directory, 0).exists()
    if interrupted or (in_force != partitions and not fresh):
        _rehome(directory, in_force, partitions, clock_ms, config)
    elif recorded != partitions:
        _write_layout(directory, partitions)


def _set_aside(directory: Path) -> list[tuple[int, int]]:
    """(partition, old partition count) of every ``.migrating-from-M`` directory."""
    found = []
    for path in directory.iterdir():
        match = _MIGRATING.fullmatch(path.name)
        if match is not None and path.is_dir():
            found.append((int(match[1]), int(match[2])))
    return sorted(found)


def _retire_committed(directory: Path, in_force: int, clock_ms: Callable[[], int]) -> None:
    """Step 5 of a re-homing whose commit happened (its old count is not in force)."""
    for partition, old in _set_aside(directory):
        if old != in_force:
            source = directory / f"offsets-{partition}.migrating-from-{old}"
            target = _unused(directory / f"offsets-{partition}.migrated-{clock_ms()}")
            os.replace(source, target)
            log.info("kept the replaced offsets log %s aside as %s", source.name, target.name)
    fsync_directory(directory)


def _unused(path: Path) -> Path:
    """``path``, or ``path-1``, ``path-2``... the first that does not exist."""
    candidate, n = path, 0
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def _rehome(
    directory: Path, old: int, new: int, clock_ms: Callable[[], int], config: LogConfig
) -> None:
    log.info("re-homing committed offsets from %d offsets partition(s) to %d", old, new)
    for partition in range(old):  # step 1
        plain = partition_dir(directory, partition)
        aside = directory / f"offsets-{partition}.migrating-from-{old}"
        if plain.is_dir() and not aside.exists():
            os.replace(plain, aside)
    fsync_directory(directory)
    for path in directory.iterdir():  # step 2
        if _PLAIN.fullmatch(path.name) and path.is_dir():
            shutil.rmtree(path)
    live = LiveOffsets()  # step 3
    for partition, count in _set_aside(directory):
        if count == old:
            _replay(directory / f"offsets-{partition}.migrating-from-{old}", live, clock_ms, config)
    homes: dict[int, list[OffsetCommitPlan]] = {p: [] for p in range(new)}
    for plan in live.plans():
        homes[coordinator_partition(plan.group_id, new)].append(plan)
    for partition, plans in homes.items():
        _write_partition(partition_dir(directory, partition), plans, clock_ms, config)
    fsync_directory(directory)
    _write_layout(directory, new)  # step 4: the new layout is in force from here
    log.info("re-homed %d committed offsets into %d offsets partitions", len(live), new)
    _retire_committed(directory, new, clock_ms)  # step 5


def _replay(
    source: Path, live: LiveOffsets, clock_ms: Callable[[], int], config: LogConfig
) -> None:
    opened, _ = Log.open(source, config, clock_ms)
    try:
        offset = opened.log_start_offset
        while offset < opened.log_end_offset:
            data = opened.read(offset, _READ_BYTES, opened.log_end_offset).data
            for record in records_from(data, offset):
                offset = record.offset + 1
                try:
                    decoded = decode_record(record)
                except OffsetsRecordError as exc:
                    log.error("%s: skipped a malformed record (%s)", source.name, exc)
                    continue
                if decoded is not None:
                    live.apply(decoded)
    finally:
        opened.close()


def _write_partition(
    path: Path, plans: list[OffsetCommitPlan], clock_ms: Callable[[], int], config: LogConfig
) -> None:
    now = clock_ms()
    records = [record for plan in plans for record in commit_records(plan, now)]
    target, _ = Log.open(path, config, clock_ms)
    try:
        for batch in encode_batches(records):
            target.append(batch, check_batch(batch), 0)
        target.flush()
    except OSError as exc:
        raise LogStorageError(f"cannot write {target.directory.name}: {exc}") from exc
    finally:
        target.close()
