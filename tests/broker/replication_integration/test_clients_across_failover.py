"""Real clients on a three-broker cluster (replication factor 3, min.insync.replicas 2)
while the leader of their partition is killed with SIGKILL.

Each client family produces with acks=all, idempotently, half before the kill and half
around it; every record must be acknowledged. A consumer-group member of the same
family then reads the partition from the new leader: every acknowledged record exactly
once, in order. The killed broker comes back, truncates what it had beyond the new
leader's log, rejoins the ISR, and the three replicas are byte-identical again.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from kio.schema.errors import ErrorCode

from contracts.broker_cluster import BrokerCluster
from tests.broker.groups_integration.members import GroupMember, wait_until
from tests.broker.replication_integration.producers import PRODUCERS
from tests.interop.kcat import kcat
from tests.interop.wire import WireClient, build, nested, request_class
from tests.support.clusters import create_topic, replica_bytes, running_cluster

pytestmark = [pytest.mark.interop, pytest.mark.slow]

RECORDS = 200
MIN_INSYNC_2 = {"min.insync.replicas": "2"}
_KCAT_PARTITION = re.compile(r"partition (\d+), leader (-?\d+), replicas: ([\d,]*), isrs: ([\d,]*)")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerCluster]:
    with running_cluster(3, tmp_path_factory.mktemp("failover")) as running:
        yield running


def _new_topic(cluster: BrokerCluster, topic: str) -> int:
    """Create a replicated topic; its leader once all three replicas are in sync."""
    create_topic(cluster.bootstrap, topic, configs=MIN_INSYNC_2)
    cluster.wait_for_isr(topic, 0, {1, 2, 3})
    return cluster.leader_of(topic, 0)


def _recover(cluster: BrokerCluster, node: int, topic: str) -> None:
    """Start ``node`` again; it must rejoin the ISR with a byte-identical replica."""
    cluster.restart(node)
    cluster.wait_for_isr(topic, 0, {1, 2, 3})
    replicas = cluster.wait_for_replicas_in_step(topic, 0)
    (high_watermark,) = {r.high_watermark for r in replicas.values()}
    copies = {replica_bytes(cluster.data_dir(n), topic, 0, high_watermark) for n in replicas}
    assert len(replicas) == 3 and len(copies) == 1


@pytest.mark.parametrize("family", list(PRODUCERS))
def test_every_acknowledged_record_is_read_once_in_order_after_the_leader_is_killed(
    cluster: BrokerCluster, family: str, tmp_path: Path
) -> None:
    topic = f"failover-{family}"
    leader = _new_topic(cluster, topic)
    values = [f"{family}-{i}" for i in range(RECORDS)]
    PRODUCERS[family](cluster.bootstrap, topic, values, lambda: cluster.kill(leader))
    others = set(cluster.brokers) - {leader}
    assert cluster.wait_for_leader(topic, 0, among=others) in others

    member = GroupMember(family, cluster.bootstrap, f"group-{family}", topic, tmp_path, family)
    try:
        wait_until(lambda: len(member.records()) >= RECORDS, 60, f"{RECORDS} records")
        _recover(cluster, leader, topic)
        assert member.records() == [(0, offset, v) for offset, v in enumerate(values)]
    finally:
        member.kill()


def test_kcat_lists_each_partitions_leader_replicas_and_isr(cluster: BrokerCluster) -> None:
    topic = "listed"
    create_topic(cluster.bootstrap, topic, partitions=3, configs=MIN_INSYNC_2)
    for partition in range(3):
        cluster.wait_for_isr(topic, partition, {1, 2, 3})
    listing = kcat("-L", "-b", cluster.bootstrap, "-t", topic).stdout.decode()
    rows = {int(m[1]): m for m in _KCAT_PARTITION.finditer(listing)}
    assert sorted(rows) == [0, 1, 2], listing
    for partition, row in rows.items():
        replicas = [int(r) for r in row[3].split(",")]
        assert sorted(replicas) == [1, 2, 3]
        assert sorted(int(r) for r in row[4].split(",")) == [1, 2, 3]
        assert int(row[2]) == cluster.leader_of(topic, partition) == replicas[0]


def _fetch_error(bootstrap: str, topic: str, current_leader_epoch: int) -> ErrorCode:
    cls = request_class(1, 12)
    partition = build(
        nested(cls, "FetchPartition"),
        partition=0,
        current_leader_epoch=current_leader_epoch,
        fetch_offset=0,
        last_fetched_epoch=-1,
        log_start_offset=-1,
        partition_max_bytes=1024,
    )
    request = build(
        cls,
        replica_id=-1,
        max_wait=datetime.timedelta(0),
        min_bytes=1,
        max_bytes=1024,
        isolation_level=0,
        session_id=0,
        session_epoch=-1,
        topics=(build(nested(cls, "FetchTopic"), topic=topic, partitions=(partition,)),),
        forgotten_topics_data=(),
        rack_id="",
    )
    with WireClient(bootstrap) as wire:
        ((answer,),) = (t.partitions for t in wire.request(request).responses)
    return ErrorCode(answer.error_code)


def test_clients_naming_an_old_or_unknown_leader_epoch_are_told_so(
    cluster: BrokerCluster,
) -> None:
    topic = "epochs"
    leader = _new_topic(cluster, topic)
    first_epoch = cluster.partition(topic, 0).leader_epoch
    cluster.kill(leader)
    new_leader = cluster.wait_for_leader(topic, 0, among=set(cluster.brokers) - {leader})
    epoch = cluster.wait_for(
        lambda: (e := cluster.partition(topic, 0, new_leader).leader_epoch) > first_epoch and e,
        "a new leader epoch",
    )
    bootstrap = cluster.brokers[new_leader].bootstrap
    assert _fetch_error(bootstrap, topic, first_epoch) is ErrorCode.fenced_leader_epoch
    assert _fetch_error(bootstrap, topic, epoch + 1) is ErrorCode.unknown_leader_epoch
    assert _fetch_error(bootstrap, topic, epoch) is ErrorCode.none
    _recover(cluster, leader, topic)
