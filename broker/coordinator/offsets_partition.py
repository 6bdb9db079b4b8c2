"""OffsetsPartition: the committed offsets of the groups of one offsets-topic partition.

It turns commits and deletions into records (``offset_records``) on the partition's
``OffsetsLog``, replays that log into a GroupCoordinator when this node becomes the
leader, and keeps the log small by snapshot compaction.

It mirrors what its log holds: ``live`` is the state a replay of the whole log would
give (``LiveOffsets``), updated on every append, before the record is committed. The
snapshot written by ``compact`` is that mirror, so commits appended but not yet
committed when a snapshot is taken are in it (they are below the snapshot, whose
history is dropped).

Snapshot compaction, per partition: once the log holds at least
``compact_after_records`` records and more than twice the live offsets, the live
offsets are appended again, and once they are committed the log start moves to the
first of them. Each snapshot writes as many records as there are live offsets and only
after at least as many commits, so the cost per commit is bounded.

Only records of groups that map to this partition are replayed; others (a log written
with another partition count and not migrated) are skipped and counted. A malformed
record is skipped, counted and logged.

Event-loop thread only; ``compact`` must not run twice at once (GroupService runs at
most one per partition).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from broker.coordinator.coordinator import GroupCoordinator, OffsetCommitPlan
from broker.coordinator.offset_records import (
    GroupDeletion,
    LiveOffsets,
    OffsetsRecord,
    OffsetsRecordError,
    commit_records,
    decode_record,
    deletion_record,
    encode_batches,
    end_offset,
    records_from,
)
from broker.coordinator.offsets_log import OffsetsLog
from broker.metadata.offsets_topic import coordinator_partition
from broker.records.record import Record

__all__ = ["DEFAULT_COMPACT_AFTER_RECORDS", "OffsetsPartition", "partition_of"]

log = logging.getLogger(__name__)

DEFAULT_COMPACT_AFTER_RECORDS = 100_000
_READ_BYTES = 1 << 20

# Kafka's hash is a Python loop over the group id: remember recent answers.
partition_of: Callable[[str, int], int] = functools.lru_cache(maxsize=65_536)(coordinator_partition)


class OffsetsPartition:
    def __init__(
        self,
        index: int,
        offsets_log: OffsetsLog,
        partition_count: int,
        clock_ms: Callable[[], int],
        *,
        compact_after_records: int = DEFAULT_COMPACT_AFTER_RECORDS,
    ) -> None:
        self.index = index
        self.log = offsets_log
        self.partition_count = partition_count
        self.compact_after_records = compact_after_records
        self._clock_ms = clock_ms
        self.live = LiveOffsets()
        # Next offset to replay; replay is done when it reaches the log end.
        self.replay_offset = offsets_log.log_start_offset
        self.replayed_records = 0
        self.skipped_records = 0
        self.compactions = 0

    # -- loading -----------------------------------------------------------------------

    @property
    def replay_done(self) -> bool:
        return self.replay_offset >= self.log.log_end_offset

    def load(self, coordinator: GroupCoordinator) -> int:
        """Replay the whole log into ``coordinator``; returns records replayed."""
        while not self.replay_done:
            self.replay_step(coordinator)
        return self.replayed_records

    def replay_step(self, coordinator: GroupCoordinator, max_bytes: int = _READ_BYTES) -> int:
        """Replay about ``max_bytes`` of the log (at least one batch) into
        ``coordinator`` through ``apply_offsets`` / ``apply_delete``, the calls live
        commits use; returns records replayed."""
        self.replay_offset = max(self.replay_offset, self.log.log_start_offset)
        data = self.log.read(self.replay_offset, max_bytes)
        replayed = 0
        for record in records_from(data, self.replay_offset):
            self.replay_offset = record.offset + 1
            decoded = self._decoded(record)
            if decoded is None:
                continue
            self.live.apply(decoded)
            if isinstance(decoded, GroupDeletion):
                coordinator.apply_delete(decoded.group_id)
            else:
                coordinator.apply_offsets(decoded)
            replayed += 1
        # Past batches without records for us too; nothing readable: do not spin.
        self.replay_offset = max(self.replay_offset, end_offset(data))
        if not data:
            self.replay_offset = self.log.log_end_offset
        self.replayed_records += replayed
        return replayed

    def _decoded(self, record: Record) -> OffsetsRecord | None:
        try:
            decoded = decode_record(record)
        except OffsetsRecordError as exc:
            self.skipped_records += 1
            log.error("offsets partition %d: skipped a malformed record (%s)", self.index, exc)
            return None
        if decoded is None:
            return None
        if partition_of(decoded.group_id, self.partition_count) != self.index:
            self.skipped_records += 1
            log.warning(
                "offsets partition %d: skipped a record of group %r, which belongs to partition %d",
                self.index,
                decoded.group_id,
                partition_of(decoded.group_id, self.partition_count),
            )
            return None
        return decoded

    # -- writing -----------------------------------------------------------------------

    def _append(self, records: list[Record]) -> int:
        last = -1
        for batch in encode_batches(records):
            last = self.log.append(batch).last_offset
        return last

    def append_commit(self, plan: OffsetCommitPlan) -> int:
        """Append a commit's records; returns the last offset to wait for. Raises what
        ``OffsetsLog.append`` raises (a multi-batch commit may be partly stored)."""
        last = self._append(commit_records(plan, self._clock_ms()))
        self.live.apply(plan)
        return last

    def append_delete(self, group_id: str) -> int:
        """Append a group's tombstone; returns its offset."""
        last = self._append([deletion_record(group_id, self._clock_ms())])
        self.live.apply(GroupDeletion(group_id))
        return last

    async def wait_committed(self, last_offset: int) -> None:
        await self.log.wait_committed(last_offset)

    # -- compaction --------------------------------------------------------------------

    @property
    def compaction_due(self) -> bool:
        held = self.log.log_end_offset - self.log.log_start_offset
        return held >= self.compact_after_records and held > 2 * len(self.live)

    async def compact(self) -> int:
        """Append a snapshot of the live offsets, wait until it is committed, then drop
        the history below it; returns the live offsets written. Raises what the log
        raises; the history then stays (the next compaction tries again)."""
        snapshot_start = self.log.log_end_offset
        now = self._clock_ms()
        records = [r for plan in self.live.plans() for r in commit_records(plan, now)]
        if records:
            self._append(records)
        # Everything below the new log start must be committed before it goes, the
        # snapshot and also records appended before it that are still being waited for.
        if self.log.log_end_offset > self.log.log_start_offset:
            await self.log.wait_committed(self.log.log_end_offset - 1)
        self.log.drop_history_below(snapshot_start)
        self.compactions += 1
        log.info(
            "compacted offsets partition %d: %d live offsets kept, log now starts at %d",
            self.index,
            len(records),
            snapshot_start,
        )
        return len(records)
