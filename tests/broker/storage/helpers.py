"""Builders shared by the storage tests."""

from __future__ import annotations

import json
from pathlib import Path

from broker.records.batch import BatchHeader, check_batch
from broker.records.record import Record, build_batch, decode_batch
from broker.storage.log import AppendInfo, Log
from broker.storage.log_config import LogConfig
from broker.storage.producer_state import ProducerStateManager
from contracts.clock import ManualClock


def open_log(path: Path, clock: ManualClock, **config: int) -> Log:
    log, _ = Log.open(path, LogConfig(**config), clock.time_ms)  # type: ignore[arg-type]
    return log


def values_from(log: Log, offset: int = 0) -> list[bytes | None]:
    """Every record value from ``offset`` to the log end, read back through ``read``."""
    out: list[bytes | None] = []
    while offset < log.log_end_offset:
        info = log.read(offset, 1 << 20, log.log_end_offset)
        data = bytes(info.data)
        pos = 0
        while pos < len(data):
            records = decode_batch(data, pos)
            out.extend(r.value for r in records if r.offset >= offset)
            pos += int.from_bytes(data[pos + 8 : pos + 12], "big") + 12
        offset = records[-1].offset + 1
    return out


def segment_files(directory: Path) -> dict[str, bytes]:
    """The bytes of every segment file in ``directory``, by file name."""
    return {p.name: p.read_bytes() for p in sorted(directory.glob("*.log"))}


def log_bytes(directory: Path) -> bytes:
    """The concatenated segment files of a partition directory, in offset order: what
    must be identical between replicas whatever their segment boundaries."""
    return b"".join(segment_files(directory).values())


def replicate(leader: Log, follower: Log, max_bytes: int = 1 << 20) -> int:
    """Copy the leader's log to the follower as a fetcher would (follower fetches from
    its log end until it reaches the leader's); returns the number of fetches."""
    fetches = 0
    while follower.log_end_offset < leader.log_end_offset:
        data = leader.read_replica(follower.log_end_offset, max_bytes).data
        follower.append_replicated(data)
        fetches += 1
    return fetches


def producer_state_json(state: ProducerStateManager, scratch: Path) -> object:
    """The snapshot content of ``state`` (a comparable value)."""
    state.write_snapshot(scratch)
    return json.loads(scratch.read_text())


def batch_of(
    *values: bytes,
    timestamp_ms: int = 1_000,
    producer_id: int = -1,
    epoch: int = -1,
    sequence: int = -1,
) -> tuple[bytes, BatchHeader]:
    raw = build_batch(
        [Record(v, key=b"k", timestamp_ms=timestamp_ms) for v in values],
        producer_id=producer_id,
        producer_epoch=epoch,
        base_sequence=sequence,
    )
    return raw, check_batch(raw)


def append_values(log: Log, *values: bytes, timestamp_ms: int = 1_000) -> AppendInfo:
    raw, header = batch_of(*values, timestamp_ms=timestamp_ms)
    return log.append(raw, header, leader_epoch=0)
