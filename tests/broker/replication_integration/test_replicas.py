"""Three brokers replicating over the Kafka protocol: acks=all is acknowledged once the
followers have the data, the replicas are byte-identical up to the high watermark, and
the ISR shrinks and grows back around a paused follower, with Kafka's errors when it
is too small."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kio.schema.errors import ErrorCode

from broker.records.record import Record, build_batch
from contracts.broker_cluster import BrokerCluster
from tests.interop.clients import ConfluentKafka
from tests.interop.messages import Message
from tests.interop.wire import WireClient
from tests.support.clusters import create_topic, replica_bytes, running_cluster

MIN_INSYNC_2 = {"min.insync.replicas": "2"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerCluster]:
    with running_cluster(3, tmp_path_factory.mktemp("replicas")) as running:
        yield running


@pytest.fixture(scope="module")
def five_brokers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerCluster]:
    """Five voters: with two of them paused the controller quorum still stands."""
    with running_cluster(5, tmp_path_factory.mktemp("five")) as running:
        yield running


def _messages(count: int, tag: str) -> list[Message]:
    return [Message(key=b"k%d" % i, value=f"{tag}-{i}".encode()) for i in range(count)]


def _assert_identical_replicas(cluster: BrokerCluster, topic: str, nodes: set[int]) -> int:
    replicas = cluster.wait_for_replicas_in_step(topic, 0)
    assert set(replicas) == nodes
    (high_watermark,) = {r.high_watermark for r in replicas.values()}
    blobs = {n: replica_bytes(cluster.data_dir(n), topic, 0, high_watermark) for n in nodes}
    assert len(set(blobs.values())) == 1, {n: len(b) for n, b in blobs.items()}
    return high_watermark


def _produce_acks_all(cluster: BrokerCluster, topic: str, value: bytes) -> ErrorCode:
    leader = cluster.brokers[cluster.leader_of(topic, 0)]
    batch = build_batch([Record(value, timestamp_ms=int(time.time() * 1000))])
    with WireClient(leader.bootstrap, timeout_s=30) as wire:
        return ErrorCode(wire.produce(topic, 0, batch, acks=-1).error_code)


def test_acks_all_records_reach_every_replica_byte_for_byte(
    cluster: BrokerCluster, tmp_path: Path
) -> None:
    topic = "byte-identical"
    create_topic(cluster.bootstrap, topic, configs=MIN_INSYNC_2)
    cluster.wait_for_isr(topic, 0, {1, 2, 3})
    messages = _messages(500, "identical")
    ConfluentKafka().produce(cluster.bootstrap, topic, messages, options={"acks": "all"})
    assert _assert_identical_replicas(cluster, topic, {1, 2, 3}) == 500


def test_partitions_led_by_every_broker_replicate_to_the_others(cluster: BrokerCluster) -> None:
    topic = "spread"
    create_topic(cluster.bootstrap, topic, partitions=3, configs=MIN_INSYNC_2)
    leaders = {cluster.wait_for_leader(topic, p) for p in range(3)}
    assert leaders == {1, 2, 3}
    producer = ConfluentKafka()
    for partition in range(3):
        producer.produce(
            cluster.bootstrap,
            topic,
            _messages(50, f"p{partition}"),
            partition=partition,
            options={"acks": "all"},
        )
    for partition in range(3):
        replicas = cluster.wait_for_replicas_in_step(topic, partition)
        assert {r.high_watermark for r in replicas.values()} == {50}


def test_a_paused_follower_leaves_the_isr_and_two_make_acks_all_fail_until_they_return(
    five_brokers: BrokerCluster,
) -> None:
    cluster = five_brokers
    topic = "paused-followers"
    create_topic(cluster.bootstrap, topic, configs=MIN_INSYNC_2, assignments={0: [1, 2, 3]})
    cluster.wait_for_leader(topic, 0, among={1})
    cluster.wait_for_isr(topic, 0, {1, 2, 3})
    assert _produce_acks_all(cluster, topic, b"all three") is ErrorCode.none

    cluster.pause(3)
    cluster.wait_for_isr(topic, 0, {1, 2})
    assert _produce_acks_all(cluster, topic, b"two of three") is ErrorCode.none

    cluster.pause(2)
    cluster.wait_for_isr(topic, 0, {1})
    assert _produce_acks_all(cluster, topic, b"one of three") is ErrorCode.not_enough_replicas

    cluster.resume(2)
    cluster.resume(3)
    cluster.wait_for_isr(topic, 0, {1, 2, 3})
    assert _produce_acks_all(cluster, topic, b"back to three") is ErrorCode.none
    assert _assert_identical_replicas(cluster, topic, {1, 2, 3}) == 3


def test_a_replica_fetch_from_an_unknown_broker_is_refused_and_changes_nothing(
    cluster: BrokerCluster,
) -> None:
    topic = "strangers"
    create_topic(cluster.bootstrap, topic, configs=MIN_INSYNC_2)
    cluster.wait_for_isr(topic, 0, {1, 2, 3})
    assert _produce_acks_all(cluster, topic, b"committed") is ErrorCode.none
    leader = cluster.brokers[cluster.leader_of(topic, 0)]
    before = cluster.partition(topic, 0, leader.node_id)
    with WireClient(leader.bootstrap) as wire:
        request = wire.fetch_request(topic, 0, 1)
        response = wire.request(dataclasses.replace(request, replica_id=42))
    ((answer,),) = (t.partitions for t in response.responses)
    assert answer.error_code == ErrorCode.not_leader_or_follower
    assert not answer.records
    assert "refused a replica fetch from broker 42" in leader.output()
    assert cluster.partition(topic, 0, leader.node_id) == before
