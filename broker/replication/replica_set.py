"""``LocalReplicas``: the replica state of every partition on this node, moved through
the transitions ``plan_role_changes`` plans (Kafka's ``ReplicaManager.applyDelta``,
applying half). Sans-I/O: each transition returns the log actions the edge executes
(``broker.replication.log_actions``) and the acks=all waiters that are done.

High watermarks carry over: a new leader starts from its follower HW (or its previous
leadership's HW, whose waiters it keeps when re-elected with a newer epoch), a new
follower from its leader HW, a partition without state from ``checkpoint_hw`` (the
``replication-offset-checkpoint`` value, 0 when absent); always within the log.
"""

from __future__ import annotations

from dataclasses import dataclass

from broker.replication.follower import FollowerReplicaState
from broker.replication.leader import LeaderConfig, LeaderReplicaState, LeaderUpdate
from broker.replication.log_view import ReplicaLogView
from broker.replication.roles import (
    BecomeFollower,
    BecomeLeader,
    PartitionKey,
    RoleTransition,
    StopReplica,
    UpdateLeaderIsr,
)
from broker.replication.waiters import ProduceWaiters, WaiterOutcome

__all__ = ["AssignLeaderEpoch", "DeleteLog", "LocalReplicas", "RoleLogAction", "RoleOutcome"]

ReplicaState = LeaderReplicaState | FollowerReplicaState


@dataclass(frozen=True, slots=True)
class AssignLeaderEpoch:
    """``Log.assign_leader_epoch(leader_epoch)``."""

    leader_epoch: int


@dataclass(frozen=True, slots=True)
class DeleteLog:
    """Close and delete the partition's log (``LogManager``)."""


RoleLogAction = AssignLeaderEpoch | DeleteLog


@dataclass(frozen=True, slots=True)
class RoleOutcome:
    """What applying one transition asks of the edge: log actions in order, waiters
    to answer, and for leaders the HW state (``update``)."""

    key: PartitionKey
    log_actions: tuple[RoleLogAction, ...] = ()
    completed: tuple[WaiterOutcome, ...] = ()
    update: LeaderUpdate | None = None


