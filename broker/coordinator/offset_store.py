"""Durable committed offsets: an internal log replayed at start, as Kafka's
``__consumer_offsets`` (but private: it is not a topic clients can see).

Location: ``<data_dir>/.coordinator/offsets-0/`` (a regular broker.storage Log).
Each record's key and value are JSON::

    key {"type": "offset", "group": G, "topic": T, "partition": P}
    value {"offset": O, "leader_epoch": E, "metadata": M, "commit_timestamp_ms": TS}
    key {"type": "group", "group": G}, value null      the group was deleted

Replaying the log from the start rebuilds every group's offsets through the same
``apply_offsets`` / ``apply_delete`` calls that live commits use. When the log grows
past ``compact_after_bytes`` it is compacted by snapshot: the current offsets are
written after a roll and the older segments deleted, so its size tracks the number of
live offsets, not the history of commits. The flush policy applies to it like to any
partition (``partition`` is a hidden Partition for the Flusher).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from pathlib import Path

from broker.cluster.partition import Partition
from broker.coordinator.coordinator import GroupCoordinator, OffsetCommitPlan
from broker.coordinator.group import CommittedOffset
from broker.records.batch import check_batch, read_prefix
from broker.records.record import Record, build_batch, decode_batch
from broker.storage.log import Log
from broker.storage.log_config import LogConfig

__all__ = ["OffsetStore"]

log = logging.getLogger(__name__)

INTERNAL_TOPIC = "__consumer_offsets"
_INTERNAL_ID = uuid.UUID("00000000-0000-0000-0000-00000000c0de")
_LOG_CONFIG = LogConfig(
    segment_bytes=16 * 1024 * 1024,
    retention_ms=-1,
    max_message_bytes=64 * 1024 * 1024,
)
_RECORDS_PER_BATCH = 500


def _dumps(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


class OffsetStore:
    def __init__(
        self,
        data_dir: Path,
        clock_ms: Callable[[], int],
        *,
        durable: bool,
        compact_after_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.directory = data_dir / ".coordinator" / "offsets-0"
        self._clock_ms = clock_ms
        self._durable = durable
        self.compact_after_bytes = compact_after_bytes
        self.log: Log | None = None
        self.partition: Partition | None = None
        self.compactions = 0

    def open(self, coordinator: GroupCoordinator) -> int:
        """Open the log and replay it into ``coordinator``; returns records replayed."""
        opened, recovery = Log.open(self.directory, _LOG_CONFIG, self._clock_ms)
        if recovery.truncated_bytes:
            log.warning(
                "offsets log: dropped %d bytes of torn tail (%s)",
                recovery.truncated_bytes,
                recovery.reason,
            )
        self.log = opened
        self.partition = Partition(
            INTERNAL_TOPIC,
            _INTERNAL_ID,
            0,
            opened,
            durable=self._durable,
            on_high_watermark=lambda _: None,
        )
        replayed = 0
        offset = opened.log_start_offset
        end = opened.log_end_offset
        while offset < end:
            info = opened.read(offset, 1 << 20, end)
            data = bytes(info.data)
            if not data:
                break
            pos = 0
            while pos < len(data):
                for record in decode_batch(data, pos):
                    self._replay(coordinator, record)
                    replayed += 1
                    offset = record.offset + 1
                pos += read_prefix(data, pos)[1]
        return replayed

    @staticmethod
    def _replay(coordinator: GroupCoordinator, record: Record) -> None:
        key = json.loads(record.key or b"{}")
        if key.get("type") == "group" and record.value is None:
            coordinator.apply_delete(key["group"])
        elif key.get("type") == "offset" and record.value is not None:
            value = json.loads(record.value)
            coordinator.apply_offsets(
                OffsetCommitPlan(
                    key["group"],
                    ((key["topic"], int(key["partition"]), CommittedOffset(**value)),),
                )
            )

    def _append(self, records: list[Record]) -> None:
        assert self.log is not None
        assert self.partition is not None
        for start in range(0, len(records), _RECORDS_PER_BATCH):
            raw = build_batch(records[start : start + _RECORDS_PER_BATCH])
            self.partition.append(raw, check_batch(raw))

    def _offset_records(self, plan: OffsetCommitPlan) -> list[Record]:
        now = self._clock_ms()
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
                timestamp_ms=now,
            )
            for t, p, c in plan.offsets
        ]

    def append_commit(self, plan: OffsetCommitPlan) -> None:
        """Persist a commit (to the page cache; the flush policy decides the fsync)."""
        self._append(self._offset_records(plan))

    def append_delete(self, group_id: str) -> None:
        self._append(
            [
                Record(
                    key=_dumps({"type": "group", "group": group_id}),
                    value=None,
                    timestamp_ms=self._clock_ms(),
                )
            ]
        )

    def maybe_compact(self, coordinator: GroupCoordinator) -> bool:
        """Snapshot live offsets and drop older history once the log is large."""
        assert self.log is not None
        if self.log.size_bytes < self.compact_after_bytes:
            return False
        self.compact(coordinator)
        return True

    def compact(self, coordinator: GroupCoordinator) -> None:
        assert self.log is not None
        self.log.roll("snapshot")
        snapshot_start = self.log.log_end_offset
        records: list[Record] = []
        for group in coordinator.listed():
            plan = OffsetCommitPlan(
                group.group_id, tuple((t, p, c) for (t, p), c in sorted(group.offsets.items()))
            )
            records.extend(self._offset_records(plan))
        if records:
            self._append(records)
        self.log.flush()
        deleted = self.log.delete_segments_below(snapshot_start, "replaced by a snapshot")
        self.compactions += 1
        log.info(
            "compacted the offsets log: %d live offsets kept, %d segments dropped",
            len(records),
            len(deleted),
        )

    def close(self) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None
