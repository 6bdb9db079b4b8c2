"""A broker that is not a controller voter (a Raft observer of the metadata log) is a
full member of the cluster: it learns who the controller is, registers, is unfenced,
holds and leads replicas, and clients produce with acks=all and consume through it."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.broker_cluster import BrokerCluster
from contracts.launcher import BrokerProcess
from tests.broker.replication_integration.test_start_refusals import assert_refused, refusal_of
from tests.interop.clients import ConfluentKafka
from tests.interop.messages import Message
from tests.support.clusters import create_topic, running_cluster

OBSERVER = 3
VOTERS = (1, 2)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerCluster]:
    """Started means every broker, the observer too, is registered and unfenced."""
    with running_cluster(3, tmp_path_factory.mktemp("observers"), voters=VOTERS) as running:
        yield running


def test_the_observer_knows_the_active_controller_among_the_voters(
    cluster: BrokerCluster,
) -> None:
    def known_to_the_observer() -> int | None:
        controller = cluster.controller_id(OBSERVER)
        return controller if controller in VOTERS else None

    controller = cluster.wait_for(known_to_the_observer, "the observer to know the controller")
    assert controller == cluster.controller_id(VOTERS[0])


def test_the_observer_leads_a_replicated_partition_and_serves_acks_all_clients(
    cluster: BrokerCluster,
) -> None:
    topic = "led-by-an-observer"
    assignments = {0: [OBSERVER, 1, 2], 1: [1, 2, OBSERVER], 2: [2, OBSERVER, 1]}
    create_topic(
        cluster.brokers[OBSERVER].bootstrap,
        topic,
        assignments=assignments,
        configs={"min.insync.replicas": "3"},
    )
    assert cluster.wait_for_leader(topic, 0, among={OBSERVER}) == OBSERVER
    for partition in assignments:
        cluster.wait_for_isr(topic, partition, {1, 2, OBSERVER})

    through_observer = cluster.brokers[OBSERVER].bootstrap
    messages = [Message(key=b"k%d" % i, value=b"observer-%d" % i) for i in range(100)]
    client = ConfluentKafka()
    client.produce(through_observer, topic, messages, options={"acks": "all"})
    consumed = client.consume(through_observer, topic, len(messages))

    assert [c.value for c in consumed] == [m.value for m in messages]
    replicas = cluster.wait_for_replicas_in_step(topic, 0)
    assert set(replicas) == {1, 2, OBSERVER}
    assert {r.high_watermark for r in replicas.values()} == {len(messages)}


def test_every_broker_sees_the_same_partitions_as_the_voters(cluster: BrokerCluster) -> None:
    def shape(node: int) -> list[tuple[str, int, int, tuple[int, ...]]]:
        return sorted(
            (p.topic, p.partition, p.leader, p.replicas) for p in cluster.partitions(node)
        )

    cluster.wait_for(
        lambda: shape(OBSERVER) == shape(VOTERS[0]) == shape(VOTERS[1]),
        "the observer's metadata image to match the voters'",
    )


def _produce_and_consume_through_the_observer(cluster: BrokerCluster, topic: str, tag: str) -> None:
    create_topic(
        cluster.brokers[OBSERVER].bootstrap,
        topic,
        assignments={0: [OBSERVER, 1, 2]},
        configs={"min.insync.replicas": "3"},
    )
    cluster.wait_for_leader(topic, 0, among={OBSERVER})
    cluster.wait_for_isr(topic, 0, {1, 2, OBSERVER})
    through_observer = cluster.brokers[OBSERVER].bootstrap
    messages = [Message(key=None, value=f"{tag}-{i}".encode()) for i in range(20)]
    client = ConfluentKafka()
    client.produce(through_observer, topic, messages, options={"acks": "all"})
    consumed = client.consume(through_observer, topic, len(messages))
    assert [c.value for c in consumed] == [m.value for m in messages]


def test_a_restarted_observer_follows_the_metadata_log_again(cluster: BrokerCluster) -> None:
    cluster.restart(OBSERVER)  # returns once it is registered and unfenced again
    _produce_and_consume_through_the_observer(cluster, "after-observer-restart", "o")


def test_the_observer_follows_the_controller_a_restarted_quorum_elects(
    cluster: BrokerCluster,
) -> None:
    controller = cluster.controller_id(OBSERVER)
    cluster.kill(controller)
    cluster.restart(controller)  # the restarted voter learns of the observer again

    def agreed_controller() -> int | None:
        seen = {cluster.controller_id(node) for node in cluster.brokers}
        return seen.pop() if len(seen) == 1 and seen <= set(VOTERS) else None

    cluster.wait_for(agreed_controller, "every broker, the observer too, to name one controller")
    _produce_and_consume_through_the_observer(cluster, "after-voter-restart", "v")


def test_a_second_process_of_the_observers_node_id_is_refused_by_the_controller(
    cluster: BrokerCluster, tmp_path: Path
) -> None:
    """Unlike a voter's duplicate (refused at its quorum address), an observer's reaches
    the controller through the voters, which refuses its registration while the live
    one's session lasts; the live observer keeps serving."""
    live = cluster.brokers[OBSERVER]
    duplicate = BrokerProcess(tmp_path / "duplicate", config=copy.deepcopy(live.config))

    refusal = refusal_of(duplicate)

    assert_refused(refusal, f"node id {OBSERVER} is registered by a live broker")
    assert live.running
    _produce_and_consume_through_the_observer(cluster, "after-a-duplicate", "d")
