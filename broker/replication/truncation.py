"""Where a follower truncates its log, from its leader's OffsetsForLeaderEpoch answer
(Kafka's ``AbstractFetcherThread.getOffsetTruncationState``). Pure.

The follower asked "where does epoch E end in your log?" for E = its latest epoch (or
the leader volunteered a diverging epoch in a fetch response). With the leader's
answer (epoch L, end offset O) and the follower's own log:

1. O undefined (-1): the leader knows no epoch <= E; truncate to the follower's high
   watermark, its last known-committed offset.
2. L undefined (-1) but O defined (a leader without epochs): truncate to min(O, own log
   end).
3. The follower's own answer for L is (F, its end offset X):
   - F != L (the follower never had epoch L; it has an older one): truncate to
     min(X, own log end) and ask again with the follower's new latest epoch; not done.
   - F == L: truncate to min(X, O, own log end); done. This covers the follower ahead
     in the same epoch (the leader's epoch ends earlier) and the leader with fewer
     epochs (its epoch L ends where the follower's later epochs began).
4. The follower has no epoch <= L (its cache starts later): truncate to min(O, own
   log end).

A truncation offset at or above the log end changes nothing; below the log start the
log is emptied and restarted there (``TruncateTo`` in ``broker.replication.follower``).
"""

from __future__ import annotations

from dataclasses import dataclass

from broker.replication.log_view import ReplicaLogView
from broker.storage.epoch_cache import UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET, EpochEndOffset

__all__ = ["TruncationDecision", "truncation_for"]


@dataclass(frozen=True, slots=True)
class TruncationDecision:
    """Truncate the log to ``offset``; ``completed`` False: ask the leader again."""

    offset: int
    completed: bool
    rule: str


def truncation_for(
    leader_answer: EpochEndOffset, log: ReplicaLogView, high_watermark: int
) -> TruncationDecision:
    """The decision for ``leader_answer`` (see the module docstring)."""
    log_end = log.log_end_offset
    if leader_answer.end_offset == UNDEFINED_EPOCH_OFFSET:
        return TruncationDecision(
            min(high_watermark, log_end), True, "leader knows no such epoch: high watermark"
        )
    if leader_answer.leader_epoch == UNDEFINED_EPOCH:
        return TruncationDecision(
            min(leader_answer.end_offset, log_end), True, "leader without epochs: its offset"
        )
    own = log.end_offset_for_epoch(leader_answer.leader_epoch)
    if own.end_offset == UNDEFINED_EPOCH_OFFSET:
        return TruncationDecision(
            min(leader_answer.end_offset, log_end), True, "epoch below ours: leader's offset"
        )
    if own.leader_epoch != leader_answer.leader_epoch:
        return TruncationDecision(
            min(own.end_offset, log_end), False, "epoch unknown here: end of our older epoch"
        )
    return TruncationDecision(
        min(own.end_offset, leader_answer.end_offset, log_end), True, "common epoch end"
    )
