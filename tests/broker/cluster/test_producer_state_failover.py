"""Idempotent producers across a leader failover, at the replica manager: a follower's
replicated batches rebuild each producer's state (epoch and sequences), so when the
follower becomes leader a producer's retry of an acknowledged batch is deduplicated,
and a sequence gap is still refused. Truncation rebuilds the state too: a batch the
new leader's log lost is accepted again, not taken for a duplicate.

Node 0 is the replica under test; broker 1 leads until its session expires (a real
controller decides, ``LocalMetadata``); no sockets, time by hand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.cluster.flusher import Flusher, FlushPolicy
from broker.cluster.partition import Partition
from broker.cluster.replica_manager import ReplicaManager
from broker.records.record import Record, build_batch
from broker.replication import AppendReplicated, TruncateTo
from broker.storage.errors import OutOfOrderSequenceError
from broker.storage.log_config import LogConfig
from broker.storage.manager import LogManager
from contracts.clock import ManualClock
from tests.support.local_metadata import LocalMetadata

TOPIC = "orders"
PRODUCER_ID = 4_000
SESSION_EXPIRY_MS = 60_000  # well past any broker session timeout


def _batch(
    base_sequence: int, count: int, *, base_offset: int = 0, leader_epoch: int = -1
) -> bytes:
    records = [Record(b"v%d" % (base_sequence + i), timestamp_ms=1_000) for i in range(count)]
    return build_batch(
        records,
        base_offset=base_offset,
        producer_id=PRODUCER_ID,
        producer_epoch=0,
        base_sequence=base_sequence,
        leader_epoch=leader_epoch,
    )


@pytest.fixture
def follower(tmp_path: Path) -> Iterator[tuple[ReplicaManager, LocalMetadata]]:
    clock = ManualClock()
    manager = LogManager(tmp_path, LogConfig(), clock.time_ms)
    manager.open()
    replicas = ReplicaManager(manager, Flusher(FlushPolicy.INTERVAL, 60_000), clock)
    metadata = LocalMetadata(replicas, peers=(1,))
    metadata.create_topic(TOPIC, assignments={0: (1, 0)})  # broker 1 leads
    try:
        yield replicas, metadata
    finally:
        manager.close()


def _replicate(replicas: ReplicaManager, *batches: bytes) -> Partition:
    partition = replicas.get(TOPIC, 0)
    assert partition is not None and partition.follower is not None
    assert replicas.apply_follower_actions(
        partition, partition.follower, (AppendReplicated(b"".join(batches)),)
    )
    return partition


def _fail_over(replicas: ReplicaManager, metadata: LocalMetadata) -> Partition:
    """Broker 1's session expires; the controller elects node 0."""
    metadata.harness.advance(SESSION_EXPIRY_MS)
    metadata.harness.heartbeat_all(0)
    metadata.harness.tick()
    metadata.publish()
    partition = replicas.get(TOPIC, 0)
    assert partition is not None and partition.leader is not None
    return partition


def test_a_retry_of_a_replicated_batch_is_deduplicated_by_the_new_leader(
    follower: tuple[ReplicaManager, LocalMetadata],
) -> None:
    replicas, metadata = follower
    _replicate(replicas, _batch(0, 3, leader_epoch=0), _batch(3, 2, base_offset=3, leader_epoch=0))
    partition = _fail_over(replicas, metadata)
    retry = replicas.append(partition, _batch(3, 2))  # the producer never saw the ack
    assert (retry.duplicate, retry.base_offset, retry.last_offset) == (True, 3, 4)
    assert partition.log_end_offset == 5
    following = replicas.append(partition, _batch(5, 1))
    assert (following.duplicate, following.base_offset) == (False, 5)


def test_a_sequence_gap_is_refused_by_the_new_leader(
    follower: tuple[ReplicaManager, LocalMetadata],
) -> None:
    replicas, metadata = follower
    _replicate(replicas, _batch(0, 3, leader_epoch=0))
    partition = _fail_over(replicas, metadata)
    with pytest.raises(OutOfOrderSequenceError):
        replicas.append(partition, _batch(7, 1))
    assert partition.log_end_offset == 3


def test_a_batch_lost_to_truncation_is_taken_again_not_deduplicated(
    follower: tuple[ReplicaManager, LocalMetadata],
) -> None:
    replicas, metadata = follower
    partition = _replicate(
        replicas, _batch(0, 3, leader_epoch=0), _batch(3, 2, base_offset=3, leader_epoch=0)
    )
    assert partition.follower is not None
    assert replicas.apply_follower_actions(partition, partition.follower, (TruncateTo(3),))
    partition = _fail_over(replicas, metadata)
    again = replicas.append(partition, _batch(3, 2))
    assert (again.duplicate, again.base_offset, again.last_offset) == (False, 3, 4)
