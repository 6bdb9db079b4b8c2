"""One offsets partition: its records, their replay, and snapshot compaction."""

from __future__ import annotations

import asyncio
import json

from broker.coordinator.coordinator import GroupCoordinator, OffsetCommitPlan
from broker.coordinator.group import CommittedOffset
from broker.coordinator.offset_records import RECORDS_PER_BATCH
from broker.coordinator.offsets_partition import OffsetsPartition
from broker.records.record import Record, build_batch, decode_batch
from contracts.clock import ManualClock
from tests.broker.coordinator.offsets_support import FakeOffsetsLog, groups_in

COUNT = 4
BILLING, AUDIT = groups_in(1, COUNT, 2)
(ELSEWHERE,) = groups_in(2, COUNT)


def plan(group: str, partition: int, offset: int, topic: str = "orders") -> OffsetCommitPlan:
    return OffsetCommitPlan(
        group, ((topic, partition, CommittedOffset(offset, 3, f"meta-{offset}", 1_000)),)
    )


def partition_on(log: FakeOffsetsLog, compact_after_records: int = 1_000) -> OffsetsPartition:
    return OffsetsPartition(
        1, log, COUNT, ManualClock().time_ms, compact_after_records=compact_after_records
    )


def test_commits_and_deletions_replay_into_a_fresh_coordinator() -> None:
    log = FakeOffsetsLog()
    written = partition_on(log)
    for offset in range(10):
        written.append_commit(plan(BILLING, 0, offset))
    written.append_commit(plan(BILLING, 1, 77))
    written.append_commit(plan(AUDIT, 0, 5))
    written.append_delete(AUDIT)
    coordinator = GroupCoordinator()
    replayed = partition_on(log).load(coordinator)
    assert replayed == 13
    assert coordinator.committed(BILLING) == {
        ("orders", 0): CommittedOffset(9, 3, "meta-9", 1_000),
        ("orders", 1): CommittedOffset(77, 3, "meta-77", 1_000),
    }
    assert coordinator.committed(AUDIT) == {}


def test_records_keep_the_json_format_of_the_single_log_layout() -> None:
    log = FakeOffsetsLog()
    partition_on(log).append_commit(plan(BILLING, 2, 42))
    partition_on(log).append_delete(BILLING)
    first, second = (decode_batch(data)[0] for _, _, data in log.batches)
    assert first.key == (
        b'{"group":"%s","partition":2,"topic":"orders","type":"offset"}' % BILLING.encode()
    )
    assert json.loads(first.value or b"") == {
        "commit_timestamp_ms": 1_000,
        "leader_epoch": 3,
        "metadata": "meta-42",
        "offset": 42,
    }
    assert second.key == b'{"group":"%s","type":"group"}' % BILLING.encode()
    assert second.value is None


def test_a_large_commit_is_split_into_batches_and_waits_for_the_last_offset() -> None:
    log = FakeOffsetsLog()
    many = OffsetCommitPlan(
        BILLING, tuple(("orders", p, CommittedOffset(p)) for p in range(RECORDS_PER_BATCH + 1))
    )
    last = partition_on(log).append_commit(many)
    assert len(log.batches) == 2
    assert last == RECORDS_PER_BATCH


def test_records_of_groups_that_belong_to_another_partition_are_skipped_on_load() -> None:
    log = FakeOffsetsLog()
    foreign = build_batch(
        [
            Record(
                key=json.dumps(
                    {"group": ELSEWHERE, "partition": 0, "topic": "t", "type": "offset"}
                ).encode(),
                value=b'{"commit_timestamp_ms":1,"leader_epoch":-1,"metadata":"","offset":8}',
            )
        ]
    )
    log.append(foreign)
    partition_on(log).append_commit(plan(BILLING, 0, 1))
    coordinator = GroupCoordinator()
    loaded = partition_on(log)
    assert loaded.load(coordinator) == 1
    assert loaded.skipped_records == 1
    assert ELSEWHERE not in coordinator.groups


