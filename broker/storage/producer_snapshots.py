"""Producer-state snapshot files of one partition directory, and rebuilding the state.

``<offset>.snapshot`` (offset zero-padded to 20 digits) holds the idempotent-producer
state of every batch below ``offset`` (see broker.storage.producer_state for the
content). The log writes one whenever it rolls a segment, named by the new segment's
base offset. Rebuilding the state as of an offset means: load the newest readable
snapshot at or below it, then replay the batch headers from the snapshot's offset up to
it. Event-loop thread only, like the owning Log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from broker.records.batch import BatchHeader
from broker.storage.producer_state import ProducerStateManager
from broker.storage.segment import LogSegment, headers_between

__all__ = [
    "SNAPSHOT_SUFFIX",
    "delete_snapshots",
    "load_latest_snapshot",
    "producer_state_at",
    "replay_headers",
    "snapshot_offsets",
    "snapshot_path",
]

log = logging.getLogger(__name__)

SNAPSHOT_SUFFIX = ".snapshot"


def snapshot_offsets(directory: Path) -> list[int]:
    """Offsets of the snapshot files in ``directory``, ascending."""
    return sorted(int(p.stem) for p in directory.glob("*" + SNAPSHOT_SUFFIX) if p.stem.isdigit())


def snapshot_path(directory: Path, offset: int) -> Path:
    return directory / f"{offset:020d}{SNAPSHOT_SUFFIX}"


def delete_snapshots(
    directory: Path, *, above: int | None = None, below: int | None = None
) -> None:
    """Delete the snapshots at offsets > ``above`` and those < ``below``."""
    for offset in snapshot_offsets(directory):
        if (above is not None and offset > above) or (below is not None and offset < below):
            snapshot_path(directory, offset).unlink(missing_ok=True)


def load_latest_snapshot(
    directory: Path, state: ProducerStateManager, at_or_below: int
) -> int | None:
    """Load into ``state`` the newest readable snapshot at or below ``at_or_below``;
    returns its offset, or None when there is none (``state`` is then untouched).
    Unreadable snapshots are skipped with a warning (an older one is tried)."""
    for offset in reversed(snapshot_offsets(directory)):
        if offset > at_or_below:
            continue
        path = snapshot_path(directory, offset)
        try:
            state.load_snapshot(path)
        except (ValueError, KeyError, TypeError, OSError) as exc:
            log.warning("ignoring unreadable producer snapshot %s: %s", path, exc)
            continue
        return offset
    return None


def replay_headers(state: ProducerStateManager, headers: Iterable[BatchHeader]) -> int:
    """Apply the idempotent batches among ``headers`` to ``state`` (offsets already
    assigned); returns how many batches were replayed."""
    replayed = 0
    for header in headers:
        if header.producer_id >= 0:
            state.update(header)
            replayed += 1
    return replayed


def producer_state_at(
    directory: Path, segments: Sequence[LogSegment], offset: int
) -> ProducerStateManager:
    """Producer state as of ``offset`` (every batch below it): the newest readable
    snapshot at or below ``offset``, then the batches of ``segments`` from the snapshot
    (or from the first segment when there is none) up to ``offset``."""
    state = ProducerStateManager()
    loaded = load_latest_snapshot(directory, state, offset)
    first = segments[0].base_offset if segments else offset
    start = max(loaded, first) if loaded is not None else first
    if start < offset:
        replay_headers(state, headers_between(segments, start, offset))
    return state
