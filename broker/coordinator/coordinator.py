"""GroupCoordinator: Kafka's classic consumer-group protocol as a state machine.

Sans-I/O: every method takes the current time, and JoinGroup/SyncGroup answers go
through a ``respond`` callback, called at once or later when the rebalance moves on
(``tick`` drives timeouts). Nothing here knows sockets, asyncio or files: committed
offsets are validated here (``validate_commit``), persisted by an OffsetsPartition, and
applied with ``apply_offsets`` - the same call that replays them when this node becomes
the leader of their offsets partition, so recovery is the normal code path. It holds the
groups of every offsets partition led here; GroupService decides which groups those
are and ``unload``s the groups of a partition it resigns.

Rules, as Kafka: JoinGroup v4+ without a member id gets MEMBER_ID_REQUIRED and a fresh
id; a rebalance completes when every member has rejoined or the rebalance timeout
passes (members that did not rejoin are dropped); the leader gets every member's
metadata and sends the assignments in SyncGroup; heartbeats during a rebalance get
REBALANCE_IN_PROGRESS; members whose session expires are removed and trigger a
rebalance - also during a rebalance, unless they are waiting for their JoinGroup or
SyncGroup answer (a dead member that never rejoins is dropped at its session timeout,
not at the longer rebalance timeout), and every member's session restarts when the
join phase completes; a static member (group instance id) that restarts while its
group is Stable gets its old assignment back without a rebalance and fences its old
member id; offsets may be committed by members of the current generation (also while
a rebalance is being prepared, so consumers can commit on revocation) or, for groups
without members, by anyone with generation -1.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from broker.coordinator.group import (
    CommittedOffset,
    ConsumerGroup,
    GroupState,
    JoinResult,
    Member,
    SyncResult,
)
from broker.error_codes import KafkaError

__all__ = ["CoordinatorConfig", "GroupCoordinator", "JoinRequest", "OffsetCommitPlan"]


@dataclass(frozen=True, slots=True)
class CoordinatorConfig:
    min_session_timeout_ms: int = 6_000
    max_session_timeout_ms: int = 1_800_000
    initial_rebalance_delay_ms: int = 500
    max_groups: int = 100_000


@dataclass(frozen=True, slots=True)
class JoinRequest:
    group_id: str
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocol_type: str
    protocols: tuple[tuple[str, bytes], ...]
    require_known_member_id: bool


@dataclass(frozen=True, slots=True)
class OffsetCommitPlan:
    """Offsets a commit will store, once persisted."""

    group_id: str
    offsets: tuple[tuple[str, int, CommittedOffset], ...]


class GroupCoordinator:
    def __init__(self, config: CoordinatorConfig | None = None) -> None:
        self.config = config or CoordinatorConfig()
        self.groups: dict[str, ConsumerGroup] = {}
        # Observers told when a group's offsets change or the group is deleted (lag
        # tracking); both also fire while the offsets log is replayed at start.
        self.on_commit: list[Callable[[str, str, int, CommittedOffset], None]] = []
        self.on_delete: list[Callable[[str], None]] = []
        # Observers told when a group is unloaded (its offsets partition is no longer
        # led here): its records stay, another node coordinates it now.
        self.on_unload: list[Callable[[str], None]] = []

    # -- join ------------------------------------------------------------------------

    def join(self, req: JoinRequest, now_ms: int, respond: Callable[[JoinResult], None]) -> None:
        cfg = self.config
        if not cfg.min_session_timeout_ms <= req.session_timeout_ms <= cfg.max_session_timeout_ms:
            respond(JoinResult(KafkaError.INVALID_SESSION_TIMEOUT, member_id=req.member_id))
            return
        group = self.groups.get(req.group_id)
        if group is None or group.state is GroupState.DEAD:
            if req.member_id:
                respond(JoinResult(KafkaError.UNKNOWN_MEMBER_ID, member_id=req.member_id))
                return
            group = self.groups[req.group_id] = ConsumerGroup(req.group_id)
        names = tuple(name for name, _ in req.protocols)
        if (group.members and req.protocol_type != group.protocol_type) or not group.supports(
            names, req.member_id
        ):
            respond(JoinResult(KafkaError.INCONSISTENT_GROUP_PROTOCOL, member_id=req.member_id))
            return
        member_id = req.member_id
        if not member_id:
            member_id = f"{req.client_id or 'member'}-{uuid.uuid4()}"
            if req.group_instance_id is not None:
                if self._rejoin_static(group, req, member_id, now_ms, respond):
                    return
                self._replace_static(group, req.group_instance_id, member_id)
            elif req.require_known_member_id:
                group.pending_members[member_id] = now_ms + req.session_timeout_ms
                respond(JoinResult(KafkaError.MEMBER_ID_REQUIRED, member_id=member_id))
                return
        elif member_id in group.pending_members:
            del group.pending_members[member_id]
        elif member_id not in group.members:
            respond(JoinResult(KafkaError.UNKNOWN_MEMBER_ID, member_id=member_id))
            return
        existing = group.members.get(member_id)
        if (
            existing is not None
            and group.state is GroupState.STABLE
            and member_id != group.leader_id
            and existing.protocols == req.protocols
        ):
            existing.last_heartbeat_ms = now_ms
            respond(self._join_result(group, member_id))
            return
        member = Member(
            member_id=member_id,
            group_instance_id=req.group_instance_id,
            client_id=req.client_id,
            client_host=req.client_host,
            session_timeout_ms=req.session_timeout_ms,
            rebalance_timeout_ms=req.rebalance_timeout_ms,
            protocol_type=req.protocol_type,
            protocols=req.protocols,
            last_heartbeat_ms=now_ms,
            assignment=existing.assignment if existing is not None else b"",
            join_waiter=respond,
        )
        if existing is not None and existing.join_waiter is not None:
            existing.join_waiter(JoinResult(KafkaError.UNKNOWN_MEMBER_ID, member_id=member_id))
        group.members[member_id] = member
        if req.group_instance_id is not None:
            group.static_members[req.group_instance_id] = member_id
        group.protocol_type = req.protocol_type
        if group.state is not GroupState.PREPARING_REBALANCE:
            self._prepare_rebalance(group, now_ms)
        self._maybe_complete_join(group, now_ms)

    def _rejoin_static(
        self,
        group: ConsumerGroup,
        req: JoinRequest,
        new_id: str,
        now_ms: int,
        respond: Callable[[JoinResult], None],
    ) -> bool:
        """A known static member restarting while its group is Stable, with the same
        protocols, takes its old place and assignment under a new member id without a
        rebalance (KIP-345: the point of static membership). False when it does not
        apply and the join goes the usual way."""
        assert req.group_instance_id is not None
        old_id = group.static_members.get(req.group_instance_id)
        old = group.members.get(old_id) if old_id is not None else None
        if old is None or group.state is not GroupState.STABLE or old.protocols != req.protocols:
            return False
        self._replace_static(group, req.group_instance_id, new_id)
        group.members[new_id] = Member(
            member_id=new_id,
            group_instance_id=req.group_instance_id,
            client_id=req.client_id,
            client_host=req.client_host,
            session_timeout_ms=req.session_timeout_ms,
            rebalance_timeout_ms=req.rebalance_timeout_ms,
            protocol_type=req.protocol_type,
            protocols=req.protocols,
            last_heartbeat_ms=now_ms,
            assignment=old.assignment,
        )
        group.static_members[req.group_instance_id] = new_id
        respond(self._join_result(group, new_id))
        return True

    def _replace_static(self, group: ConsumerGroup, instance_id: str, new_id: str) -> None:
        old_id = group.static_members.get(instance_id)
        old = group.members.pop(old_id, None) if old_id is not None else None
        if old is not None:
            if old.join_waiter is not None:
                old.join_waiter(JoinResult(KafkaError.FENCED_INSTANCE_ID, member_id=old.member_id))
            if old.sync_waiter is not None:
                old.sync_waiter(SyncResult(KafkaError.FENCED_INSTANCE_ID))
            if group.leader_id == old.member_id:
                group.leader_id = new_id

    def _join_result(self, group: ConsumerGroup, member_id: str) -> JoinResult:
        members: tuple[tuple[str, str | None, bytes], ...] = ()
        if member_id == group.leader_id and group.protocol_name is not None:
            members = tuple(
                (m.member_id, m.group_instance_id, m.metadata_for(group.protocol_name))
                for m in group.members.values()
            )
        return JoinResult(
            KafkaError.NONE,
            generation=group.generation,
            protocol_type=group.protocol_type,
            protocol_name=group.protocol_name,
            leader=group.leader_id or "",
            member_id=member_id,
            members=members,
        )

    def _prepare_rebalance(self, group: ConsumerGroup, now_ms: int) -> None:
        for member in group.members.values():
            if member.sync_waiter is not None:
                member.sync_waiter(SyncResult(KafkaError.REBALANCE_IN_PROGRESS))
                member.sync_waiter = None
        timeout = max((m.rebalance_timeout_ms for m in group.members.values()), default=0)
        # A new group waits out a short delay so consumers started together land in one
        # generation instead of one rebalance each (Kafka's initial rebalance delay).
        group.initial_delay = group.state is GroupState.EMPTY
        if group.initial_delay:
            timeout = min(timeout, self.config.initial_rebalance_delay_ms)
        group.state = GroupState.PREPARING_REBALANCE
        group.rebalance_deadline_ms = now_ms + timeout
        group.rebalances_total += 1

    def _maybe_complete_join(self, group: ConsumerGroup, now_ms: int) -> None:
        if group.state is not GroupState.PREPARING_REBALANCE:
            return
        if now_ms >= group.rebalance_deadline_ms or (
            not group.initial_delay and group.all_members_joined()
        ):
            self._complete_join(group, now_ms)

    def _complete_join(self, group: ConsumerGroup, now_ms: int) -> None:
        for member_id in [m for m, member in group.members.items() if member.join_waiter is None]:
            self._drop_member(group, member_id)
        group.pending_members.clear()
        group.generation += 1
        if not group.members:
            group.state = GroupState.EMPTY
            group.protocol_name = None
            group.leader_id = None
            return
        group.protocol_name = group.select_protocol()
        if group.leader_id not in group.members:
            group.leader_id = next(iter(group.members))
        group.state = GroupState.COMPLETING_REBALANCE
        for member in list(group.members.values()):
            # Members do not heartbeat while they wait for the join answer.
            member.last_heartbeat_ms = now_ms
            waiter, member.join_waiter = member.join_waiter, None
            if waiter is not None:
                waiter(self._join_result(group, member.member_id))

    def _drop_member(self, group: ConsumerGroup, member_id: str) -> None:
        member = group.members.pop(member_id, None)
        if member is None:
            return
        if member.group_instance_id is not None:
            group.static_members.pop(member.group_instance_id, None)
        if member.sync_waiter is not None:
            member.sync_waiter(SyncResult(KafkaError.UNKNOWN_MEMBER_ID))
        if member.join_waiter is not None:
            member.join_waiter(JoinResult(KafkaError.UNKNOWN_MEMBER_ID, member_id=member_id))
        if group.leader_id == member_id:
            group.leader_id = next(iter(group.members), None)

    # -- sync ------------------------------------------------------------------------

    def sync(
        self,
        group_id: str,
        generation: int,
        member_id: str,
        assignments: dict[str, bytes],
        now_ms: int,
        respond: Callable[[SyncResult], None],
    ) -> None:
        group = self.groups.get(group_id)
        member = group.members.get(member_id) if group is not None else None
        if group is None or member is None:
            respond(SyncResult(KafkaError.UNKNOWN_MEMBER_ID))
            return
        if generation != group.generation:
            respond(SyncResult(KafkaError.ILLEGAL_GENERATION))
            return
        if group.state is GroupState.PREPARING_REBALANCE:
            respond(SyncResult(KafkaError.REBALANCE_IN_PROGRESS))
            return
        member.last_heartbeat_ms = now_ms
        if group.state is GroupState.STABLE:
            respond(self._sync_result(group, member))
            return
        if group.state is not GroupState.COMPLETING_REBALANCE:
            respond(SyncResult(KafkaError.UNKNOWN_MEMBER_ID))
            return
        member.sync_waiter = respond
        if member_id == group.leader_id:
            for m in group.members.values():
                m.assignment = assignments.get(m.member_id, b"")
            group.state = GroupState.STABLE
            for m in group.members.values():
                waiter, m.sync_waiter = m.sync_waiter, None
                if waiter is not None:
                    waiter(self._sync_result(group, m))

    @staticmethod
    def _sync_result(group: ConsumerGroup, member: Member) -> SyncResult:
        return SyncResult(
            KafkaError.NONE, member.assignment, group.protocol_type, group.protocol_name
        )

    # -- heartbeat and leave -------------------------------------------------------------

    def heartbeat(self, group_id: str, generation: int, member_id: str, now_ms: int) -> KafkaError:
        group = self.groups.get(group_id)
        member = group.members.get(member_id) if group is not None else None
        if group is None or member is None:
            return KafkaError.UNKNOWN_MEMBER_ID
        if generation != group.generation:
            return KafkaError.ILLEGAL_GENERATION
        member.last_heartbeat_ms = now_ms
        if group.state is GroupState.PREPARING_REBALANCE:
            return KafkaError.REBALANCE_IN_PROGRESS
        return KafkaError.NONE

    def leave(
        self, group_id: str, members: Iterable[tuple[str, str | None]], now_ms: int
    ) -> list[KafkaError]:
        """Remove members (by member id, or by group instance id when it is empty)."""
        group = self.groups.get(group_id)
        results = []
        left = False
        for member_id, instance_id in members:
            if group is None:
                results.append(KafkaError.UNKNOWN_MEMBER_ID)
                continue
            if not member_id and instance_id is not None:
                member_id = group.static_members.get(instance_id, "")
            if member_id in group.members:
                self._drop_member(group, member_id)
                results.append(KafkaError.NONE)
                left = True
            elif member_id in group.pending_members:
                del group.pending_members[member_id]
                results.append(KafkaError.NONE)
            else:
                results.append(KafkaError.UNKNOWN_MEMBER_ID)
        if group is not None and left:
            self._after_departure(group, now_ms)
        return results

    def _after_departure(self, group: ConsumerGroup, now_ms: int) -> None:
        if not group.members:
            if group.state is GroupState.PREPARING_REBALANCE:
                self._complete_join(group, now_ms)
            group.state = GroupState.EMPTY
            group.leader_id = None
            group.protocol_name = None
            return
        if group.state is not GroupState.PREPARING_REBALANCE:
            self._prepare_rebalance(group, now_ms)
        self._maybe_complete_join(group, now_ms)

    # -- time --------------------------------------------------------------------------

    def tick(self, now_ms: int) -> None:
        """Expire sessions and pending member ids; complete rebalances past deadline."""
        for group in list(self.groups.values()):
            for member_id, deadline in list(group.pending_members.items()):
                if now_ms >= deadline:
                    del group.pending_members[member_id]
            # As Kafka: a member waiting for its JoinGroup or SyncGroup answer is alive;
            # any other must heartbeat, whatever the group's state.
            expired = [
                m.member_id
                for m in group.members.values()
                if m.join_waiter is None
                and m.sync_waiter is None
                and now_ms - m.last_heartbeat_ms > m.session_timeout_ms
            ]
            for member_id in expired:
                self._drop_member(group, member_id)
            if expired:
                self._after_departure(group, now_ms)
            elif group.state is GroupState.PREPARING_REBALANCE:
                self._maybe_complete_join(group, now_ms)

    # -- offsets -----------------------------------------------------------------------

    def validate_commit(
        self, group_id: str, generation: int, member_id: str, now_ms: int
    ) -> KafkaError:
        group = self.groups.get(group_id)
        if group is None or group.state is GroupState.DEAD:
            if generation < 0 and not member_id:
                return KafkaError.NONE
            return KafkaError.ILLEGAL_GENERATION if member_id else KafkaError.UNKNOWN_MEMBER_ID
        if generation < 0 and not member_id and not group.members:
            return KafkaError.NONE
        member = group.members.get(member_id)
        if member is None:
            return KafkaError.UNKNOWN_MEMBER_ID
        if generation != group.generation:
            return KafkaError.ILLEGAL_GENERATION
        if group.state is GroupState.COMPLETING_REBALANCE:
            return KafkaError.REBALANCE_IN_PROGRESS
        member.last_heartbeat_ms = now_ms
        return KafkaError.NONE

    def apply_offsets(self, plan: OffsetCommitPlan) -> None:
        """Record persisted offsets (also used when replaying the offsets log)."""
        group = self.groups.get(plan.group_id)
        if group is None or group.state is GroupState.DEAD:
            group = self.groups[plan.group_id] = ConsumerGroup(plan.group_id)
        for topic, partition, committed in plan.offsets:
            group.offsets[(topic, partition)] = committed
            for observer in self.on_commit:
                observer(plan.group_id, topic, partition, committed)

    def committed(self, group_id: str) -> dict[tuple[str, int], CommittedOffset]:
        group = self.groups.get(group_id)
        return dict(group.offsets) if group is not None else {}

    # -- admin -----------------------------------------------------------------------------

    def can_delete(self, group_id: str) -> KafkaError:
        group = self.groups.get(group_id)
        if group is None or group.state is GroupState.DEAD:
            return KafkaError.GROUP_ID_NOT_FOUND
        if group.members:
            return KafkaError.NON_EMPTY_GROUP
        return KafkaError.NONE

    def apply_delete(self, group_id: str) -> None:
        """Forget a group and its offsets (also used when replaying the offsets log)."""
        group = self.groups.pop(group_id, None)
        if group is not None:
            group.state = GroupState.DEAD
        for observer in self.on_delete:
            observer(group_id)

    def unload(self, group_id: str) -> None:
        """Forget a group that another node coordinates from now on (not a deletion:
        its records stay in the offsets log). Members waiting for a JoinGroup or
        SyncGroup answer get NOT_COORDINATOR, so their clients look for the new
        coordinator."""
        group = self.groups.pop(group_id, None)
        if group is None:
            return
        for member in group.members.values():
            join_waiter, member.join_waiter = member.join_waiter, None
            sync_waiter, member.sync_waiter = member.sync_waiter, None
            if join_waiter is not None:
                join_waiter(JoinResult(KafkaError.NOT_COORDINATOR, member_id=member.member_id))
            if sync_waiter is not None:
                sync_waiter(SyncResult(KafkaError.NOT_COORDINATOR))
        for observer in self.on_unload:
            observer(group_id)

    def listed(self) -> list[ConsumerGroup]:
        return sorted(self.groups.values(), key=lambda g: g.group_id)
