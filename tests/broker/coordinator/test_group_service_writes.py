"""Commits and deletions: appended, waited for until committed, then applied in log order;
every way the wait can end has its Kafka answer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from broker.coordinator.offsets_log import OffsetsLogFencedError, OffsetsLogUnavailableError
from broker.coordinator.service import GroupService
from broker.error_codes import KafkaError
from broker.storage.errors import LogStorageError, RecordTooLargeError
from tests.broker.coordinator.offsets_support import (
    FakeOffsetsLog,
    group_service,
    groups_in,
    join_request,
    offsets,
)

COUNT = 3
(GROUP,) = groups_in(1, COUNT)
(QUIET,) = groups_in(2, COUNT, prefix="quiet")


async def led(
    service: GroupService, partition: int = 1, *, auto_commit: bool = True
) -> FakeOffsetsLog:
    log = FakeOffsetsLog(auto_commit=auto_commit)
    service.on_become_leader(partition, log)
    await service.wait_loaded()
    return log


def offset_of(service: GroupService, group_id: str, partition: int = 0) -> int | None:
    committed = service.committed(group_id)[1].get(("orders", partition))
    return committed.offset if committed is not None else None


async def until(condition: Callable[[], object]) -> None:
    """Let other tasks run until ``condition()`` holds (bounded: a hang fails)."""
    for _ in range(1_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


async def test_a_commit_is_answered_and_applied_only_once_its_records_are_committed() -> None:
    service = group_service(COUNT)
    log = await led(service, auto_commit=False)
    commit = asyncio.ensure_future(service.commit(GROUP, -1, "", offsets((0, 5))))
    await until(lambda: log.waiting)
    assert log.log_end_offset == 1
    assert not commit.done()
    assert offset_of(service, GROUP) is None
    log.commit_to(1)
    assert await commit == {("orders", 0): KafkaError.NONE}
    assert offset_of(service, GROUP) == 5


async def test_a_resignation_while_a_commit_waits_answers_not_coordinator() -> None:
    service = group_service(COUNT)
    log = await led(service, auto_commit=False)
    commit = asyncio.ensure_future(service.commit(GROUP, -1, "", offsets((0, 5))))
    await until(lambda: log.waiting)
    service.on_resign(1)
    assert await commit == {("orders", 0): KafkaError.NOT_COORDINATOR}
    assert GROUP not in service.coordinator.groups


@pytest.mark.parametrize(
    ("failure", "answer"),
    [
        pytest.param(LogStorageError("disk full"), KafkaError.KAFKA_STORAGE_ERROR, id="storage"),
        pytest.param(OffsetsLogFencedError("epoch 4"), KafkaError.NOT_COORDINATOR, id="fenced"),
        pytest.param(
            OffsetsLogUnavailableError("isr 1 < 2"),
            KafkaError.COORDINATOR_NOT_AVAILABLE,
            id="unavailable",
        ),
        pytest.param(
            RecordTooLargeError("64 MiB"), KafkaError.INVALID_COMMIT_OFFSET_SIZE, id="too large"
        ),
    ],
)
async def test_a_failed_append_answers_its_kafka_error_and_applies_nothing(
    failure: Exception, answer: KafkaError
) -> None:
    service = group_service(COUNT)
    log = await led(service)
    log.append_error = failure
    assert await service.commit(GROUP, -1, "", offsets((0, 5), (1, 6))) == {
        ("orders", 0): answer,
        ("orders", 1): answer,
    }
    assert offset_of(service, GROUP) is None


@pytest.mark.parametrize(
    ("failure", "answer"),
    [
        pytest.param(LogStorageError("fsync"), KafkaError.KAFKA_STORAGE_ERROR, id="storage"),
        pytest.param(OffsetsLogFencedError("epoch 4"), KafkaError.NOT_COORDINATOR, id="fenced"),
        pytest.param(
            OffsetsLogUnavailableError("timed out"),
            KafkaError.COORDINATOR_NOT_AVAILABLE,
            id="unavailable",
        ),
    ],
)
async def test_a_failed_wait_answers_its_kafka_error_and_applies_nothing(
    failure: Exception, answer: KafkaError
) -> None:
    service = group_service(COUNT)
    log = await led(service, auto_commit=False)
    commit = asyncio.ensure_future(service.commit(GROUP, -1, "", offsets((0, 5))))
    await until(lambda: log.waiting)
    log.fail_waiters(failure)
    assert await commit == {("orders", 0): answer}
    assert offset_of(service, GROUP) is None


async def test_commits_apply_in_log_order_even_when_their_waits_end_newest_first() -> None:
    service = group_service(COUNT)
    log = await led(service, auto_commit=False)
    older = asyncio.ensure_future(service.commit(GROUP, -1, "", offsets((0, 5))))
    newer = asyncio.ensure_future(service.commit(GROUP, -1, "", offsets((0, 6))))
    await until(lambda: log.waiting == 2)
    log.commit_to(log.log_end_offset, newest_first=True)
    await asyncio.gather(older, newer)
    assert offset_of(service, GROUP) == 6


async def test_a_commit_whose_client_went_away_is_still_applied() -> None:
    service = group_service(COUNT)
    log = await led(service, auto_commit=False)
    commit = asyncio.ensure_future(service.commit(GROUP, -1, "", offsets((0, 5))))
    await until(lambda: log.waiting)
    commit.cancel()  # the connection closed
    log.commit_to(1)
    await until(lambda: offset_of(service, GROUP) == 5)


async def test_a_commit_for_an_unknown_topic_is_refused_without_an_append() -> None:
    service = group_service(COUNT)
    log = await led(service)
    assert await service.commit(GROUP, -1, "", offsets((0, 5), topic="gone")) == {
        ("gone", 0): KafkaError.UNKNOWN_TOPIC_OR_PARTITION
    }
    assert log.log_end_offset == 0


async def test_a_commit_from_an_unknown_member_is_refused_without_an_append() -> None:
    service = group_service(COUNT)
    log = await led(service)
    await service.join(join_request(GROUP))
    assert await service.commit(GROUP, 1, "stranger", offsets((0, 5))) == {
        ("orders", 0): KafkaError.UNKNOWN_MEMBER_ID
    }
    assert log.log_end_offset == 0


async def test_a_group_deletion_is_applied_once_its_tombstone_is_committed() -> None:
    service = group_service(COUNT)
    log = await led(service, auto_commit=False)
    commit = asyncio.ensure_future(service.commit(GROUP, -1, "", offsets((0, 5))))
    await until(lambda: log.waiting)
    log.commit_to(log.log_end_offset)
    await commit
    deletion = asyncio.ensure_future(service.delete(GROUP))
    await until(lambda: log.waiting)
    assert offset_of(service, GROUP) == 5
    log.commit_to(log.log_end_offset)
    assert await deletion is KafkaError.NONE
    assert service.describe(GROUP) == (KafkaError.NONE, None)


async def test_compaction_runs_per_partition_and_loses_no_offset() -> None:
    service = group_service(COUNT, compact_after_records=20)
    busy, quiet = await led(service, 1), await led(service, 2)
    await service.commit(QUIET, -1, "", offsets((0, 1)))
    for offset in range(100):
        await service.commit(GROUP, -1, "", offsets((offset % 4, offset)))
    busy_partition = service.offsets_partition(1)
    assert busy_partition is not None
    await until(lambda: busy_partition.compactions >= 3)
    assert service.offsets_partition(2).compactions == 0  # type: ignore[union-attr]
    assert busy.log_start_offset > 0 and quiet.log_start_offset == 0
    assert busy.log_end_offset - busy.log_start_offset < 30
    fresh = group_service(COUNT)
    fresh.on_become_leader(1, busy)
    fresh.on_become_leader(2, quiet)
    await fresh.wait_loaded()
    assert {p: c.offset for (_, p), c in fresh.committed(GROUP)[1].items()} == {
        0: 96,
        1: 97,
        2: 98,
        3: 99,
    }
    assert offset_of(fresh, QUIET) == 1
