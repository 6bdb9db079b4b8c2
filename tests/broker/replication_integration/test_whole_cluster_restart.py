"""Every broker of the cluster killed at once (SIGKILL, as a power cut of the host would
be for the processes) and all of them started again together.

Records acknowledged with acks=all before the kill are all there afterwards, once each
and in order, on every replica; the quorum elects a controller again and every
partition gets a leader and its full ISR back.

Committed offsets are not asserted: on this branch a group's offsets live only in the
coordinator's local log (``broker.coordinator.local_offsets``), not in a replicated
``__consumer_offsets`` partition, so after a full restart the group may be coordinated by
a broker that never saw its commits. Replicated offsets come with that change.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