def test_malformed_and_unknown_records_are_skipped_and_the_rest_replays() -> None:
    log = FakeOffsetsLog()
    log.append(build_batch([Record(key=b'{"type":"offset","group":', value=b"{}")]))
    log.append(build_batch([Record(key=b'{"type":"future-kind","group":"x"}', value=b"1")]))
    partition_on(log).append_commit(plan(BILLING, 0, 4))
    coordinator = GroupCoordinator()
    loaded = partition_on(log)
    loaded.load(coordinator)
    assert loaded.skipped_records == 1
    assert coordinator.committed(BILLING)[("orders", 0)].offset == 4


def test_replay_starts_at_the_log_start_even_inside_a_batch() -> None:
    log = FakeOffsetsLog()
    written = partition_on(log)
    written.append_commit(
        OffsetCommitPlan(BILLING, (("a", 0, CommittedOffset(1)), ("b", 0, CommittedOffset(2))))
    )
    log.log_start_offset = 1  # a log start inside the first batch: record 0 is gone
    coordinator = GroupCoordinator()
    assert partition_on(log).load(coordinator) == 1
    assert coordinator.committed(BILLING) == {("b", 0): CommittedOffset(2)}


def test_compaction_is_due_only_past_the_threshold_and_twice_the_live_offsets() -> None:
    log = FakeOffsetsLog()
    partition = partition_on(log, compact_after_records=10)
    for offset in range(9):
        partition.append_commit(plan(BILLING, offset, offset))
    assert not partition.compaction_due  # 9 records held
    partition.append_commit(plan(BILLING, 9, 9))
    assert not partition.compaction_due  # 10 held, but all 10 are live
    for offset in range(11):
        partition.append_commit(plan(BILLING, 0, 100 + offset))
    assert partition.compaction_due  # 21 held, 10 live


async def test_a_snapshot_keeps_every_live_offset_and_drops_the_history_below_it() -> None:
    log = FakeOffsetsLog()
    partition = partition_on(log, compact_after_records=10)
    for offset in range(30):
        partition.append_commit(plan(BILLING, offset % 3, offset))
    partition.append_commit(plan(AUDIT, 0, 1))
    partition.append_delete(AUDIT)
    snapshot_start = log.log_end_offset
    assert await partition.compact() == 3
    assert log.log_start_offset == snapshot_start
    assert log.log_end_offset == snapshot_start + 3
    coordinator = GroupCoordinator()
    assert partition_on(log).load(coordinator) == 3
    assert {p: c.offset for (_, p), c in coordinator.committed(BILLING).items()} == {
        0: 27,
        1: 28,
        2: 29,
    }
    assert AUDIT not in coordinator.groups


async def test_history_is_dropped_only_once_the_snapshot_is_committed() -> None:
    log = FakeOffsetsLog(auto_commit=False)
    partition = partition_on(log, compact_after_records=10)
    for offset in range(20):
        partition.append_commit(plan(BILLING, 0, offset))
    log.commit_to(log.log_end_offset)
    compaction = asyncio.ensure_future(partition.compact())
    while not log.waiting:
        await asyncio.sleep(0)
    assert log.log_start_offset == 0
    log.commit_to(log.log_end_offset)
    assert await compaction == 1
    assert log.log_start_offset == 20


async def test_a_commit_appended_before_a_snapshot_but_not_yet_committed_is_in_it() -> None:
    log = FakeOffsetsLog(auto_commit=False)
    partition = partition_on(log, compact_after_records=1)
    partition.append_commit(plan(BILLING, 0, 1))
    log.commit_to(log.log_end_offset)
    partition.append_commit(plan(BILLING, 0, 2))  # appended, still waiting to commit
    compaction = asyncio.ensure_future(partition.compact())
    while not log.waiting:
        await asyncio.sleep(0)
    log.commit_to(log.log_end_offset)
    await compaction
    coordinator = GroupCoordinator()
    partition_on(log).load(coordinator)
    assert coordinator.committed(BILLING)[("orders", 0)].offset == 2
