"""The group coordinator as a state machine: no sockets, time driven by hand."""

from __future__ import annotations

from broker.coordinator.coordinator import (
    CoordinatorConfig,
    GroupCoordinator,
    JoinRequest,
    OffsetCommitPlan,
)
from broker.coordinator.group import CommittedOffset, GroupState, JoinResult, SyncResult
from broker.error_codes import KafkaError

SESSION_MS = 10_000
REBALANCE_MS = 30_000


def join_request(
    member_id: str = "",
    client: str = "c",
    protocols: tuple[str, ...] = ("range",),
    instance: str | None = None,
) -> JoinRequest:
    return JoinRequest(
        group_id="g",
        member_id=member_id,
        group_instance_id=instance,
        client_id=client,
        client_host="127.0.0.1",
        session_timeout_ms=SESSION_MS,
        rebalance_timeout_ms=REBALANCE_MS,
        protocol_type="consumer",
        protocols=tuple((p, p.encode()) for p in protocols),
        require_known_member_id=True,
    )


def state_of(coordinator: GroupCoordinator, group_id: str = "g") -> GroupState:
    """The group's state now (a call, so that no earlier assertion narrows it)."""
    return coordinator.groups[group_id].state


class Recorder:
    def __init__(self) -> None:
        self.joins: list[JoinResult] = []
        self.syncs: list[SyncResult] = []

    def join(self, result: JoinResult) -> None:
        self.joins.append(result)

    def sync(self, result: SyncResult) -> None:
        self.syncs.append(result)


def new_member(coordinator: GroupCoordinator, now: int, client: str = "c") -> tuple[str, Recorder]:
    """Do the MEMBER_ID_REQUIRED round trip and send the real join; returns the id."""
    first = Recorder()
    coordinator.join(join_request(client=client), now, first.join)
    assert first.joins[0].error is KafkaError.MEMBER_ID_REQUIRED
    member_id = first.joins[0].member_id
    recorder = Recorder()
    coordinator.join(join_request(member_id, client=client), now, recorder.join)
    return member_id, recorder


def test_a_first_join_without_member_id_gets_member_id_required() -> None:
    coordinator = GroupCoordinator()
    recorder = Recorder()
    coordinator.join(join_request(), 0, recorder.join)
    assert recorder.joins[0].error is KafkaError.MEMBER_ID_REQUIRED
    assert recorder.joins[0].member_id.startswith("c-")


def test_members_joining_within_the_initial_delay_share_one_generation() -> None:
    coordinator = GroupCoordinator(CoordinatorConfig(initial_rebalance_delay_ms=500))
    a, ra = new_member(coordinator, 0, "a")
    b, rb = new_member(coordinator, 100, "b")
    assert ra.joins == [] and rb.joins == []
    coordinator.tick(499)
    assert ra.joins == []
    coordinator.tick(500)
    assert ra.joins[0].generation == rb.joins[0].generation == 1
    leader = ra.joins[0].leader
    assert leader == a
    assert {m for m, _, _ in ra.joins[0].members} == {a, b}
    assert rb.joins[0].members == ()
    assert coordinator.groups["g"].state is GroupState.COMPLETING_REBALANCE


def stable_group(coordinator: GroupCoordinator, now: int = 0) -> tuple[str, str]:
    a, ra = new_member(coordinator, now, "a")
    b, rb = new_member(coordinator, now, "b")
    coordinator.tick(now + 1_000)
    follower = Recorder()
    coordinator.sync("g", 1, b, {}, now + 1_000, follower.sync)
    assert follower.syncs == []
    leader = Recorder()
    coordinator.sync("g", 1, a, {a: b"to-a", b: b"to-b"}, now + 1_000, leader.sync)
    assert leader.syncs[0].assignment == b"to-a"
    assert follower.syncs[0].assignment == b"to-b"
    assert coordinator.groups["g"].state is GroupState.STABLE
    return a, b


def test_the_leader_sync_distributes_assignments_and_stabilises_the_group() -> None:
    stable_group(GroupCoordinator())


def test_heartbeats_report_a_rebalance_and_errors_for_strangers() -> None:
    coordinator = GroupCoordinator()
    a, b = stable_group(coordinator)
    assert coordinator.heartbeat("g", 1, a, 2_000) is KafkaError.NONE
    assert coordinator.heartbeat("g", 0, a, 2_000) is KafkaError.ILLEGAL_GENERATION
    assert coordinator.heartbeat("g", 1, "stranger", 2_000) is KafkaError.UNKNOWN_MEMBER_ID
    _, rc = new_member(coordinator, 2_000, "c")
    assert coordinator.groups["g"].state is GroupState.PREPARING_REBALANCE
    assert coordinator.heartbeat("g", 1, a, 2_100) is KafkaError.REBALANCE_IN_PROGRESS


def test_a_rebalance_completes_as_soon_as_every_member_rejoined() -> None:
    coordinator = GroupCoordinator()
    a, b = stable_group(coordinator)
    c, rc = new_member(coordinator, 2_000, "c")
    ra, rb = Recorder(), Recorder()
    coordinator.join(join_request(a, "a"), 2_100, ra.join)
    assert rc.joins == []
    coordinator.join(join_request(b, "b"), 2_200, rb.join)
    assert [r.joins[0].generation for r in (ra, rb, rc)] == [2, 2, 2]
    assert ra.joins[0].leader == a


