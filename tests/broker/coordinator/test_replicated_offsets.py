"""Group offsets in a cluster: the replicated ``__consumer_offsets`` topic, created by the
controller on the first FindCoordinator, its leadership followed by the group
coordinator, commits answered once the high watermark passes them. No sockets or Raft:
a real controller decides in the same thread (``local_broker``), brokers 1 and 2 are
registered but never fetch, so only this node's own log moves a high watermark."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from kio.schema.errors import ErrorCode

from broker.config import BrokerConfig, ClusterSettings
from broker.coordinator.group import CommittedOffset
from broker.coordinator.service import PartitionPhase
from broker.error_codes import KafkaError
from broker.metadata.offsets_topic import OFFSETS_TOPIC
from broker.protocol.apis import ApiKey, request_class
from broker.protocol.header import RequestHeader
from broker.server.context import RequestContext
from broker.server.handlers import groups, metadata
from contracts.clock import ManualClock
from contracts.fields import HostPort
from tests.broker.coordinator.offsets_support import groups_in
from tests.interop.wire import build, nested
from tests.support.local_broker import LocalBroker, local_broker

PARTITIONS = 10  # offsets_topic.partitions, the same on the broker and its controller
TOPIC = "orders"


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Callable[[tuple[int, ...]], LocalBroker]]:
    """Starts node 0 of a cluster (``controller.voters`` set) with ``peers``."""
    started: list[LocalBroker] = []

    def make(peers: tuple[int, ...]) -> LocalBroker:
        config = BrokerConfig(
            data_dir=tmp_path / "data",
            cluster_settings=ClusterSettings(voters={0: HostPort("127.0.0.1", 1)}),
        )
        broker = local_broker(config, ManualClock(), asyncio.get_running_loop(), peers=peers)
        broker.metadata.create_topic(TOPIC)
        started.append(broker)
        return broker

    yield make
    for broker in started:
        await broker.app.groups.close()
        await broker.app.replicas.close()


def _ctx(version: int) -> RequestContext:
    return RequestContext(
        RequestHeader(ApiKey.FIND_COORDINATOR, version, 1, "test", 0), "User:test", "t"
    )


async def _find(broker: LocalBroker, group_id: str) -> Any:
    request = build(request_class(ApiKey.FIND_COORDINATOR, 3), key=group_id, key_type=0)
    return await groups.handle_find_coordinator(broker.services, _ctx(3), request)


async def _create_offsets_topic(broker: LocalBroker) -> Any:
    """The first lookup's answer, once the topic it created is loaded where led here."""
    first = await _find(broker, "any-group")
    assert broker.services.replicas.topic(OFFSETS_TOPIC) is not None
    await broker.app.groups.wait_loaded()
    return first


def _led_by(broker: LocalBroker, node_id: int) -> str:
    """A group whose offsets partition ``node_id`` leads."""
    image = broker.services.replicas.image
    for partition in range(PARTITIONS):
        state = image.partition(OFFSETS_TOPIC, partition)
        assert state is not None
        if state.leader == node_id:
            return groups_in(partition, PARTITIONS)[0]
    raise AssertionError(f"node {node_id} leads no offsets partition")


async def _commit(broker: LocalBroker, group_id: str, offset: int) -> KafkaError:
    results = await broker.app.groups.commit(
        group_id, -1, "", [(TOPIC, 0, CommittedOffset(offset))]
    )
    return results[(TOPIC, 0)]


async def _until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(1000):  # bounds a hang only: each step lets the loop run
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never happened: {what}")


async def test_the_first_group_lookup_creates_the_offsets_topic_then_finds_this_node(
    start: Callable[[tuple[int, ...]], LocalBroker],
) -> None:
    broker = start(())
    first = await _create_offsets_topic(broker)  # the lookup ran while the groups loaded
    assert (first.error_code, first.node_id) == (ErrorCode.coordinator_not_available, -1)
    topic = broker.services.replicas.topic(OFFSETS_TOPIC)
    assert topic is not None and len(topic.partitions) == PARTITIONS
    assert {p.replicas for p in topic.partitions} == {(0,)}  # the factor capped at 1 broker
    found = await _find(broker, "any-group")
    assert (found.error_code, found.node_id, found.port) == (ErrorCode.none, 0, 9092)
    partition = broker.app.groups.coordinator_for("any-group")
    assert broker.app.groups.phase(partition) is PartitionPhase.LOADED


