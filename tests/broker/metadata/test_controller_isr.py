"""AlterPartition: ISR changes from leaders, with Kafka's refusals for stale epochs."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from broker.error_codes import KafkaError
from broker.metadata.replies import IsrChange, IsrChangeReply, NewTopic
from tests.broker.metadata.harness import ControllerHarness


def cluster() -> tuple[ControllerHarness, IsrChange]:
    """Brokers 1-4; topic "t" partition 0 on (1, 2, 3), ISR (1, 2, 3), leader 1; and the
    leader's request to shrink the ISR to (1, 2) with the current epochs."""
    h = ControllerHarness()
    h.start_brokers(1, 2, 3, 4)
    reply = h.run(h.controller.create_topics([NewTopic("t", assignments={0: (1, 2, 3)})]))[0]
    assert reply.topic_id is not None
    return h, IsrChange(reply.topic_id, 0, 0, 0, (1, 2))


def alter(h: ControllerHarness, change: IsrChange, node: int = 1) -> IsrChangeReply:
    reply = h.run(h.controller.alter_partition(node, h.epochs[node], [change]))
    assert reply.error is KafkaError.NONE
    return reply.partitions[0]


def test_a_leader_shrinks_its_isr_and_the_partition_epoch_moves() -> None:
    h, change = cluster()
    reply = alter(h, change)
    assert (reply.error, reply.isr, reply.leader_epoch, reply.partition_epoch) == (
        KafkaError.NONE,
        (1, 2),
        0,
        1,
    )
    state = h.image.partition("t", 0)
    assert state is not None and state.isr == (1, 2) and state.partition_epoch == 1


def test_asking_for_the_current_isr_succeeds_without_a_record() -> None:
    h, change = cluster()
    result = h.controller.alter_partition(1, h.epochs[1], [replace(change, new_isr=(1, 2, 3))])
    assert result.records == ()
    assert result.reply.partitions[0].error is KafkaError.NONE


REFUSALS = [
    pytest.param(
        {"leader_epoch": -1},
        1,
        KafkaError.FENCED_LEADER_EPOCH,
        "leader epoch -1 is stale",
        id="a stale leader epoch is fenced",
    ),
    pytest.param(
        {"leader_epoch": 1},
        1,
        KafkaError.NOT_CONTROLLER,
        "ahead of this controller",
        id="a leader epoch ahead of the controller is sent elsewhere",
    ),
    pytest.param(
        {"partition_epoch": -1},
        1,
        KafkaError.INVALID_UPDATE_VERSION,
        "partition epoch -1 is stale",
        id="a stale partition epoch is an invalid update version",
    ),
    pytest.param(
        {},
        2,
        KafkaError.INVALID_REQUEST,
        "broker 2 is not the leader",
        id="a request from a follower is invalid",
    ),
    pytest.param(
        {"new_isr": (2, 3)},
        1,
        KafkaError.INVALID_REQUEST,
        "leaves out the leader",
        id="an isr without the leader is invalid",
    ),
    pytest.param(
        {"new_isr": (1, 4)},
        1,
        KafkaError.INVALID_REQUEST,
        "not within replicas",
        id="an isr outside the replicas is invalid",
    ),
    pytest.param(
        {"new_isr": (1, 1)},
        1,
        KafkaError.INVALID_REQUEST,
        "duplicates",
        id="an isr with duplicates is invalid",
    ),
    pytest.param(
        {"new_isr": ()},
        1,
        KafkaError.INVALID_REQUEST,
        "empty",
        id="an empty isr is invalid",
    ),
    pytest.param(
        {"partition_index": 5},
        1,
        KafkaError.UNKNOWN_TOPIC_OR_PARTITION,
        "no partition 5",
        id="an unknown partition is unknown",
    ),
    pytest.param(
        {"topic_id": uuid.UUID(int=7)},
        1,
        KafkaError.UNKNOWN_TOPIC_ID,
        "no topic has id",
        id="an unknown topic id is unknown",
    ),
]


@pytest.mark.parametrize(("fields", "node", "error", "reason"), REFUSALS)
def test_bad_isr_changes_are_refused_without_records(
    fields: dict[str, object], node: int, error: KafkaError, reason: str
) -> None:
    h, change = cluster()
    result = h.controller.alter_partition(node, h.epochs[node], [replace(change, **fields)])  # type: ignore[arg-type]
    assert result.records == ()
    reply = result.reply.partitions[0]
    assert reply.error is error
    assert reason in (reply.message or "")


def test_a_refusal_reports_the_current_state_so_the_leader_can_catch_up() -> None:
    h, change = cluster()
    alter(h, change)
    reply = alter(h, change)  # the same request again: its partition epoch is now stale
    assert reply.error is KafkaError.INVALID_UPDATE_VERSION
    assert (reply.isr, reply.partition_epoch) == ((1, 2), 1)


def test_a_fenced_broker_cannot_join_the_isr() -> None:
    h, change = cluster()
    alter(h, change)
    h.run(h.controller.broker_disconnected(3))
    reply = alter(h, IsrChange(change.topic_id, 0, 0, 1, (1, 2, 3)))
    assert reply.error is KafkaError.INELIGIBLE_REPLICA
    assert "broker 3 cannot join the ISR: fenced" in (reply.message or "")


def test_a_broker_in_controlled_shutdown_cannot_join_the_isr() -> None:
    h, change = cluster()
    alter(h, change)
    h.heartbeat(3, want_shutdown=True)
    state = h.image.partition("t", 0)
    assert state is not None
    reply = alter(
        h, IsrChange(change.topic_id, 0, state.leader_epoch, state.partition_epoch, (1, 2, 3))
    )
    assert reply.error is KafkaError.INELIGIBLE_REPLICA


def test_a_stale_broker_epoch_refuses_the_whole_request() -> None:
    h, change = cluster()
    result = h.controller.alter_partition(1, h.epochs[1] - 1, [change])
    assert result.reply.error is KafkaError.STALE_BROKER_EPOCH
    assert result.reply.partitions == () and result.records == ()


def test_two_quick_requests_see_each_other_before_either_commits() -> None:
    h, change = cluster()
    first = h.submit(h.controller.alter_partition(1, h.epochs[1], [change]))
    second = h.submit(
        h.controller.alter_partition(1, h.epochs[1], [replace(change, new_isr=(1, 3))])
    )
    assert first.partitions[0].error is KafkaError.NONE
    assert second.partitions[0].error is KafkaError.INVALID_UPDATE_VERSION
    h.commit()
    state = h.image.partition("t", 0)
    assert state is not None and state.isr == (1, 2)


def test_a_leader_that_lost_its_leadership_is_fenced() -> None:
    h, change = cluster()
    h.run(h.controller.broker_disconnected(1))
    h.register(1, generation=1)
    h.heartbeat(1)
    reply = alter(h, change)
    assert reply.error is KafkaError.FENCED_LEADER_EPOCH
