"""Role changes from metadata deltas: what ``plan_role_changes`` plans for one broker,
and what ``LocalReplicas`` does with each transition (states, HWs, waiters, log
actions). Images come from the real controller."""

from __future__ import annotations

import uuid

import pytest

from broker.error_codes import KafkaError
from broker.metadata.delta import delta
from broker.metadata.image import MetadataImage, TopicPartitionRef
from broker.metadata.replies import IsrChange, NewTopic
from broker.replication import (
    AssignLeaderEpoch,
    BecomeFollower,
    BecomeLeader,
    DeleteLog,
    FollowerReplicaState,
    LeaderConfig,
    LeaderReplicaState,
    LocalReplicas,
    StopReplica,
    UpdateLeaderIsr,
    WaiterOutcome,
    plan_role_changes,
)
from tests.broker.metadata.harness import ControllerHarness
from tests.broker.replication.fakes import FakeLogs

CONFIG = LeaderConfig(min_insync_replicas=1)


@pytest.fixture
def cluster() -> ControllerHarness:
    harness = ControllerHarness()
    harness.start_brokers(1, 2, 3)
    return harness


def topic(
    cluster: ControllerHarness, name: str = "t", replicas: tuple[int, ...] = (1, 2, 3)
) -> uuid.UUID:
    """One partition on ``replicas``, the first leading."""
    (reply,) = cluster.run(
        cluster.controller.create_topics([NewTopic(name, assignments={0: replicas})])
    )
    assert reply.topic_id is not None, reply
    return reply.topic_id


def ref(cluster: ControllerHarness, name: str = "t") -> TopicPartitionRef:
    return TopicPartitionRef(name, cluster.image.topic_ids[name], 0)


def test_a_new_partition_is_led_by_its_leader_and_followed_by_the_others(
    cluster: ControllerHarness,
) -> None:
    before = cluster.image
    topic(cluster)
    partition = cluster.image.partition("t", 0)
    assert partition is not None and partition.leader == 1
    plans = {n: plan_role_changes(delta(before, cluster.image, n), {}) for n in (1, 2, 3)}
    assert plans[1] == (BecomeLeader(ref(cluster), 0, 0, (1, 2, 3), (1, 2, 3)),)
    assert plans[2] == (BecomeFollower(ref(cluster), 1, 0, (1, 2, 3)),)
    assert plans[3] == (BecomeFollower(ref(cluster), 1, 0, (1, 2, 3)),)


def shrink_to_leader(cluster: ControllerHarness, topic_id: uuid.UUID) -> None:
    reply = cluster.run(
        cluster.controller.alter_partition(
            1, cluster.epochs[1], [IsrChange(topic_id, 0, 0, 0, (1,))]
        )
    )
    assert reply.partitions[0].error == 0


@pytest.mark.parametrize(
    ("led_here", "expected"),
    [({("t", 0): 0}, "update"), ({}, "become")],
    ids=["a leadership held here: update its ISR", "none held (a restart): become leader"],
)
def test_an_isr_change_updates_the_leadership_held_here(
    cluster: ControllerHarness, led_here: dict[tuple[str, int], int], expected: str
) -> None:
    topic_id = topic(cluster)
    before = cluster.image
    shrink_to_leader(cluster, topic_id)
    (plan,) = plan_role_changes(delta(before, cluster.image, 1), led_here)
    if expected == "update":
        assert plan == UpdateLeaderIsr(ref(cluster), 0, 1, (1,))
    else:
        assert plan == BecomeLeader(ref(cluster), 0, 1, (1, 2, 3), (1,))
    assert plan_role_changes(delta(before, cluster.image, 2), {}) == ()


def test_a_moved_leadership_makes_the_old_leader_follow_the_new_one(
    cluster: ControllerHarness,
) -> None:
    topic(cluster)
    before = cluster.image
    cluster.run(cluster.controller.controlled_shutdown(1, cluster.epochs[1], cluster.now_ms))
    partition = cluster.image.partition("t", 0)
    assert partition is not None and partition.leader == 2
    assert plan_role_changes(delta(before, cluster.image, 1), {("t", 0): 0}) == (
        BecomeFollower(ref(cluster), 2, 1, (1, 2, 3)),
    )
    assert plan_role_changes(delta(before, cluster.image, 2), {}) == (
        BecomeLeader(ref(cluster), 1, 1, (1, 2, 3), (2, 3)),
    )


def test_an_offline_partition_is_followed_with_no_leader(cluster: ControllerHarness) -> None:
    topic_id = topic(cluster)
    shrink_to_leader(cluster, topic_id)
    before = cluster.image
    cluster.run(cluster.controller.broker_disconnected(1))
    partition = cluster.image.partition("t", 0)
    assert partition is not None and partition.leader == -1
    (plan,) = plan_role_changes(delta(before, cluster.image, 2), {})
    assert plan == BecomeFollower(ref(cluster), -1, 1, (1, 2, 3))


def test_stops_come_first_then_leaders_then_followers(cluster: ControllerHarness) -> None:
    topic(cluster, "a")
    topic(cluster, "b", (2, 1, 3))
    doomed = ref(cluster, "a")
    before = cluster.image
    cluster.run(cluster.controller.delete_topics(["a"]))
    topic(cluster, "d", (3, 1, 2))
    topic(cluster, "c", (1, 2, 3))
    plan = plan_role_changes(delta(before, cluster.image, 1), {})
    assert [type(t) for t in plan] == [StopReplica, BecomeLeader, BecomeFollower]
    assert plan[0] == StopReplica(doomed, delete=True)
    assert [t.ref.topic for t in plan] == ["a", "c", "d"]