class LocalReplicas:
    """Partition key -> LeaderReplicaState or FollowerReplicaState on node ``node_id``."""

    def __init__(
        self,
        node_id: int,
        *,
        fetch_backoff_ms: int = 1000,
        truncate_on_fetch: bool = False,
        leader_class: type[LeaderReplicaState] = LeaderReplicaState,
        follower_class: type[FollowerReplicaState] = FollowerReplicaState,
    ) -> None:
        """``fetch_backoff_ms`` and ``truncate_on_fetch``: for new followers (see
        FollowerReplicaState). ``leader_class`` and ``follower_class``: the state types
        to create (tests substitute broken variants to prove their checks catch them)."""
        self.node_id = node_id
        self.fetch_backoff_ms = fetch_backoff_ms
        self.truncate_on_fetch = truncate_on_fetch
        self.leader_class = leader_class
        self.follower_class = follower_class
        self.states: dict[PartitionKey, ReplicaState] = {}

    def leader(self, key: PartitionKey) -> LeaderReplicaState | None:
        state = self.states.get(key)
        return state if isinstance(state, LeaderReplicaState) else None

    def follower(self, key: PartitionKey) -> FollowerReplicaState | None:
        state = self.states.get(key)
        return state if isinstance(state, FollowerReplicaState) else None

    def led_epochs(self) -> dict[PartitionKey, int]:
        """The ``led_here`` argument of ``plan_role_changes``."""
        return {
            key: state.leader_epoch
            for key, state in self.states.items()
            if isinstance(state, LeaderReplicaState)
        }

    def high_watermark(self, key: PartitionKey, log: ReplicaLogView) -> int | None:
        """The partition's HW here (to checkpoint), None without state."""
        state = self.states.get(key)
        if state is None:
            return None
        if isinstance(state, LeaderReplicaState):
            return state.high_watermark
        return state.high_watermark(log)

    def apply(
        self,
        transition: RoleTransition,
        log: ReplicaLogView | None,
        now_ms: int,
        config: LeaderConfig,
        checkpoint_hw: int = 0,
    ) -> RoleOutcome:
        """Apply one transition. ``log`` is the partition's log (created by the edge
        beforehand; may be None for ``StopReplica``); ``config``: the partition's leader
        settings (only read by ``BecomeLeader``)."""
        if isinstance(transition, StopReplica):
            return self._stop(transition)
        if log is None:
            raise ValueError(f"{transition.key}: {type(transition).__name__} needs the log")
        if isinstance(transition, UpdateLeaderIsr):
            return self._update_isr(transition, now_ms)
        if isinstance(transition, BecomeLeader):
            return self._become_leader(transition, log, now_ms, config, checkpoint_hw)
        return self._become_follower(transition, log, checkpoint_hw)

    def _stop(self, transition: StopReplica) -> RoleOutcome:
        state = self.states.pop(transition.key, None)
        completed = state.resign() if isinstance(state, LeaderReplicaState) else ()
        actions = (DeleteLog(),) if transition.delete else ()
        return RoleOutcome(transition.key, actions, completed)

    def _update_isr(self, transition: UpdateLeaderIsr, now_ms: int) -> RoleOutcome:
        leader = self.leader(transition.key)
        if leader is None or leader.leader_epoch != transition.leader_epoch:
            raise ValueError(f"{transition.key}: no leadership of epoch {transition.leader_epoch}")
        update = leader.on_partition_state(
            transition.leader_epoch, transition.partition_epoch, transition.isr, now_ms
        )
        return RoleOutcome(transition.key, (), update.completed, update)

    def _start_hw(self, key: PartitionKey, log: ReplicaLogView, checkpoint_hw: int) -> int:
        """The HW a new state starts from, within [log start, log end]."""
        hw = self.high_watermark(key, log)
        start = checkpoint_hw if hw is None else hw
        return max(log.log_start_offset, min(start, log.log_end_offset))

    def _become_leader(
        self,
        transition: BecomeLeader,
        log: ReplicaLogView,
        now_ms: int,
        config: LeaderConfig,
        checkpoint_hw: int,
    ) -> RoleOutcome:
        key = transition.key
        high_watermark = self._start_hw(key, log, checkpoint_hw)
        previous = self.states.pop(key, None)
        waiters: ProduceWaiters | None = None
        if isinstance(previous, LeaderReplicaState):
            waiters = previous.waiters  # re-elected: its producers keep waiting
        leader = self.leader_class(
            key[0],
            key[1],
            leader_id=self.node_id,
            leader_epoch=transition.leader_epoch,
            partition_epoch=transition.partition_epoch,
            replicas=transition.replicas,
            isr=transition.isr,
            log_end_offset=log.log_end_offset,
            high_watermark=high_watermark,
            now_ms=now_ms,
            config=config,
            flushed_offset=log.flushed_offset,
            waiters=waiters,
        )
        self.states[key] = leader
        update = leader.on_leader_append(log.log_end_offset, now_ms)
        return RoleOutcome(
            key, (AssignLeaderEpoch(transition.leader_epoch),), update.completed, update
        )

    def _become_follower(
        self, transition: BecomeFollower, log: ReplicaLogView, checkpoint_hw: int
    ) -> RoleOutcome:
        key = transition.key
        high_watermark = self._start_hw(key, log, checkpoint_hw)
        previous = self.states.pop(key, None)
        completed = previous.resign() if isinstance(previous, LeaderReplicaState) else ()
        self.states[key] = self.follower_class(
            key[0],
            key[1],
            leader_id=transition.leader_id,
            leader_epoch=transition.leader_epoch,
            high_watermark=high_watermark,
            fetch_backoff_ms=self.fetch_backoff_ms,
            truncate_on_fetch=self.truncate_on_fetch,
        )
        return RoleOutcome(key, (), completed)
