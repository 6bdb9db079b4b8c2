"""How a leader answers follower fetches and OffsetsForLeaderEpoch: epoch checks, who
may fetch, divergence, offset range, and what is recorded."""

from __future__ import annotations

import pytest

from broker.error_codes import KafkaError
from broker.replication import NO_EPOCH
from broker.storage.epoch_cache import EpochEndOffset
from tests.broker.replication.builders import fetch, leader_of
from tests.broker.replication.fakes import FakeLogs

# The leader (epoch 5) has epochs 1 at 0, 3 at 40, 5 at 90; its log is [10, 100).
LEADER_EPOCHS = [(1, 0), (3, 40), (5, 90)]


@pytest.mark.parametrize(
    ("current_epoch", "error"),
    [
        (4, KafkaError.FENCED_LEADER_EPOCH),
        (6, KafkaError.UNKNOWN_LEADER_EPOCH),
        (5, KafkaError.NONE),
        (NO_EPOCH, KafkaError.NONE),
    ],
    ids=["an older epoch is fenced", "a newer one is unknown", "ours", "not given"],
)
def test_a_fetch_is_checked_against_the_leader_epoch(
    make_log: FakeLogs, current_epoch: int, error: KafkaError
) -> None:
    log = make_log(LEADER_EPOCHS, end=100)
    decision = leader_of().on_follower_fetch(2, 100, 0, log, current_leader_epoch=current_epoch)
    assert decision.error is error


@pytest.mark.parametrize(
    ("current_epoch", "error"),
    [
        (5, KafkaError.UNKNOWN_LEADER_EPOCH),
        (NO_EPOCH, KafkaError.NOT_LEADER_OR_FOLLOWER),
    ],
    ids=["with our epoch: unknown epoch", "without an epoch: not leader"],
)
def test_a_fetch_from_a_broker_outside_the_replicas_is_refused_with_a_reason(
    make_log: FakeLogs, current_epoch: int, error: KafkaError
) -> None:
    log = make_log(LEADER_EPOCHS, end=100)
    leader = leader_of()
    decision = leader.on_follower_fetch(9, 100, 0, log, current_leader_epoch=current_epoch)
    assert decision.error is error
    assert decision.reason is not None
    assert "broker 9, which is not a follower" in decision.reason
    assert "replicas [1, 2, 3]" in decision.reason
    assert 9 not in leader.followers


def test_the_leader_cannot_fetch_from_itself(make_log: FakeLogs) -> None:
    log = make_log(LEADER_EPOCHS, end=100)
    assert leader_of().on_follower_fetch(1, 100, 0, log).error is not KafkaError.NONE


@pytest.mark.parametrize(
    ("fetch_offset", "last_fetched_epoch", "diverging"),
    [
        (50, 2, EpochEndOffset(1, 40)),
        (95, 3, EpochEndOffset(3, 90)),
        (120, 5, EpochEndOffset(5, 100)),
        (45, 4, EpochEndOffset(3, 90)),
    ],
    ids=[
        "an epoch the leader never had: its previous epoch's end",
        "an epoch that ends earlier here",
        "ahead of the leader in the same epoch",
        "an epoch between two of ours",
    ],
)
def test_a_follower_whose_last_epoch_ends_earlier_here_gets_the_diverging_epoch(
    make_log: FakeLogs, fetch_offset: int, last_fetched_epoch: int, diverging: EpochEndOffset
) -> None:
    log = make_log(LEADER_EPOCHS, end=100, start=10)
    leader = leader_of(log_end=100)
    decision = leader.on_follower_fetch(
        2, fetch_offset, 0, log, last_fetched_epoch=last_fetched_epoch
    )
    assert (decision.error, decision.diverging_epoch) == (KafkaError.NONE, diverging)
    assert leader.followers[2].log_end_offset == -1  # its position is not recorded


@pytest.mark.parametrize(
    ("fetch_offset", "last_fetched_epoch"),
    [(60, 3), (100, 5), (30, 1)],
    ids=["inside a common epoch", "at the end of the latest epoch", "at an epoch's end"],
)
def test_a_follower_on_the_leaders_history_is_served(
    make_log: FakeLogs, fetch_offset: int, last_fetched_epoch: int
) -> None:
    log = make_log(LEADER_EPOCHS, end=100, start=10)
    leader = leader_of(log_end=100)
    decision = leader.on_follower_fetch(
        2, fetch_offset, 0, log, last_fetched_epoch=last_fetched_epoch
    )
    assert (decision.error, decision.diverging_epoch) == (KafkaError.NONE, None)
    assert leader.followers[2].log_end_offset == fetch_offset


@pytest.mark.parametrize(
    ("epochs", "fetch_offset", "last_fetched_epoch"),
    [
        (LEADER_EPOCHS, 101, NO_EPOCH),
        (LEADER_EPOCHS, 5, NO_EPOCH),
        (LEADER_EPOCHS, 5, 1),
        ([], 50, 3),
        (LEADER_EPOCHS, 50, 7),
    ],
    ids=[
        "beyond the log end",
        "below the log start",
        "below the log start with an epoch",
        "an epoch the leader cannot place (empty cache)",
        "an epoch above the leader's latest",
    ],
)
def test_fetch_offsets_the_leader_cannot_serve_are_out_of_range(
    make_log: FakeLogs,
    epochs: list[tuple[int, int]],
    fetch_offset: int,
    last_fetched_epoch: int,
) -> None:
    log = make_log(epochs, end=100, start=10)
    leader = leader_of(log_end=100)
    decision = leader.on_follower_fetch(
        2, fetch_offset, 0, log, last_fetched_epoch=last_fetched_epoch
    )
    assert decision.error is KafkaError.OFFSET_OUT_OF_RANGE
    assert decision.reason is not None
    assert leader.followers[2].log_end_offset == -1


@pytest.mark.parametrize(
    ("current_epoch", "asked", "answer"),
    [
        (5, 3, (KafkaError.NONE, EpochEndOffset(3, 90))),
        (5, 5, (KafkaError.NONE, EpochEndOffset(5, 100))),
        (5, 2, (KafkaError.NONE, EpochEndOffset(1, 40))),
        (5, 7, (KafkaError.NONE, EpochEndOffset(-1, -1))),
        (4, 3, (KafkaError.FENCED_LEADER_EPOCH, EpochEndOffset(-1, -1))),
        (6, 3, (KafkaError.UNKNOWN_LEADER_EPOCH, EpochEndOffset(-1, -1))),
    ],
    ids=[
        "an older epoch ends where the next starts",
        "the latest ends at the log end",
        "an unknown epoch answers the one before",
        "a future epoch is undefined",
        "a stale requester is fenced",
        "a requester ahead of us is told the epoch is unknown",
    ],
)
def test_offsets_for_leader_epoch_answers_as_kafka(
    make_log: FakeLogs,
    current_epoch: int,
    asked: int,
    answer: tuple[KafkaError, EpochEndOffset],
) -> None:
    log = make_log(LEADER_EPOCHS, end=100)
    assert leader_of().offsets_for_leader_epoch(current_epoch, asked, log) == answer


def test_a_served_fetch_records_the_position_and_the_time_it_was_caught_up(
    make_log: FakeLogs,
) -> None:
    log = make_log(LEADER_EPOCHS, end=100)
    leader = leader_of(log_end=100, isr=(1,))
    fetch(leader, 2, 100, log, now_ms=700)
    progress = leader.followers[2]
    assert (progress.log_end_offset, progress.last_caught_up_ms) == (100, 700)
