"""Configuration and counters of the quorum transport (``quorum_transport``)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from broker.network.quorum_frames import DEFAULT_MAX_FRAME_BYTES, MAX_HELLO_BYTES, MAX_VOTERS
from broker.quorum.messages import MAX_NODE_ID, Message, check_cluster_id
from contracts.fields import HostPort

__all__ = ["QuorumTransportConfig", "QuorumTransportStats"]


@dataclass(frozen=True, slots=True)
class QuorumTransportConfig:
    """``voters``: every voter's quorum address (this node's too if it is one).
    ``listen``: where this voter listens (default: its entry in ``voters``; port 0 picks
    a free port); a node that is not a voter has no listener. ``raft_observers``: the
    non-voters allowed to exchange Raft messages (None: any node that passed the Hello).
    ``max_frame_bytes`` bounds a frame's length field (default: the largest Raft frame,
    hence snapshot, the quorum codec accepts)."""

    node_id: int
    cluster_id: str
    voters: Mapping[int, HostPort]
    listen: HostPort | None = None
    raft_observers: frozenset[int] | None = None
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    max_queued_bytes_per_peer: int = 16 * 1024 * 1024
    max_inflight_requests: int = 64
    connect_timeout_s: float = 5.0
    handshake_timeout_s: float = 5.0
    reconnect_backoff_min_s: float = 0.05
    reconnect_backoff_max_s: float = 2.0
    log_interval_s: float = 10.0

    def __post_init__(self) -> None:
        check_cluster_id(self.cluster_id)
        for node in (self.node_id, *self.voters):
            if not 0 <= node <= MAX_NODE_ID:
                raise ValueError(f"node id {node} is not in 0..{MAX_NODE_ID}")
        if not 1 <= len(self.voters) <= MAX_VOTERS:
            raise ValueError(f"a quorum needs 1..{MAX_VOTERS} voters, got {len(self.voters)}")
        if self.listen is not None and not self.is_voter:
            raise ValueError(f"node {self.node_id} has a controller listener but is no voter")
        if self.max_frame_bytes < MAX_HELLO_BYTES:
            raise ValueError(f"max_frame_bytes must be at least {MAX_HELLO_BYTES}")
        if min(self.max_queued_bytes_per_peer, self.max_inflight_requests) < 1:
            raise ValueError("queue and in-flight bounds must be positive")
        if not 0 < self.reconnect_backoff_min_s <= self.reconnect_backoff_max_s:
            raise ValueError("reconnect backoff must satisfy 0 < min <= max")

    @property
    def is_voter(self) -> bool:
        return self.node_id in self.voters

    @property
    def listen_address(self) -> HostPort | None:
        if not self.is_voter:
            return None
        return self.listen or self.voters[self.node_id]

    def reconnect_delay_s(self, failures: int, rng: random.Random) -> float:
        """How long to wait before dialling again after ``failures`` (>= 1) failed
        attempts in a row (a lost connection counts as one): the ceiling doubles from
        ``reconnect_backoff_min_s`` up to ``reconnect_backoff_max_s``, and the delay is
        drawn uniformly from its upper half, so restarted nodes do not dial in step."""
        ceiling = min(
            self.reconnect_backoff_max_s,
            self.reconnect_backoff_min_s * 2 ** min(max(failures, 1) - 1, 30),
        )
        return rng.uniform(ceiling / 2, ceiling)

    def raft_refusal(self, message: Message, peer_node_id: int) -> tuple[str, str] | None:
        """(reason, one-line message) when this node refuses a Raft message that came
        from ``peer_node_id`` (named by the connection's Hello); None when it takes it."""
        sender = message.sender
        if message.cluster_id != self.cluster_id:
            return "cluster_id", f"a Raft message for cluster {message.cluster_id!r}"
        if sender != peer_node_id:
            return "sender_mismatch", f"a Raft message from node {sender} on this connection"
        if message.receiver != self.node_id:
            return "wrong_receiver", f"a Raft message for node {message.receiver}"
        observers = self.raft_observers
        if sender not in self.voters and observers is not None and sender not in observers:
            return "unknown_raft_member", f"node {sender} is neither a voter nor an observer"
        return None


@dataclass(slots=True)
class QuorumTransportStats:
    """Counters since the transport was created. Keys of the per-kind counters are
    ``hello``, ``raft``, ``rpc_request`` and ``rpc_response``; bytes include headers."""

    frames_in: Counter[str] = field(default_factory=Counter)
    bytes_in: Counter[str] = field(default_factory=Counter)
    frames_out: Counter[str] = field(default_factory=Counter)
    bytes_out: Counter[str] = field(default_factory=Counter)
    refused_connections: Counter[str] = field(default_factory=Counter)
    refused_messages: Counter[str] = field(default_factory=Counter)
    dropped_messages: Counter[str] = field(default_factory=Counter)
    connection_attempts: int = 0
    reconnects: int = 0  # outbound links re-established after one to that voter was lost
