"""Every broker of the cluster killed at once (SIGKILL, as a power cut of the host would
be for the processes) and all of them started again together.

Records acknowledged with acks=all before the kill are all there afterwards, once each
and in order, on every replica; the quorum elects a controller again and every
partition gets a leader and its full ISR back. Under load, an idempotent producer that
keeps sending across the kill gets every record acknowledged, each stored once.

Offsets a group committed before the kill are committed after it: they live in the
replicated ``__consumer_offsets`` topic, whose partitions elect leaders again like any
other, and the group's new coordinator loads them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.broker_cluster import BrokerCluster
from tests.interop.clients import ConfluentKafka
from tests.interop.messages import Message
from tests.support.clusters import create_topic, replica_bytes, running_cluster

pytestmark = pytest.mark.slow

TOPIC = "whole-cluster-restart"
PARTITIONS = 3
RECORDS_PER_PARTITION = 200
ALL = {1, 2, 3}
UNDER_LOAD_HALF = 1000
GROUP = "restart-readers"
COMMITTED = {0: 150, 1: 7, 2: RECORDS_PER_PARTITION}


def _commit(bootstrap: str) -> None:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": GROUP, "enable.auto.commit": False}
    )
    try:
        wanted = [TopicPartition(TOPIC, p, offset) for p, offset in COMMITTED.items()]
        consumer.commit(offsets=wanted, asynchronous=False)  # raises unless committed
    finally:
        consumer.close()


def _committed(bootstrap: str) -> dict[int, int] | None:
    """The group's committed offsets, or None while its coordinator cannot answer."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP})
    try:
        asked = [TopicPartition(TOPIC, p) for p in COMMITTED]
        return {tp.partition: tp.offset for tp in consumer.committed(asked, timeout=10)}
    except KafkaException:
        return None
    finally:
        consumer.close()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[BrokerCluster]:
    with running_cluster(3, tmp_path) as running:
        yield running


def _values(partition: int) -> list[bytes]:
    return [f"p{partition}-{i}".encode() for i in range(RECORDS_PER_PARTITION)]


def _controller_everyone_agrees_on(cluster: BrokerCluster) -> int | None:
    """The active controller once every broker names the same live one."""
    seen = {cluster.controller_id(node) for node in cluster.brokers}
    if len(seen) != 1:
        return None
    controller = seen.pop()
    return controller if controller in cluster.brokers else None


def test_acknowledged_records_survive_every_broker_killed_at_once(
    cluster: BrokerCluster,
) -> None:
    create_topic(
        cluster.bootstrap, TOPIC, partitions=PARTITIONS, configs={"min.insync.replicas": "2"}
    )
    for partition in range(PARTITIONS):
        cluster.wait_for_isr(TOPIC, partition, ALL)
    producer = ConfluentKafka()
    for partition in range(PARTITIONS):
        messages = [Message(value) for value in _values(partition)]
        producer.produce(
            cluster.bootstrap,
            TOPIC,
            messages,
            partition=partition,
            options={"acks": "all", "enable.idempotence": True},
        )  # raises unless every record was acknowledged
    _commit(cluster.bootstrap)

    cluster.kill_all()
    assert not any(broker.running for broker in cluster.brokers.values())
    cluster.restart_all()

    cluster.wait_for(lambda: _controller_everyone_agrees_on(cluster), "an agreed controller")
    for partition in range(PARTITIONS):
        cluster.wait_for_leader(TOPIC, partition, among=ALL)
        cluster.wait_for_isr(TOPIC, partition, ALL)
        replicas = cluster.wait_for_replicas_in_step(TOPIC, partition)
        (high_watermark,) = {r.high_watermark for r in replicas.values()}
        assert high_watermark == RECORDS_PER_PARTITION
        copies = {replica_bytes(cluster.data_dir(n), TOPIC, partition, high_watermark) for n in ALL}
        assert len(copies) == 1
        consumed = ConfluentKafka().consume(
            cluster.bootstrap, TOPIC, RECORDS_PER_PARTITION, partition=partition
        )
        assert [(c.offset, c.value) for c in consumed] == list(enumerate(_values(partition)))
    assert cluster.wait_for(lambda: _committed(cluster.bootstrap), "the committed offsets") == (
        COMMITTED
    )


def test_records_acknowledged_around_a_kill_of_every_broker_are_all_there_once(
    cluster: BrokerCluster,
) -> None:
    """An idempotent acks=all producer keeps sending while every broker is killed and
    restarted: every record it was told is acknowledged is in the log exactly once, in
    the order sent (records in flight at the kill are retried by the client)."""
    from confluent_kafka import Producer

    topic = "killed-under-load"
    create_topic(cluster.bootstrap, topic, configs={"min.insync.replicas": "2"})
    cluster.wait_for_isr(topic, 0, ALL)
    acknowledged: list[bytes] = []
    errors: list[str] = []

    def on_delivery(err: Any, message: Any) -> None:
        if err is None:
            acknowledged.append(message.value())
        else:
            errors.append(str(err))

    producer = Producer(
        {
            "bootstrap.servers": cluster.bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "message.timeout.ms": 120_000,
            "log_level": 3,
        }
    )
    values = [f"under-load-{i}".encode() for i in range(2 * UNDER_LOAD_HALF)]
    for value in values[:UNDER_LOAD_HALF]:
        producer.produce(topic, value, partition=0, on_delivery=on_delivery)

    def some_acknowledged() -> bool:
        producer.poll(0.05)  # serves the delivery callbacks
        return bool(acknowledged)

    cluster.wait_for(some_acknowledged, "a first acknowledgement")

    cluster.kill_all()
    for value in values[UNDER_LOAD_HALF:]:
        producer.produce(topic, value, partition=0, on_delivery=on_delivery)
    cluster.restart_all()
    assert producer.flush(120) == 0, "records left undelivered"
    assert not errors, errors[:5]

    replicas = cluster.wait_for_replicas_in_step(topic, 0)
    (high_watermark,) = {r.high_watermark for r in replicas.values()}
    stored = [c.value for c in ConfluentKafka().consume(cluster.bootstrap, topic, high_watermark)]
    assert stored == values  # all acknowledged, once each, in order
    assert sorted(acknowledged) == sorted(values)
