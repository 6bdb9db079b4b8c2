"""GroupService routes each group to its offsets partition and serves it only while this
node leads that partition: loading, loaded, resigned."""

from __future__ import annotations

import asyncio

import pytest

from broker.coordinator.service import GroupService, PartitionPhase
from broker.error_codes import KafkaError
from broker.metadata.offsets_topic import coordinator_partition
from tests.broker.coordinator.offsets_support import (
    FakeOffsetsLog,
    group_service,
    groups_in,
    join_request,
    log_holding,
    offsets,
)

COUNT = 5
LED, LED_TOO = groups_in(0, COUNT, 2, prefix="led")
(OTHER,) = groups_in(3, COUNT, prefix="other")
NOT_COORDINATOR = KafkaError.NOT_COORDINATOR
LOADING = KafkaError.COORDINATOR_LOAD_IN_PROGRESS


async def leading(service: GroupService, *partitions: int) -> dict[int, FakeOffsetsLog]:
    logs = {p: FakeOffsetsLog() for p in partitions}
    for partition, log in logs.items():
        service.on_become_leader(partition, log)
    await service.wait_loaded()
    return logs


async def stable_member(service: GroupService, group_id: str) -> tuple[str, int]:
    """Join ``group_id`` alone and sync as its leader; (member id, generation)."""
    joined = await service.join(join_request(group_id))
    assert joined.error is KafkaError.NONE
    synced = await service.sync(group_id, joined.generation, joined.member_id, {})
    assert synced.error is KafkaError.NONE
    return joined.member_id, joined.generation


async def test_a_group_belongs_to_the_partition_kafkas_hash_chooses() -> None:
    service = group_service(50)
    for group_id in ("console-consumer-4242", "billing", "", "ünïcode-группа"):
        assert service.coordinator_for(group_id) == coordinator_partition(group_id, 50)


async def test_every_group_request_for_a_partition_not_led_here_answers_not_coordinator() -> None:
    service = group_service(COUNT)
    await leading(service, 0)
    joined = await service.join(join_request(OTHER, "m"))
    assert (joined.error, joined.member_id) == (NOT_COORDINATOR, "m")
    assert (await service.sync(OTHER, 1, "m", {})).error is NOT_COORDINATOR
    assert service.heartbeat(OTHER, 1, "m") is NOT_COORDINATOR
    assert service.leave(OTHER, [("m", None)]) == (NOT_COORDINATOR, [])
    assert await service.commit(OTHER, -1, "", offsets((0, 5))) == {("orders", 0): NOT_COORDINATOR}
    assert service.committed(OTHER) == (NOT_COORDINATOR, {})
    assert service.describe(OTHER) == (NOT_COORDINATOR, None)
    assert await service.delete(OTHER) is NOT_COORDINATOR
    assert (service.leads(0), service.leads(3)) == (True, False)


async def test_a_partition_answers_load_in_progress_until_its_records_are_committed() -> None:
    service = group_service(COUNT)
    log = log_holding(0, COUNT, (LED, 0, 7), committed=False)
    service.on_become_leader(0, log)
    while not log.waiting:  # replayed; waiting for the records to be committed
        await asyncio.sleep(0)
    assert service.phase(0) is PartitionPhase.LOADING
    assert (await service.join(join_request(LED))).error is LOADING
    assert (await service.sync(LED, 1, "m", {})).error is LOADING
    assert service.heartbeat(LED, 1, "m") is LOADING
    assert service.leave(LED, [("m", None)]) == (LOADING, [])
    assert await service.commit(LED, -1, "", offsets((0, 5))) == {("orders", 0): LOADING}
    assert service.committed(LED) == (LOADING, {})
    assert service.describe(LED) == (LOADING, None)
    assert await service.delete(LED) is LOADING
    assert service.list_groups() == (LOADING, [])
    log.commit_to(log.log_end_offset)
    assert await service.wait_loaded() == 1
    assert service.phase(0) is PartitionPhase.LOADED
    error, committed = service.committed(LED)
    assert (error, committed[("orders", 0)].offset) == (KafkaError.NONE, 7)


async def test_a_loaded_partition_serves_the_groups_its_log_holds() -> None:
    service = group_service(COUNT)
    service.on_become_leader(0, log_holding(0, COUNT, (LED, 0, 3), (LED, 1, 4), (LED_TOO, 0, 9)))
    assert await service.wait_loaded() == 3
    member_id, generation = await stable_member(service, LED)
    assert service.heartbeat(LED, generation, member_id) is KafkaError.NONE
    assert {p: c.offset for (_, p), c in service.committed(LED)[1].items()} == {0: 3, 1: 4}
    error, listed = service.list_groups()
    assert (error, [g.group_id for g in listed]) == (KafkaError.NONE, sorted([LED, LED_TOO]))


