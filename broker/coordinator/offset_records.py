"""The records of the offsets topic: their format, encoding and decoding. Pure.

Each record's key and value are compact JSON with sorted keys (the format of the first
single-log layout, kept so existing logs replay unchanged)::

    key   {"group": G, "partition": P, "topic": T, "type": "offset"}
    value {"commit_timestamp_ms": TS, "leader_epoch": E, "metadata": M, "offset": O}

    key   {"group": G, "type": "group"}
    value null                                   the group and its offsets were deleted

Records of other types are skipped on replay (room for later record types). Records go
into v2 batches of at most ``RECORDS_PER_BATCH`` records, without compression.
``LiveOffsets`` is what a replay of such records amounts to.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from broker.coordinator.coordinator import OffsetCommitPlan
from broker.coordinator.group import CommittedOffset
from broker.records.batch import check_batch, read_prefix
from broker.records.record import Record, build_batch, decode_batch

__all__ = [
    "RECORDS_PER_BATCH",
    "GroupDeletion",
    "LiveOffsets",
    "OffsetsRecord",
    "OffsetsRecordError",
    "commit_records",
    "decode_record",
    "deletion_record",
    "encode_batches",
    "end_offset",
    "records_from",
]

RECORDS_PER_BATCH = 500


@dataclass(frozen=True, slots=True)
class GroupDeletion:
    """A tombstone: the group and all its offsets are gone."""

    group_id: str


OffsetsRecord = OffsetCommitPlan | GroupDeletion


class OffsetsRecordError(ValueError):
    """A record whose key or value is not in the format above."""


def _dumps(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def commit_records(plan: OffsetCommitPlan, timestamp_ms: int) -> list[Record]:
    """One record per committed partition of ``plan``."""
    return [
        Record(
            key=_dumps({"type": "offset", "group": plan.group_id, "topic": t, "partition": p}),
            value=_dumps(
                {
                    "offset": c.offset,
                    "leader_epoch": c.leader_epoch,
                    "metadata": c.metadata,
                    "commit_timestamp_ms": c.commit_timestamp_ms,
                }
            ),
            timestamp_ms=timestamp_ms,
        )
        for t, p, c in plan.offsets
    ]


def deletion_record(group_id: str, timestamp_ms: int) -> Record:
    return Record(
        key=_dumps({"type": "group", "group": group_id}), value=None, timestamp_ms=timestamp_ms
    )


def encode_batches(records: Sequence[Record]) -> list[bytes]:
    """``records`` as v2 batches (base offset 0; the log assigns offsets)."""
    return [
        build_batch(records[start : start + RECORDS_PER_BATCH])
        for start in range(0, len(records), RECORDS_PER_BATCH)
    ]


def records_from(data: bytes | memoryview, start_offset: int) -> Iterator[Record]:
    """Records of the whole batches in ``data`` at or above ``start_offset``."""
    pos = 0
    while pos < len(data):
        for record in decode_batch(data, pos):
            if record.offset >= start_offset:
                yield record
        pos += read_prefix(data, pos)[1]


def end_offset(data: bytes | memoryview) -> int:
    """The offset after the last batch in ``data`` (0 when empty), whatever its records."""
    pos, end = 0, 0
    while pos < len(data):
        header = check_batch(data, pos, verify_crc=False)
        end = header.next_offset
        pos += header.size
    return end


def decode_record(record: Record) -> OffsetsRecord | None:
    """The commit or deletion a record holds; None for record types this version does
    not know. Raises OffsetsRecordError for a malformed known record."""
    try:
        key = json.loads(record.key or b"{}")
        kind = key.get("type")
        if kind == "group" and record.value is None:
            return GroupDeletion(str(key["group"]))
        if kind == "offset" and record.value is not None:
            value = json.loads(record.value)
            committed = CommittedOffset(
                offset=int(value["offset"]),
                leader_epoch=int(value["leader_epoch"]),
                metadata=value["metadata"],
                commit_timestamp_ms=int(value["commit_timestamp_ms"]),
            )
            return OffsetCommitPlan(
                str(key["group"]), ((str(key["topic"]), int(key["partition"]), committed),)
            )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise OffsetsRecordError(f"offset {record.offset}: {exc!r}") from exc
    return None


class LiveOffsets:
    """The state a replay of offsets records gives, in order: the latest committed offset
    per group, topic and partition; a deleted group is absent. ``len`` counts offsets."""

    def __init__(self) -> None:
        self.groups: dict[str, dict[tuple[str, int], CommittedOffset]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def apply(self, record: OffsetsRecord) -> None:
        if isinstance(record, GroupDeletion):
            self._count -= len(self.groups.pop(record.group_id, {}))
            return
        offsets = self.groups.setdefault(record.group_id, {})
        for topic, partition, committed in record.offsets:
            if (topic, partition) not in offsets:
                self._count += 1
            offsets[(topic, partition)] = committed

    def plans(self) -> Iterator[OffsetCommitPlan]:
        """One commit per group holding every live offset, sorted by group, topic and
        partition: records written from them replay to this state."""
        for group_id, offsets in sorted(self.groups.items()):
            if offsets:
                yield OffsetCommitPlan(
                    group_id, tuple((t, p, c) for (t, p), c in sorted(offsets.items()))
                )
