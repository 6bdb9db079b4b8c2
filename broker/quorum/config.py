"""Configuration of one RaftNode. All durations are in ticks (the caller's fixed cadence)."""

from __future__ import annotations

from dataclasses import dataclass

from broker.quorum.messages import MAX_NODE_ID, check_cluster_id

__all__ = ["RaftConfig"]


@dataclass(frozen=True, slots=True)
class RaftConfig:
    """Who is in the quorum and how patient each node is.

    ``voters`` is the static voter set (no dynamic membership); ``observers`` replicate
    the log without voting or counting towards a majority (more can join while the node
    runs: ``RaftNode.add_observer``). ``node_id`` must be in one of them. Each election
    timeout is drawn uniformly from
    ``election_timeout_min_ticks..election_timeout_max_ticks`` (inclusive) with the
    node's injected ``random.Random``; the leader lease and the check-quorum period are
    ``election_timeout_min_ticks``. ``max_entries_per_append`` bounds one AppendEntries.
    ``pre_vote`` and ``check_quorum`` exist to be turned off in tests that show why they
    are on.
    """

    cluster_id: str
    node_id: int
    voters: frozenset[int]
    observers: frozenset[int] = frozenset()
    election_timeout_min_ticks: int = 10
    election_timeout_max_ticks: int = 20
    heartbeat_interval_ticks: int = 2
    max_entries_per_append: int = 64
    pre_vote: bool = True
    check_quorum: bool = True

    def __post_init__(self) -> None:
        check_cluster_id(self.cluster_id)
        if not self.voters:
            raise ValueError("a quorum needs at least one voter")
        if self.voters & self.observers:
            raise ValueError(f"nodes {sorted(self.voters & self.observers)} are both kinds")
        for node in self.voters | self.observers:
            if not 0 <= node <= MAX_NODE_ID:
                raise ValueError(f"node id {node} is not in 0..{MAX_NODE_ID}")
        if self.node_id not in self.voters | self.observers:
            raise ValueError(f"node {self.node_id} is neither a voter nor an observer")
        if not 1 <= self.heartbeat_interval_ticks < self.election_timeout_min_ticks:
            raise ValueError("heartbeat interval must be >= 1 and below the election timeout")
        if self.election_timeout_max_ticks < self.election_timeout_min_ticks:
            raise ValueError("election timeout range is empty")
        if self.max_entries_per_append < 1:
            raise ValueError("max_entries_per_append must be >= 1")

    @property
    def quorum_size(self) -> int:
        return len(self.voters) // 2 + 1

    @property
    def is_voter(self) -> bool:
        return self.node_id in self.voters

    @property
    def members(self) -> frozenset[int]:
        return self.voters | self.observers

    @property
    def peers(self) -> frozenset[int]:
        """Every other member: whom a leader replicates to."""
        return self.members - {self.node_id}
