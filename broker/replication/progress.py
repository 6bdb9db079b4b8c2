"""``FollowerProgress``: what a leader knows of one follower (Kafka's ``Replica`` state).

Updated by each fetch the follower sends: its log end offset is the fetch offset (it has
everything below it), and its *last caught-up time* follows Kafka's rule: a fetch at
time t with offset o makes the follower caught up

- at t, when o >= the leader's log end offset now;
- at the time of its previous fetch, when o >= the leader's log end offset at that
  previous fetch (it had everything the leader had back then).

The follower is *in sync* at time now while its log end equals the leader's, or it was
caught up within ``replica_lag_time_max_ms`` of now; a follower that stays out of sync
is removed from the ISR. A new leader starts every follower with an unknown log end
(-1, which holds the high watermark back until it fetches), caught up "now" if it is in
the ISR and never (0) otherwise, exactly as Kafka's ``resetReplicaState``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["UNKNOWN_OFFSET", "FollowerProgress"]

UNKNOWN_OFFSET = -1


@dataclass(slots=True)
class FollowerProgress:
    """One follower, as seen by its leader. Mutable; owned by one LeaderReplicaState."""

    log_end_offset: int
    last_caught_up_ms: int
    last_fetch_leader_end_offset: int = UNKNOWN_OFFSET
    last_fetch_ms: int = 0

    @classmethod
    def for_new_leader(cls, now_ms: int, in_isr: bool) -> FollowerProgress:
        return cls(UNKNOWN_OFFSET, now_ms if in_isr else 0)

    def on_fetch(self, fetch_offset: int, leader_end_offset: int, now_ms: int) -> None:
        """Record a fetch from ``fetch_offset`` answered when the leader's log ended at
        ``leader_end_offset`` (Kafka's ``updateFetchStateOrThrow``)."""
        if fetch_offset >= leader_end_offset:
            self.last_caught_up_ms = max(self.last_caught_up_ms, now_ms)
        elif fetch_offset >= self.last_fetch_leader_end_offset:
            self.last_caught_up_ms = max(self.last_caught_up_ms, self.last_fetch_ms)
        self.log_end_offset = fetch_offset
        self.last_fetch_leader_end_offset = leader_end_offset
        self.last_fetch_ms = now_ms

    def is_caught_up(self, leader_end_offset: int, now_ms: int, lag_time_max_ms: int) -> bool:
        """In sync now (see the module docstring)."""
        return (
            self.log_end_offset == leader_end_offset
            or now_ms - self.last_caught_up_ms <= lag_time_max_ms
        )
