"""``plan_role_changes``: what one broker does to its replicas after its metadata image
moved (Kafka's ``ReplicaManager.applyDelta``, planning half). Pure.

From the ``MetadataDelta`` for this node (``broker.metadata.delta``) and the leader
epochs of the partitions this node leads now, the transitions, in the order to apply
them: every ``StopReplica`` first (deleted topics, replicas moved away), then
``BecomeLeader`` and ``UpdateLeaderIsr``, then ``BecomeFollower``; within each group by
topic name and partition index.

- ``BecomeLeader``: a leadership new to this node's replica state (a new leader epoch,
  or one it does not hold, as after a restart). The edge stops a follower state if any,
  calls ``Log.assign_leader_epoch(leader_epoch)`` and starts a LeaderReplicaState (see
  ``broker.replication.replica_set``, which does all of it).
- ``UpdateLeaderIsr``: the same leadership at a newer partition epoch (an ISR change
  committed): ``LeaderReplicaState.on_partition_state``.
- ``BecomeFollower``: a new leader (or -1: offline) or leader epoch. The edge ends a
  leader state (its acks=all waiters get NOT_LEADER_OR_FOLLOWER) and starts a
  FollowerReplicaState, which truncates before it fetches.
- ``StopReplica``: end whatever state the partition has (waiters as above) and, with
  ``delete``, delete its log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from broker.metadata.delta import LocalPartition, MetadataDelta
from broker.metadata.image import TopicPartitionRef

__all__ = [
    "BecomeFollower",
    "BecomeLeader",
    "PartitionKey",
    "RoleTransition",
    "StopReplica",
    "UpdateLeaderIsr",
    "plan_role_changes",
]

PartitionKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class BecomeLeader:
    ref: TopicPartitionRef
    leader_epoch: int
    partition_epoch: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]

    @property
    def key(self) -> PartitionKey:
        return (self.ref.topic, self.ref.partition_index)


@dataclass(frozen=True, slots=True)
class UpdateLeaderIsr:
    ref: TopicPartitionRef
    leader_epoch: int
    partition_epoch: int
    isr: tuple[int, ...]

    @property
    def key(self) -> PartitionKey:
        return (self.ref.topic, self.ref.partition_index)


@dataclass(frozen=True, slots=True)
class BecomeFollower:
    """Follow ``leader_id`` (-1: no leader, wait) in ``leader_epoch``."""

    ref: TopicPartitionRef
    leader_id: int
    leader_epoch: int
    replicas: tuple[int, ...]

    @property
    def key(self) -> PartitionKey:
        return (self.ref.topic, self.ref.partition_index)


@dataclass(frozen=True, slots=True)
class StopReplica:
    ref: TopicPartitionRef
    delete: bool

    @property
    def key(self) -> PartitionKey:
        return (self.ref.topic, self.ref.partition_index)


RoleTransition = BecomeLeader | UpdateLeaderIsr | BecomeFollower | StopReplica


def plan_role_changes(
    delta: MetadataDelta, led_here: Mapping[PartitionKey, int]
) -> tuple[RoleTransition, ...]:
    """The transitions for ``delta`` (see the module docstring). ``led_here``: leader
    epoch of every partition this node has a LeaderReplicaState for."""
    stops = [StopReplica(ref, delete=True) for ref in delta.to_delete]
    leads = [_lead(change, led_here) for change in delta.to_lead]
    follows = [_follow(change) for change in delta.to_follow]
    return (*stops, *leads, *follows)


def _ref(change: LocalPartition) -> TopicPartitionRef:
    return TopicPartitionRef(change.topic, change.topic_id, change.partition.partition_index)


def _lead(
    change: LocalPartition, led_here: Mapping[PartitionKey, int]
) -> BecomeLeader | UpdateLeaderIsr:
    state = change.partition
    key = (change.topic, state.partition_index)
    if led_here.get(key) == state.leader_epoch:
        return UpdateLeaderIsr(_ref(change), state.leader_epoch, state.partition_epoch, state.isr)
    return BecomeLeader(
        _ref(change), state.leader_epoch, state.partition_epoch, state.replicas, state.isr
    )


def _follow(change: LocalPartition) -> BecomeFollower:
    state = change.partition
    return BecomeFollower(_ref(change), state.leader, state.leader_epoch, state.replicas)
