"""Membership rules beyond the basics, as Kafka has them: a member that is not waiting
for a JoinGroup or SyncGroup answer must keep heartbeating in every group state, and a
static member restarting in a Stable group takes its old place without a rebalance."""

from __future__ import annotations

from broker.coordinator.coordinator import GroupCoordinator
from broker.coordinator.group import GroupState
from broker.error_codes import KafkaError
from tests.broker.coordinator.test_coordinator import (
    REBALANCE_MS,
    SESSION_MS,
    Recorder,
    join_request,
    new_member,
    stable_group,
)


def test_a_dead_member_that_never_rejoins_is_dropped_at_its_session_timeout() -> None:
    coordinator = GroupCoordinator()
    a, b = stable_group(coordinator)  # b's last sign of life: its sync at 1 000 ms
    c, rc = new_member(coordinator, 2_000, "c")
    ra = Recorder()
    coordinator.join(join_request(a, "a"), 2_100, ra.join)
    coordinator.tick(1_000 + SESSION_MS)
    assert ra.joins == []
    coordinator.tick(1_000 + SESSION_MS + 1)
    assert 1_000 + SESSION_MS + 1 < 2_000 + REBALANCE_MS
    assert set(coordinator.groups["g"].members) == {a, c}
    assert ra.joins[0].generation == rc.joins[0].generation == 2
    assert coordinator.groups["g"].state is GroupState.COMPLETING_REBALANCE


def test_members_waiting_for_the_join_answer_are_not_expired_and_get_a_fresh_session() -> None:
    coordinator = GroupCoordinator()
    a, b = stable_group(coordinator)
    ra = Recorder()
    coordinator.join(join_request(a, "a"), 2_000, ra.join)
    # b heartbeats but rejoins only near the rebalance timeout; a waits all along.
    now = 2_000
    while now + 3_000 < 2_000 + REBALANCE_MS:
        now += 3_000
        coordinator.heartbeat("g", 1, b, now)
        coordinator.tick(now)
    assert now - 2_000 > SESSION_MS
    assert ra.joins == []
    rb = Recorder()
    coordinator.join(join_request(b, "b"), now, rb.join)
    assert ra.joins[0].error is KafkaError.NONE
    coordinator.tick(now + SESSION_MS)
    assert set(coordinator.groups["g"].members) == {a, b}


def test_a_member_waiting_for_the_leaders_assignment_is_not_expired() -> None:
    coordinator = GroupCoordinator()
    a, ra = new_member(coordinator, 0, "a")
    b, rb = new_member(coordinator, 0, "b")
    coordinator.tick(1_000)
    follower = Recorder()
    coordinator.sync("g", 1, b, {}, 1_000, follower.sync)
    coordinator.heartbeat("g", 1, a, 1_000 + SESSION_MS)
    coordinator.tick(1_000 + SESSION_MS + 1)
    assert set(coordinator.groups["g"].members) == {a, b}
    assert coordinator.groups["g"].state is GroupState.COMPLETING_REBALANCE


def test_a_member_that_never_syncs_is_expired_and_the_group_rebalances() -> None:
    coordinator = GroupCoordinator()
    a, ra = new_member(coordinator, 0, "a")
    b, rb = new_member(coordinator, 0, "b")
    coordinator.tick(1_000)
    follower = Recorder()
    coordinator.sync("g", 1, b, {}, 1_000, follower.sync)
    # The leader a received its join answer and died before sending SyncGroup.
    coordinator.tick(1_000 + SESSION_MS + 1)
    assert set(coordinator.groups["g"].members) == {b}
    assert follower.syncs[0].error is KafkaError.REBALANCE_IN_PROGRESS
    assert coordinator.groups["g"].state is GroupState.PREPARING_REBALANCE


def stable_static_group(coordinator: GroupCoordinator) -> tuple[str, str, Recorder]:
    """Members a (instance host-a) and b (host-b), Stable in generation 1."""
    ids = []
    for instance in ("host-a", "host-b"):
        recorder = Recorder()
        coordinator.join(join_request(client=instance, instance=instance), 0, recorder.join)
        ids.append(recorder)
    coordinator.tick(1_000)
    a, b = (r.joins[0].member_id for r in ids)
    follower, leader = Recorder(), Recorder()
    coordinator.sync("g", 1, b, {}, 1_000, follower.sync)
    coordinator.sync("g", 1, a, {a: b"to-a", b: b"to-b"}, 1_000, leader.sync)
    assert coordinator.groups["g"].state is GroupState.STABLE
    return a, b, follower


def test_a_static_member_restarting_in_a_stable_group_gets_its_assignment_back_without_a_rebalance() -> (
    None
):
    coordinator = GroupCoordinator()
    a, b, _ = stable_static_group(coordinator)
    group = coordinator.groups["g"]
    rebalances = group.rebalances_total
    restarted = Recorder()
    coordinator.join(join_request(client="host-b", instance="host-b"), 3_000, restarted.join)
    (answer,) = restarted.joins
    assert answer.error is KafkaError.NONE
    assert answer.generation == 1
    new_b = answer.member_id
    assert new_b != b and set(group.members) == {a, new_b}
    assert group.state is GroupState.STABLE and group.rebalances_total == rebalances
    synced = Recorder()
    coordinator.sync("g", 1, new_b, {}, 3_100, synced.sync)
    assert synced.syncs[0].assignment == b"to-b"
    # The old incarnation is fenced; the other member never noticed.
    assert coordinator.heartbeat("g", 1, b, 3_200) is KafkaError.UNKNOWN_MEMBER_ID
    assert coordinator.heartbeat("g", 1, a, 3_200) is KafkaError.NONE


def test_a_static_member_restarting_with_other_protocols_triggers_a_rebalance() -> None:
    coordinator = GroupCoordinator()
    a, b, _ = stable_static_group(coordinator)
    restarted = Recorder()
    request = join_request(client="host-b", protocols=("roundrobin", "range"), instance="host-b")
    coordinator.join(request, 3_000, restarted.join)
    assert restarted.joins == []
    assert coordinator.groups["g"].state is GroupState.PREPARING_REBALANCE