def test_a_member_that_does_not_rejoin_is_dropped_at_the_rebalance_timeout() -> None:
    coordinator = GroupCoordinator()
    a, b = stable_group(coordinator)
    ra = Recorder()
    coordinator.join(join_request(a, "a"), 2_000, ra.join)
    # b stays alive (it heartbeats) but never rejoins.
    for now in range(3_000, 2_000 + REBALANCE_MS, 3_000):
        assert coordinator.heartbeat("g", 1, b, now) is KafkaError.REBALANCE_IN_PROGRESS
        coordinator.tick(now)
    coordinator.tick(2_000 + REBALANCE_MS - 1)
    assert ra.joins == []
    coordinator.tick(2_000 + REBALANCE_MS)
    assert ra.joins[0].generation == 2
    assert set(coordinator.groups["g"].members) == {a}


def test_an_expired_session_removes_the_member_and_triggers_a_rebalance() -> None:
    coordinator = GroupCoordinator()
    a, b = stable_group(coordinator)
    coordinator.heartbeat("g", 1, a, 8_000)
    coordinator.tick(1_000 + SESSION_MS + 1)
    group = coordinator.groups["g"]
    assert set(group.members) == {a}
    assert group.state is GroupState.PREPARING_REBALANCE
    ra = Recorder()
    coordinator.join(join_request(a, "a"), 12_000, ra.join)
    assert ra.joins[0].error is KafkaError.NONE
    assert ra.joins[0].members[0][0] == a


def test_leaving_members_trigger_a_rebalance_and_the_last_one_empties_the_group() -> None:
    coordinator = GroupCoordinator()
    a, b = stable_group(coordinator)
    assert coordinator.leave("g", [(b, None)], 2_000) == [KafkaError.NONE]
    assert state_of(coordinator) is GroupState.PREPARING_REBALANCE
    assert coordinator.leave("g", [(a, None), ("nobody", None)], 2_100) == [
        KafkaError.NONE,
        KafkaError.UNKNOWN_MEMBER_ID,
    ]
    assert state_of(coordinator) is GroupState.EMPTY


def test_a_stable_follower_rejoining_unchanged_gets_the_current_generation_without_a_rebalance() -> (
    None
):
    coordinator = GroupCoordinator()
    a, b = stable_group(coordinator)
    rb = Recorder()
    coordinator.join(join_request(b, "b"), 3_000, rb.join)
    assert rb.joins[0].generation == 1
    assert coordinator.groups["g"].state is GroupState.STABLE


def test_incompatible_protocols_are_refused() -> None:
    coordinator = GroupCoordinator()
    stable_group(coordinator)
    recorder = Recorder()
    coordinator.join(join_request(protocols=("roundrobin",)), 3_000, recorder.join)
    assert recorder.joins[0].error is KafkaError.INCONSISTENT_GROUP_PROTOCOL


def test_commits_need_the_current_generation_but_empty_groups_accept_simple_commits() -> None:
    coordinator = GroupCoordinator()
    assert coordinator.validate_commit("fresh", -1, "", 0) is KafkaError.NONE
    a, _ = stable_group(coordinator)
    assert coordinator.validate_commit("g", 1, a, 2_000) is KafkaError.NONE
    assert coordinator.validate_commit("g", 0, a, 2_000) is KafkaError.ILLEGAL_GENERATION
    assert coordinator.validate_commit("g", -1, "", 2_000) is KafkaError.UNKNOWN_MEMBER_ID
    new_member(coordinator, 2_000, "c")
    # Members may still commit for their generation while a rebalance is prepared.
    assert coordinator.validate_commit("g", 1, a, 2_100) is KafkaError.NONE


def test_applied_offsets_are_visible_and_deleting_an_empty_group_forgets_them() -> None:
    coordinator = GroupCoordinator()
    coordinator.apply_offsets(OffsetCommitPlan("idle", (("t", 0, CommittedOffset(42)),)))
    assert coordinator.committed("idle")[("t", 0)].offset == 42
    assert coordinator.can_delete("idle") is KafkaError.NONE
    coordinator.apply_delete("idle")
    assert coordinator.committed("idle") == {}
    assert coordinator.can_delete("idle") is KafkaError.GROUP_ID_NOT_FOUND
    stable_group(coordinator)
    assert coordinator.can_delete("g") is KafkaError.NON_EMPTY_GROUP


def test_a_static_member_rejoining_under_a_new_id_fences_the_old_one() -> None:
    coordinator = GroupCoordinator()
    first = Recorder()
    coordinator.join(join_request(instance="host-1"), 0, first.join)
    coordinator.tick(1_000)
    old_id = first.joins[0].member_id
    assert first.joins[0].error is KafkaError.NONE
    second = Recorder()
    coordinator.join(join_request(instance="host-1"), 2_000, second.join)
    group = coordinator.groups["g"]
    assert old_id not in group.members
    assert group.static_members["host-1"] != old_id
