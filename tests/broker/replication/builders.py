"""Builders shared by the replication unit tests."""

from __future__ import annotations

from broker.error_codes import KafkaError
from broker.replication import (
    FollowerPhase,
    FollowerReplicaState,
    LeaderConfig,
    LeaderReplicaState,
)
from tests.broker.replication.fakes import FakeLog

LAG_MS = 10_000


def leader_of(
    *,
    replicas: tuple[int, ...] = (1, 2, 3),
    isr: tuple[int, ...] | None = None,
    log_end: int = 100,
    high_watermark: int = 0,
    now_ms: int = 0,
    min_insync: int = 1,
    durable: bool = False,
    flushed: int | None = None,
    epoch_start: int | None = None,
    leader_epoch: int = 5,
    partition_epoch: int = 7,
) -> LeaderReplicaState:
    """Node 1 leading t-0 in ``leader_epoch``."""
    return LeaderReplicaState(
        "t",
        0,
        leader_id=1,
        leader_epoch=leader_epoch,
        partition_epoch=partition_epoch,
        replicas=replicas,
        isr=replicas if isr is None else isr,
        log_end_offset=log_end,
        high_watermark=high_watermark,
        now_ms=now_ms,
        config=LeaderConfig(
            min_insync_replicas=min_insync,
            replica_lag_time_max_ms=LAG_MS,
            durable=durable,
            isr_retry_backoff_ms=100,
        ),
        epoch_start_offset=epoch_start,
        flushed_offset=flushed,
    )


def fetch(
    leader: LeaderReplicaState, replica: int, offset: int, log: FakeLog, now_ms: int = 0
) -> int:
    """A plain follower fetch that must succeed; returns the HW after it."""
    decision = leader.on_follower_fetch(replica, offset, now_ms, log)
    assert decision.error is KafkaError.NONE, decision.reason
    assert decision.diverging_epoch is None
    return decision.update.high_watermark


def phase_of(state: FollowerReplicaState) -> FollowerPhase:
    """The phase, read through a call (so that type checkers do not pin it)."""
    return state.phase
