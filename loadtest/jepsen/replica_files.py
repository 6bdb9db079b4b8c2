"""Each broker's own replica of a partition, read from the segment files in its data dir.

Consumers can only read a partition's leader, up to the high watermark, so what a
follower holds is read where it is: the ``*.log`` segments of ``<data dir>/<topic>-<n>``
in base-offset order, decoded batch by batch with the record-batch format module
(:mod:`broker.records`, a pure codec: the one part of the broker this package reads;
see the import contract in pyproject.toml). The files are read while the brokers run,
once the run is quiet (no producer left, every replica caught up): the reader takes
whole batches only and stops at the first one that does not fit or does not check out,
as a recovering broker would, so a write landing meanwhile cannot confuse it.
"""

from __future__ import annotations

from pathlib import Path

from broker.records.batch import HEADER_SIZE, LOG_OVERHEAD, CorruptBatchError, read_prefix
from broker.records.record import decode_batch
from loadtest.jepsen.history import StoredRecord

__all__ = ["read_replica"]


def read_replica(data_dir: Path, topic: str, partition: int) -> tuple[StoredRecord, ...]:
    """Every record of the replica in ``data_dir`` (none when it has no directory),
    in offset order. A segment's bad tail is skipped, its earlier batches kept."""
    directory = data_dir / f"{topic}-{partition}"
    records: list[StoredRecord] = []
    for segment in sorted(directory.glob("*.log")):
        records.extend(_segment_records(segment.read_bytes(), partition))
    return tuple(records)


def _segment_records(data: bytes, partition: int) -> list[StoredRecord]:
    records: list[StoredRecord] = []
    position = 0
    while position + LOG_OVERHEAD <= len(data):
        _, size = read_prefix(data, position)
        if size < HEADER_SIZE or position + size > len(data):
            break
        try:
            batch = decode_batch(data, position)
        except CorruptBatchError:
            break
        records.extend(
            StoredRecord(
                partition,
                r.offset,
                None if r.value is None else r.value.decode(errors="replace"),
            )
            for r in batch
        )
        position += size
    return records