async def test_resigning_unloads_only_the_groups_of_that_partition() -> None:
    service = group_service(COUNT)
    await leading(service, 0, 3)
    unloaded: list[str] = []
    service.coordinator.on_unload.append(unloaded.append)
    await service.commit(LED, -1, "", offsets((0, 1)))
    await service.commit(OTHER, -1, "", offsets((0, 2)))
    service.on_resign(0)
    assert unloaded == [LED]
    assert service.committed(LED) == (NOT_COORDINATOR, {})
    assert LED not in service.coordinator.groups
    assert service.committed(OTHER)[1][("orders", 0)].offset == 2
    assert [g.group_id for g in service.list_groups()[1]] == [OTHER]


async def test_members_waiting_for_a_join_or_sync_answer_get_not_coordinator_on_resign() -> None:
    service = group_service(COUNT)
    await leading(service, 0)
    # LED: generation 2 with two members; the follower's SyncGroup waits for the leader.
    leader = await service.join(join_request(LED))
    follower_join = asyncio.ensure_future(service.join(join_request(LED)))
    while len(service.coordinator.groups[LED].members) < 2:
        await asyncio.sleep(0)
    await service.join(join_request(LED, leader.member_id))
    follower = await follower_join
    follower_sync = asyncio.ensure_future(
        service.sync(LED, follower.generation, follower.member_id, {})
    )
    # LED_TOO: a newcomer's JoinGroup waits for the first member to rejoin.
    await service.join(join_request(LED_TOO))
    newcomer = asyncio.ensure_future(service.join(join_request(LED_TOO)))
    while len(service.coordinator.groups[LED_TOO].members) < 2 or not _syncing(service):
        await asyncio.sleep(0)
    service.on_resign(0)
    assert (await follower_sync).error is NOT_COORDINATOR
    assert (await newcomer).error is NOT_COORDINATOR


def _syncing(service: GroupService) -> bool:
    return any(m.sync_waiter for m in service.coordinator.groups[LED].members.values())


async def test_leading_again_with_the_same_log_and_resigning_again_change_nothing() -> None:
    service = group_service(COUNT)
    log = log_holding(0, COUNT, (LED, 0, 3))
    service.on_become_leader(0, log)
    await service.wait_loaded()
    member_id, generation = await stable_member(service, LED)
    service.on_become_leader(0, log)
    assert service.phase(0) is PartitionPhase.LOADED
    assert service.heartbeat(LED, generation, member_id) is KafkaError.NONE
    service.on_resign(0)
    service.on_resign(0)
    service.on_resign(4)  # never led
    assert not service.leads(0)


async def test_leading_through_another_log_unloads_and_loads_from_that_log() -> None:
    service = group_service(COUNT)
    service.on_become_leader(0, log_holding(0, COUNT, (LED, 0, 3)))
    await service.wait_loaded()
    member_id, generation = await stable_member(service, LED)
    service.on_become_leader(0, log_holding(0, COUNT, (LED, 0, 8)))  # a new leader epoch
    await service.wait_loaded()
    assert service.heartbeat(LED, generation, member_id) is KafkaError.UNKNOWN_MEMBER_ID
    assert service.committed(LED)[1][("orders", 0)].offset == 8


async def test_a_partition_led_again_after_resigning_serves_its_committed_offsets() -> None:
    service = group_service(COUNT)
    (log,) = (await leading(service, 0)).values()
    await service.commit(LED, -1, "", offsets((0, 11)))
    service.on_resign(0)
    service.on_become_leader(0, log)
    await service.wait_loaded()
    assert service.committed(LED)[1][("orders", 0)].offset == 11


async def test_resigning_while_loading_stops_the_load_and_unloads_what_was_replayed() -> None:
    service = group_service(COUNT)
    log = log_holding(0, COUNT, (LED, 0, 7), committed=False)
    service.on_become_leader(0, log)
    while not log.waiting:
        await asyncio.sleep(0)
    assert LED in service.coordinator.groups
    service.on_resign(0)
    assert await service.wait_loaded() == 0
    assert LED not in service.coordinator.groups


async def test_a_partition_outside_the_offsets_topic_is_refused() -> None:
    service = group_service(COUNT)
    with pytest.raises(ValueError, match="no offsets partition 5 among 5"):
        service.on_become_leader(COUNT, FakeOffsetsLog())


async def test_closing_resigns_every_partition() -> None:
    service = group_service(COUNT)
    await leading(service, 0, 3)
    await service.commit(LED, -1, "", offsets((0, 1)))
    await service.close()
    assert not service.leads(0) and not service.leads(3)
    assert service.coordinator.groups == {}
