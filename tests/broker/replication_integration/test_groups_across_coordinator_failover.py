"""Consumer groups on a three-broker cluster whose group coordinator is killed with
SIGKILL: committed offsets live in the replicated ``__consumer_offsets`` topic, so the
broker that takes over its partition has them.

A member of each client family consumes and commits; the broker leading the group's
offsets partition (not the data partition's leader) is killed; the committed offset
is still there, the member goes on with the new coordinator, and a second member of the
group, started after the first is killed, resumes at the last committed offset: no
committed offset lost, no record skipped. Idempotent producers of each family keep
producing across a kill of their partition's leader: counting the partition's records
by content, each acknowledged value is there exactly once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.metadata.offsets_topic import OFFSETS_TOPIC, coordinator_partition
from contracts.broker_cluster import BrokerCluster
from tests.broker.groups_integration.clients import confluent_committed
from tests.broker.groups_integration.members import GroupMember, wait_until
from tests.broker.groups_integration.support import produce
from tests.broker.replication_integration.producers import PRODUCERS
from tests.support.clusters import create_topic, running_cluster

pytestmark = [pytest.mark.interop, pytest.mark.slow]

OFFSETS_PARTITIONS = 10  # the brokers' default offsets_topic.partitions
RECORDS = 40
WAIT_S = 60.0  # bounds a hang only
_COORDINATOR_MOVING = {
    "COORDINATOR_LOAD_IN_PROGRESS",
    "COORDINATOR_NOT_AVAILABLE",
    "NOT_COORDINATOR",
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerCluster]:
    with running_cluster(3, tmp_path_factory.mktemp("coordinators")) as running:
        yield running


def _committed(cluster: BrokerCluster, group: str) -> int:
    """The group's committed offset of partition 0 (-1: none), through an admin client
    that finds the coordinator itself; asked again while the coordinator moves or
    loads (librdkafka's admin client does not retry those errors itself)."""
    from confluent_kafka import KafkaException

    def ask() -> tuple[int] | None:
        try:
            return (confluent_committed(cluster.bootstrap, group).get(0, -1),)
        except KafkaException as exc:
            if exc.args[0].retriable() or exc.args[0].name() in _COORDINATOR_MOVING:
                return None
            raise

    return wait_until(ask, WAIT_S, f"the committed offsets of {group}")[0]


def _group_coordinated_away_from(cluster: BrokerCluster, prefix: str, node: int) -> tuple[str, int]:
    """A group id and its coordinator, a live broker other than ``node``."""
    _committed(cluster, f"{prefix}-first-lookup")  # the lookup creates the offsets topic
    live = {n for n, broker in cluster.brokers.items() if broker.running}
    for n in range(1000):
        group = f"{prefix}-{n}"
        partition = coordinator_partition(group, OFFSETS_PARTITIONS)
        leader = cluster.wait_for_leader(OFFSETS_TOPIC, partition)
        if leader != node and leader in live:
            return group, leader
    raise AssertionError(f"every offsets partition is led by broker {node}")


def _new_topic(cluster: BrokerCluster, topic: str) -> int:
    create_topic(cluster.bootstrap, topic, configs={"min.insync.replicas": "2"})
    cluster.wait_for_isr(topic, 0, {1, 2, 3})
    return cluster.leader_of(topic, 0)


def _consumed_offsets(member: GroupMember) -> set[int]:
    return {offset for _, offset, _ in member.records()}


def _commit_through(cluster: BrokerCluster, member: GroupMember, topic: str, group: str) -> int:
    """Produce one record at a time until ``member`` has committed everything (a commit
    caught by the coordinator's move is not retried by the member, the next one is);
    returns the committed offset."""
    for n in range(20):
        wanted = set(range(len(_consumed_offsets(member)) + 1))  # up to this nudge
        produce(cluster.bootstrap, topic, [f"nudge-{n}"], 1)
        wait_until(lambda: _consumed_offsets(member) >= wanted, WAIT_S, "the nudge")  # noqa: B023
        committed = _committed(cluster, group)
        if committed == len(wanted):
            return committed
    raise AssertionError(f"group {group} never committed what it consumed")


@pytest.mark.parametrize("family", ["confluent", "kafka-python"])
def test_a_group_resumes_from_its_committed_offset_after_its_coordinator_is_killed(
    cluster: BrokerCluster, family: str, tmp_path: Path
) -> None:
    topic = f"coordinated-{family}"
    data_leader = _new_topic(cluster, topic)
    group, coordinator = _group_coordinated_away_from(cluster, f"group-{family}", data_leader)
    half = RECORDS // 2
    produce(cluster.bootstrap, topic, [f"v{i}" for i in range(half)], 1)
    first = GroupMember(family, cluster.bootstrap, group, topic, tmp_path, f"{family}-1")
    try:
        wait_until(lambda: _committed(cluster, group) == half, WAIT_S, f"offset {half} committed")
        cluster.kill(coordinator)
        partition = coordinator_partition(group, OFFSETS_PARTITIONS)
        others = set(cluster.brokers) - {coordinator}
        cluster.wait_for_leader(OFFSETS_TOPIC, partition, among=others)
        assert _committed(cluster, group) == half  # the new coordinator has it
        produce(cluster.bootstrap, topic, [f"v{i}" for i in range(half, RECORDS)], 1)
        wait_until(lambda: _consumed_offsets(first) >= set(range(RECORDS)), WAIT_S, "every record")
        committed = _commit_through(cluster, first, topic, group)
    finally:
        first.kill()
    second = GroupMember(family, cluster.bootstrap, group, topic, tmp_path, f"{family}-2")
    try:
        produce(cluster.bootstrap, topic, ["after-0", "after-1"], 1)
        wait_until(lambda: len(second.records()) >= 2, WAIT_S, "the second member's records")
        offsets = [offset for _, offset, _ in second.records()]
        assert offsets[0] == committed, "the second member did not resume at the commit"
        assert offsets == list(range(committed, committed + len(offsets)))
    finally:
        second.kill()
        cluster.restart(coordinator)


def _read_all(bootstrap: str, topic: str, count: int) -> list[str]:
    """Every value of partition 0 from the start up to its high watermark, once at
    least ``count`` values are there."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{topic}",
            "enable.auto.commit": False,
            "log_level": 3,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    values: list[str] = []

    def read_to(end: int) -> bool:
        for message in consumer.consume(num_messages=500, timeout=0.5):
            if message.error() is None:
                values.append((message.value() or b"").decode())
        return len(values) >= end

    try:
        wait_until(lambda: read_to(count), WAIT_S, f"{count} records of {topic}", 0.0)
        _, high_watermark = consumer.get_watermark_offsets(TopicPartition(topic, 0), 10)
        wait_until(lambda: read_to(high_watermark), WAIT_S, f"{topic} up to its HW", 0.0)
    finally:
        consumer.close()
    return values


# kafka-python leaves the sockets of refused connections to the garbage collector
# (ResourceWarning); test_clients_across_failover covers it across a leader kill.
@pytest.mark.parametrize("family", ["confluent", "kafka-python", "aiokafka"])
def test_idempotent_acknowledged_records_are_not_duplicated_across_a_leader_kill(
    cluster: BrokerCluster, family: str
) -> None:
    topic = f"idempotent-{family}"
    leader = _new_topic(cluster, topic)
    values = [f"{family}-{i}" for i in range(2 * RECORDS)]
    PRODUCERS[family](cluster.bootstrap, topic, values, lambda: cluster.kill(leader))
    cluster.wait_for_leader(topic, 0, among=set(cluster.brokers) - {leader})
    try:
        counts = Counter(_read_all(cluster.bootstrap, topic, len(values)))
        assert {v: n for v, n in counts.items() if n != 1} == {}
        assert set(counts) == set(values)
    finally:
        cluster.restart(leader)