# -- applying transitions -------------------------------------------------------------


def image_ref() -> TopicPartitionRef:
    return TopicPartitionRef("t", uuid.UUID(int=1), 0)


def become_leader(epoch: int, isr: tuple[int, ...] = (1, 2)) -> BecomeLeader:
    return BecomeLeader(image_ref(), epoch, epoch, (1, 2), isr)


def test_a_follower_becoming_leader_keeps_its_hw_and_assigns_the_epoch(
    make_log: FakeLogs,
) -> None:
    log = make_log([(3, 0)], end=80)
    replicas = LocalReplicas(1)
    replicas.apply(BecomeFollower(image_ref(), 2, 3, (1, 2)), log, 0, CONFIG, checkpoint_hw=60)
    assert replicas.high_watermark(("t", 0), log) == 60
    outcome = replicas.apply(become_leader(4), log, 0, CONFIG, checkpoint_hw=0)
    assert outcome.log_actions == (AssignLeaderEpoch(4),)
    leader = replicas.leader(("t", 0))
    assert leader is not None and leader.high_watermark == 60
    assert (leader.leader_epoch, leader.epoch_start_offset) == (4, 80)
    assert replicas.led_epochs() == {("t", 0): 4}


def test_a_partition_without_state_starts_from_the_checkpointed_hw(make_log: FakeLogs) -> None:
    log = make_log([(3, 0)], end=80)
    replicas = LocalReplicas(2)
    replicas.apply(BecomeFollower(image_ref(), 1, 3, (1, 2)), log, 0, CONFIG, checkpoint_hw=70)
    follower = replicas.follower(("t", 0))
    assert isinstance(follower, FollowerReplicaState)
    assert follower.high_watermark(log) == 70


@pytest.mark.parametrize(
    ("checkpoint_hw", "hw"), [(90, 80), (3, 10)], ids=["above the log end", "below the log start"]
)
def test_a_checkpointed_hw_outside_the_log_is_brought_within_it(
    make_log: FakeLogs, checkpoint_hw: int, hw: int
) -> None:
    log = make_log([(3, 10)], end=80, start=10)
    replicas = LocalReplicas(2)
    replicas.apply(BecomeFollower(image_ref(), 1, 3, (1, 2)), log, 0, CONFIG, checkpoint_hw)
    assert replicas.high_watermark(("t", 0), log) == hw


def waiting_leader(replicas: LocalReplicas, log_end: int, make_log: FakeLogs) -> int:
    log = make_log([(3, 0)], end=log_end)
    replicas.apply(become_leader(3), log, 0, CONFIG)
    leader = replicas.leader(("t", 0))
    assert leader is not None
    waiter, done = leader.register_acks_all(log_end + 1, 10_000, 0)
    assert done == ()
    return waiter


def test_losing_the_leadership_fails_waiting_producers(make_log: FakeLogs) -> None:
    replicas = LocalReplicas(1)
    waiter = waiting_leader(replicas, 50, make_log)
    outcome = replicas.apply(
        BecomeFollower(image_ref(), 2, 4, (1, 2)), make_log([(3, 0)], end=50), 0, CONFIG
    )
    assert outcome.completed == (WaiterOutcome(waiter, KafkaError.NOT_LEADER_OR_FOLLOWER),)
    assert replicas.leader(("t", 0)) is None


def test_re_election_in_a_newer_epoch_keeps_waiting_producers(make_log: FakeLogs) -> None:
    replicas = LocalReplicas(1)
    waiting_leader(replicas, 50, make_log)
    outcome = replicas.apply(become_leader(4), make_log([(3, 0)], end=50), 0, CONFIG)
    assert outcome.completed == ()
    leader = replicas.leader(("t", 0))
    assert isinstance(leader, LeaderReplicaState) and len(leader.waiters) == 1


def test_stopping_a_replica_deletes_its_log_and_fails_its_waiters(make_log: FakeLogs) -> None:
    replicas = LocalReplicas(1)
    waiter = waiting_leader(replicas, 50, make_log)
    outcome = replicas.apply(StopReplica(image_ref(), delete=True), None, 0, CONFIG)
    assert outcome.log_actions == (DeleteLog(),)
    assert outcome.completed == (WaiterOutcome(waiter, KafkaError.NOT_LEADER_OR_FOLLOWER),)
    assert replicas.states == {}


def test_an_isr_update_reaches_the_leader_state(make_log: FakeLogs) -> None:
    replicas = LocalReplicas(1)
    log = make_log([(3, 0)], end=50)
    replicas.apply(become_leader(3), log, 0, CONFIG)
    outcome = replicas.apply(UpdateLeaderIsr(image_ref(), 3, 9, (1,)), log, 0, CONFIG)
    assert outcome.update is not None and outcome.update.high_watermark == 50
    leader = replicas.leader(("t", 0))
    assert leader is not None and (leader.isr, leader.partition_epoch) == ((1,), 9)


def test_an_isr_update_for_a_leadership_not_held_is_a_programming_error(
    make_log: FakeLogs,
) -> None:
    with pytest.raises(ValueError, match="no leadership of epoch 3"):
        LocalReplicas(1).apply(
            UpdateLeaderIsr(image_ref(), 3, 9, (1,)), make_log([], end=0), 0, CONFIG
        )


def test_the_empty_image_plans_nothing() -> None:
    empty = MetadataImage.empty("c")
    assert plan_role_changes(delta(empty, empty, 1), {}) == ()
