"""Partition replication, sans-I/O: leader and follower replica state machines (Kafka's
``Partition``, ``Replica`` and fetcher logic), the role changes a metadata update
implies, and acks=all bookkeeping.

Modules, each importing only those above it (plus ``broker.storage`` types, and
``broker.metadata`` for the role planner):

- ``log_view``: ``ReplicaLogView`` (what the core reads from a ``Log``) and
  ``check_leader_epoch`` (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH).
- ``waiters``: ``ProduceWaiters`` (acks=all requests waiting for the high watermark).
- ``progress``: ``FollowerProgress`` (a follower's position and caught-up time).
- ``isr``: ``IsrState`` and ``IsrChangeRequest`` (the ISR change in flight).
- ``leader``: ``LeaderReplicaState`` (fetch checks, high watermark, ISR, acks=all).
- ``truncation`` and ``follower``: ``FollowerReplicaState`` (truncate, then fetch).
- ``roles`` and ``replica_set``: ``plan_role_changes`` and ``LocalReplicas``.
- ``log_actions``: the edge's executor of the actions above on a real ``Log`` (the one
  module that writes).

How the I/O edge drives it, per partition (time is always the caller's ``now_ms``):

On every metadata image: ``plan_role_changes(delta(old, new, node_id),
replicas.led_epochs())``, then ``replicas.apply(transition, log, now_ms, config,
checkpoint_hw)`` for each, in order; execute ``outcome.log_actions``
(``apply_role_actions``), answer ``outcome.completed`` waiters.

Leader (``replicas.leader(key)``):

- Produce acks=all: ``can_accept_acks_all()`` (NOT_ENOUGH_REPLICAS: refuse before
  appending); append; ``on_leader_append(log.log_end_offset, now_ms)``;
  ``register_acks_all(last_offset + 1, now_ms + timeout_ms, now_ms)``; answer each
  ``WaiterOutcome`` whenever any call returns some (acks=0/1: answer after the append).
- Replica Fetch: ``on_follower_fetch(replica_id, fetch_offset, now_ms, log,
  current_leader_epoch=..., last_fetched_epoch=...)``; on NONE without a diverging
  epoch serve ``log.read_replica(fetch_offset, max_bytes)`` with ``decision.update
  .high_watermark`` and the log start; send ``decision.isr_change`` to the controller.
  A replica fetch that finds nothing new may wait (long poll) like a consumer fetch.
- Consumer Fetch / ListOffsets / OffsetsForLeaderEpoch: ``check_client_epoch``, read up
  to ``high_watermark``; ``list_offsets_error``; ``offsets_for_leader_epoch``.
- Flush (durable policy): ``on_leader_flushed(log.flushed_offset, now_ms)``.
- Timers: ``maybe_shrink_isr(now_ms)`` every replica_lag_time_max_ms / 2 (send the
  request it returns); ``poll_waiters(now_ms)`` for request timeouts.
- Controller answers: ``on_isr_change_answer(change, error or None, now_ms)``; resend
  what it returns.
- Whenever ``high_watermark_advanced``: wake consumer fetches, checkpoint the HW.

Follower (``replicas.follower(key)``): loop ``next_request(log, now_ms)`` -> send to
``leader_id`` (EpochRequest: OffsetsForLeaderEpoch; FetchRequest: Fetch with this
node's replica id; LeaderOffsetsRequest: ListOffsets earliest and latest as a replica)
-> pass the answer with the same request object to ``on_epoch_response`` /
``on_fetch_response`` / ``on_offsets_response``, or ``on_request_failed`` on a timeout
or a dropped connection -> ``apply_follower_actions(log, actions)`` (a storage error
there is logged; the next request fetches again from the log end); checkpoint
``high_watermark(log)``. ``LocalReplicas(truncate_on_fetch=True)`` makes followers skip
OffsetsForLeaderEpoch and truncate from the leader's diverging epoch (Kafka since 2.7);
both ways are simulated.

The edge also owes the core two things it cannot check: retention on a led partition
deletes only segments below the HW (as Kafka does), and a Log is only written through
these actions while a follower state owns it (the leader appends only while it leads).
"""

from broker.replication.follower import (
    AdvanceLogStart,
    AppendReplicated,
    EpochRequest,
    FetchRequest,
    FetchResponse,
    FollowerAction,
    FollowerPhase,
    FollowerReplicaState,
    FollowerRequest,
    LeaderOffsetsRequest,
    TruncateFullyAndStartAt,
    TruncateTo,
)
from broker.replication.isr import IsrChangeKind, IsrChangeRequest
from broker.replication.leader import FetchDecision, LeaderConfig, LeaderReplicaState, LeaderUpdate
from broker.replication.log_view import NO_EPOCH, ReplicaLogView, check_leader_epoch
from broker.replication.replica_set import (
    AssignLeaderEpoch,
    DeleteLog,
    LocalReplicas,
    RoleLogAction,
    RoleOutcome,
)
from broker.replication.roles import (
    BecomeFollower,
    BecomeLeader,
    RoleTransition,
    StopReplica,
    UpdateLeaderIsr,
    plan_role_changes,
)
from broker.replication.waiters import ProduceWaiters, WaiterOutcome

__all__ = [
    "NO_EPOCH",
    "AdvanceLogStart",
    "AppendReplicated",
    "AssignLeaderEpoch",
    "BecomeFollower",
    "BecomeLeader",
    "DeleteLog",
    "EpochRequest",
    "FetchDecision",
    "FetchRequest",
    "FetchResponse",
    "FollowerAction",
    "FollowerPhase",
    "FollowerReplicaState",
    "FollowerRequest",
    "IsrChangeKind",
    "IsrChangeRequest",
    "LeaderConfig",
    "LeaderOffsetsRequest",
    "LeaderReplicaState",
    "LeaderUpdate",
    "LocalReplicas",
    "ProduceWaiters",
    "ReplicaLogView",
    "RoleLogAction",
    "RoleOutcome",
    "RoleTransition",
    "StopReplica",
    "TruncateFullyAndStartAt",
    "TruncateTo",
    "UpdateLeaderIsr",
    "WaiterOutcome",
    "check_leader_epoch",
    "plan_role_changes",
]
