"""Builders shared by the storage tests."""

from __future__ import annotations

from broker.records.batch import BatchHeader, check_batch
from broker.records.record import Record, build_batch
from broker.storage.log import AppendInfo, Log


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
