"""What the replication core reads from a partition log, and the leader epoch check.

The core never writes to a log: it reads through ``ReplicaLogView`` (which
``broker.storage.log.Log`` satisfies as it is) and returns actions for the I/O edge to
execute. Every read here is in memory (offsets and the epoch cache), so passing the live
``Log`` keeps the core free of I/O.
"""

from __future__ import annotations

from typing import Protocol

from broker.error_codes import KafkaError
from broker.storage.epoch_cache import EpochEndOffset

__all__ = ["NO_EPOCH", "LatestEpochView", "ReplicaLogView", "check_leader_epoch"]

NO_EPOCH = -1
"""A request's leader epoch field left unset (Kafka's -1, "not given")."""


class LatestEpochView(Protocol):
    @property
    def latest_epoch(self) -> int:
        """The latest leader epoch in the log's epoch cache, or -1 when it is empty."""
        ...


class ReplicaLogView(Protocol):
    """Read-only queries on one partition log (``broker.storage.log.Log``)."""

    @property
    def log_start_offset(self) -> int: ...

    @property
    def log_end_offset(self) -> int: ...

    @property
    def flushed_offset(self) -> int:
        """Everything below it is on disk (bounds the HW under the durable policy)."""
        ...

    @property
    def epoch_cache(self) -> LatestEpochView: ...

    def end_offset_for_epoch(self, leader_epoch: int) -> EpochEndOffset:
        """Kafka's OffsetsForLeaderEpoch answer from this log (see LeaderEpochCache)."""
        ...


def check_leader_epoch(requested_epoch: int, local_epoch: int) -> KafkaError:
    """Kafka's current-leader-epoch check for any request naming a partition:
    ``NO_EPOCH`` (not given) passes; an older epoch than ours is FENCED_LEADER_EPOCH
    (the sender's metadata is stale); a newer one is UNKNOWN_LEADER_EPOCH (ours is)."""
    if requested_epoch in (NO_EPOCH, local_epoch):
        return KafkaError.NONE
    if requested_epoch < local_epoch:
        return KafkaError.FENCED_LEADER_EPOCH
    return KafkaError.UNKNOWN_LEADER_EPOCH