async def test_a_group_whose_partition_another_broker_leads_is_found_there(
    start: Callable[[tuple[int, ...]], LocalBroker],
) -> None:
    broker = start((1,))
    await _create_offsets_topic(broker)
    elsewhere = _led_by(broker, 1)
    found = await _find(broker, elsewhere)
    assert (found.error_code, found.node_id, found.port) == (ErrorCode.none, 1, 9093)
    assert broker.app.groups.committed(elsewhere)[0] is KafkaError.NOT_COORDINATOR


async def test_a_commit_is_stored_in_the_replicated_partition_and_survives_a_reload(
    start: Callable[[tuple[int, ...]], LocalBroker],
) -> None:
    broker = start(())
    await _create_offsets_topic(broker)
    assert await _commit(broker, "reader", 42) is KafkaError.NONE
    partition = broker.app.groups.coordinator_for("reader")
    replica = broker.services.replicas.get(OFFSETS_TOPIC, partition)
    assert replica is not None and replica.high_watermark == replica.log_end_offset > 0
    handle = broker.app.offsets_leadership.handles[partition]
    broker.app.groups.on_resign(partition)
    broker.app.groups.on_become_leader(partition, handle)
    await broker.app.groups.wait_loaded()
    error, committed = broker.app.groups.committed("reader")
    assert error is KafkaError.NONE and committed[(TOPIC, 0)].offset == 42


async def test_a_commit_the_followers_do_not_replicate_in_time_is_coordinator_not_available(
    start: Callable[[tuple[int, ...]], LocalBroker],
) -> None:
    broker = start((1,))
    await _create_offsets_topic(broker)
    group_id = _led_by(broker, 0)
    commit = asyncio.ensure_future(_commit(broker, group_id, 7))
    handle = broker.app.offsets_leadership.handles[broker.app.groups.coordinator_for(group_id)]
    await _until(lambda: broker.services.replicas.acks_waiting > 0, "the commit waiting")
    assert not commit.done() and handle.log_end_offset > 0
    assert isinstance(broker.app.clock, ManualClock)
    broker.app.clock.advance((handle.commit_timeout_ms + 1) / 1000)
    broker.services.replicas.tick()
    assert await commit is KafkaError.COORDINATOR_NOT_AVAILABLE
    assert broker.app.groups.committed(group_id) == (KafkaError.NONE, {})


async def test_losing_the_leadership_unloads_the_groups_and_fails_waiting_commits(
    start: Callable[[tuple[int, ...]], LocalBroker],
) -> None:
    broker = start((1,))
    await _create_offsets_topic(broker)
    group_id = _led_by(broker, 0)
    partition = broker.app.groups.coordinator_for(group_id)
    commit = asyncio.ensure_future(_commit(broker, group_id, 7))
    await _until(lambda: broker.services.replicas.acks_waiting > 0, "the commit waiting")
    broker.metadata.harness.heartbeat(0, want_shutdown=True)  # leaderships move to 1
    broker.metadata.publish()
    assert await commit is KafkaError.NOT_COORDINATOR
    assert not broker.app.groups.leads(partition)
    assert partition not in broker.app.offsets_leadership.handles
    found = await _find(broker, group_id)
    assert (found.error_code, found.node_id) == (ErrorCode.none, 1)


async def test_metadata_lists_the_offsets_topic_only_when_asked_for_by_name(
    start: Callable[[tuple[int, ...]], LocalBroker],
) -> None:
    broker = start(())
    await _create_offsets_topic(broker)
    cls = request_class(ApiKey.METADATA, 9)
    ctx = RequestContext(RequestHeader(ApiKey.METADATA, 9, 1, "test", 0), "User:test", "t")
    flags = {
        "allow_auto_topic_creation": False,
        "include_cluster_authorized_operations": False,
        "include_topic_authorized_operations": False,
    }
    listed = await metadata.handle(broker.services, ctx, build(cls, topics=None, **flags))
    assert [t.name for t in listed.topics] == [TOPIC]
    named = build(nested(cls, "MetadataRequestTopic"), name=OFFSETS_TOPIC)
    asked = await metadata.handle(broker.services, ctx, build(cls, topics=(named,), **flags))
    ((topic,),) = [asked.topics]
    assert (topic.name, topic.is_internal, len(topic.partitions)) == (
        OFFSETS_TOPIC,
        True,
        PARTITIONS,
    )
