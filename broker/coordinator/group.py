"""The consumer-group model: states, members and committed offsets. Plain data.

States follow Kafka's classic protocol::

    Empty --join--> PreparingRebalance --all joined / timeout--> CompletingRebalance
    CompletingRebalance --leader's SyncGroup--> Stable --join/leave/expiry--> PreparingRebalance
    any --last member gone--> Empty;  DeleteGroups --> Dead

The rules that move between states live in ``coordinator``; this module only holds
what a group is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from broker.error_codes import KafkaError

__all__ = [
    "CommittedOffset",
    "ConsumerGroup",
    "GroupState",
    "JoinResult",
    "Member",
    "SyncResult",
]


class GroupState(StrEnum):
    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


@dataclass(frozen=True, slots=True)
class JoinResult:
    error: KafkaError
    generation: int = -1
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader: str = ""
    member_id: str = ""
    # (member id, group instance id, metadata) - only the leader receives members.
    members: tuple[tuple[str, str | None, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class SyncResult:
    error: KafkaError
    assignment: bytes = b""
    protocol_type: str | None = None
    protocol_name: str | None = None


@dataclass(frozen=True, slots=True)
class CommittedOffset:
    offset: int
    leader_epoch: int = -1
    metadata: str | None = ""
    commit_timestamp_ms: int = -1


@dataclass(slots=True)
class Member:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocol_type: str
    protocols: tuple[tuple[str, bytes], ...]
    last_heartbeat_ms: int
    assignment: bytes = b""
    join_waiter: Callable[[JoinResult], None] | None = None
    sync_waiter: Callable[[SyncResult], None] | None = None

    def metadata_for(self, protocol: str) -> bytes:
        for name, metadata in self.protocols:
            if name == protocol:
                return metadata
        return b""

    @property
    def protocol_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.protocols)


@dataclass(slots=True)
class ConsumerGroup:
    group_id: str
    state: GroupState = GroupState.EMPTY
    protocol_type: str = ""
    protocol_name: str | None = None
    generation: int = 0
    leader_id: str | None = None
    members: dict[str, Member] = field(default_factory=dict)
    # Member ids handed out with MEMBER_ID_REQUIRED, waiting for the second join.
    pending_members: dict[str, int] = field(default_factory=dict)
    static_members: dict[str, str] = field(default_factory=dict)
    rebalance_deadline_ms: int = 0
    initial_delay: bool = False
    rebalances_total: int = 0
    offsets: dict[tuple[str, int], CommittedOffset] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not self.members

    def all_members_joined(self) -> bool:
        return not self.pending_members and all(
            m.join_waiter is not None for m in self.members.values()
        )

    def select_protocol(self) -> str | None:
        """The protocol every member supports that gets the most first-choice votes."""
        members = list(self.members.values())
        if not members:
            return None
        common = set(members[0].protocol_names)
        for member in members[1:]:
            common &= set(member.protocol_names)
        if not common:
            return None
        votes: dict[str, int] = dict.fromkeys(common, 0)
        for member in members:
            for name in member.protocol_names:
                if name in common:
                    votes[name] += 1
                    break
        return max(sorted(votes), key=lambda name: votes[name])

    def supports(self, protocols: tuple[str, ...], member_id: str = "") -> bool:
        """Whether a (re)joining member's protocols intersect every other member's."""
        if not protocols:
            return False
        wanted = set(protocols)
        return all(
            wanted & set(m.protocol_names)
            for m in self.members.values()
            if m.member_id != member_id
        )
