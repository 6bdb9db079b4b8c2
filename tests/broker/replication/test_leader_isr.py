"""ISR changes asked by a leader: shrink timing (Kafka's caught-up rule), expansion
conditions, one change in flight, the controller's answers, committed images."""

from __future__ import annotations

import pytest

from broker.error_codes import KafkaError
from broker.replication import IsrChangeKind, IsrChangeRequest, LeaderReplicaState
from tests.broker.replication.builders import LAG_MS, fetch, leader_of
from tests.broker.replication.fakes import FakeLog, FakeLogs


@pytest.fixture
def log(make_log: FakeLogs) -> FakeLog:
    return make_log([(5, 0)], end=100)


def shrink(leader: LeaderReplicaState, now_ms: int) -> tuple[int, ...] | None:
    change = leader.maybe_shrink_isr(now_ms)
    if change is None:
        return None
    assert change.kind is IsrChangeKind.SHRINK
    return change.new_isr


# -- shrinking ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now_ms", "expected"),
    [(LAG_MS, None), (LAG_MS + 1, (1, 2))],
    ids=["out of sync exactly the lag time: kept", "one millisecond more: removed"],
)
def test_an_isr_follower_that_never_fetches_is_removed_after_the_lag_time(
    log: FakeLog, now_ms: int, expected: tuple[int, ...] | None
) -> None:
    leader = leader_of(log_end=100)
    fetch(leader, 2, 100, log, now_ms=now_ms)
    assert shrink(leader, now_ms) == expected


def test_a_follower_at_the_leaders_log_end_is_in_sync_however_long_ago_it_fetched(
    log: FakeLog,
) -> None:
    leader = leader_of(isr=(1, 2), replicas=(1, 2), log_end=100)
    fetch(leader, 2, 100, log, now_ms=0)
    assert shrink(leader, 10 * LAG_MS) is None
    leader.on_leader_append(110, now_ms=10 * LAG_MS)
    assert shrink(leader, 10 * LAG_MS) == (1,)


def test_a_follower_is_caught_up_as_of_the_fetch_whose_leader_end_it_reached(
    log: FakeLog,
) -> None:
    """Kafka's rule: fetching from the leader's log end *at the previous fetch* makes
    the follower caught up at the time of that previous fetch."""
    leader = leader_of(isr=(1, 2), replicas=(1, 2), log_end=100)
    fetch(leader, 2, 90, log, now_ms=1_000)  # behind; the leader ends at 100
    leader.on_leader_append(150, now_ms=1_000)
    fetch(leader, 2, 120, log, now_ms=5_000)  # 120 >= 100: caught up as of t=1000
    assert leader.followers[2].last_caught_up_ms == 1_000
    assert shrink(leader, 1_000 + LAG_MS) is None
    assert shrink(leader, 1_001 + LAG_MS) == (1,)


def test_a_follower_that_keeps_fetching_but_never_catches_up_is_removed(log: FakeLog) -> None:
    leader = leader_of(isr=(1, 2), replicas=(1, 2), log_end=100)
    for step in range(1, 30):
        now = step * 1_000
        leader.on_leader_append(100 + 10 * step, now)
        fetch(leader, 2, 100 + 10 * step - 20, log, now_ms=now)  # always 20 behind
    assert shrink(leader, 29_000) == (1,)


def test_the_leader_is_never_removed_from_the_isr(log: FakeLog) -> None:
    leader = leader_of(log_end=100)
    assert shrink(leader, 100 * LAG_MS) == (1,)


def test_nothing_is_asked_while_a_change_is_in_flight(log: FakeLog) -> None:
    leader = leader_of(log_end=100, epoch_start=0)
    assert shrink(leader, 2 * LAG_MS) == (1,)
    assert shrink(leader, 3 * LAG_MS) is None
    assert leader.on_follower_fetch(2, 100, 3 * LAG_MS, log).isr_change is None


# -- expanding ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fetch_offset", "high_watermark", "epoch_start", "expands"),
    [
        (80, 80, 60, True),
        (79, 80, 60, False),
        (80, 70, 90, False),
        (90, 70, 90, True),
    ],
    ids=[
        "at the HW and past the epoch start",
        "below the HW",
        "past the HW but below the epoch start",
        "at the epoch start",
    ],
)
def test_a_follower_joins_the_isr_once_it_reaches_the_hw_and_the_epoch_start(
    log: FakeLog, fetch_offset: int, high_watermark: int, epoch_start: int, expands: bool
) -> None:
    leader = leader_of(
        isr=(1, 2), log_end=100, high_watermark=high_watermark, epoch_start=epoch_start
    )
    change = leader.on_follower_fetch(3, fetch_offset, 0, log).isr_change
    if not expands:
        assert change is None
        return
    assert change == IsrChangeRequest(
        "t", 0, 1, 5, 7, new_isr=(1, 2, 3), kind=IsrChangeKind.EXPAND, changed=(3,)
    )


def test_a_follower_already_in_the_isr_is_not_added_again(log: FakeLog) -> None:
    leader = leader_of(log_end=100, epoch_start=0)
    assert leader.on_follower_fetch(2, 100, 0, log).isr_change is None


# -- answers and commits --------------------------------------------------------------


@pytest.fixture
def expanding(log: FakeLog) -> tuple[LeaderReplicaState, IsrChangeRequest]:
    leader = leader_of(isr=(1, 2), log_end=100, epoch_start=0)
    change = leader.on_follower_fetch(3, 100, 0, log).isr_change
    assert change is not None
    return leader, change


@pytest.mark.parametrize(
    ("error", "still_pending", "resend"),
    [
        (KafkaError.NONE, True, False),
        (KafkaError.INVALID_UPDATE_VERSION, True, False),
        (KafkaError.FENCED_LEADER_EPOCH, True, False),
        (KafkaError.INELIGIBLE_REPLICA, False, False),
        (KafkaError.OPERATION_NOT_ATTEMPTED, False, False),
        (KafkaError.NOT_CONTROLLER, True, True),
        (None, True, True),
    ],
    ids=[
        "accepted: waits for the image",
        "stale partition epoch: perhaps our own retry, waits for the image",
        "fenced: waits for the new leadership",
        "ineligible replica: certainly not applied, dropped",
        "not attempted: dropped",
        "not the controller: sent again",
        "no answer: sent again",
    ],
)
def test_the_controllers_answer_settles_the_change_as_kafka_does(
    expanding: tuple[LeaderReplicaState, IsrChangeRequest],
    error: KafkaError | None,
    still_pending: bool,
    resend: bool,
) -> None:
    leader, change = expanding
    again = leader.on_isr_change_answer(change, error, now_ms=0)
    assert (again is change) is resend
    assert (leader.isr_state.pending is change) is still_pending
    assert (3 in leader.isr_state.maximal) is still_pending


def test_a_dropped_change_is_asked_again_only_after_the_backoff(
    expanding: tuple[LeaderReplicaState, IsrChangeRequest], log: FakeLog
) -> None:
    leader, change = expanding
    leader.on_isr_change_answer(change, KafkaError.INELIGIBLE_REPLICA, now_ms=1_000)
    assert leader.on_follower_fetch(3, 100, 1_099, log).isr_change is None
    assert leader.on_follower_fetch(3, 100, 1_100, log).isr_change is not None


def test_an_answer_about_another_change_is_ignored(
    expanding: tuple[LeaderReplicaState, IsrChangeRequest],
) -> None:
    leader, change = expanding
    twin = IsrChangeRequest(**{f: getattr(change, f) for f in change.__dataclass_fields__})
    assert leader.on_isr_change_answer(twin, None, now_ms=0) is None
    assert leader.on_isr_change_answer(twin, KafkaError.INELIGIBLE_REPLICA, 0) is None
    assert leader.isr_state.pending is change


def test_a_newer_partition_epoch_in_the_image_commits_its_isr(
    expanding: tuple[LeaderReplicaState, IsrChangeRequest],
) -> None:
    leader, _ = expanding
    leader.on_partition_state(5, 8, (1, 2, 3), now_ms=0)
    assert (leader.isr, leader.partition_epoch, leader.isr_state.pending) == ((1, 2, 3), 8, None)


def test_another_change_committed_first_settles_ours(
    expanding: tuple[LeaderReplicaState, IsrChangeRequest],
) -> None:
    leader, _ = expanding
    leader.on_partition_state(5, 8, (1,), now_ms=0)  # the controller removed 2 meanwhile
    assert (leader.isr, leader.isr_state.pending) == ((1,), None)
    assert leader.isr_state.maximal == {1}


def test_an_image_at_the_same_or_an_older_partition_epoch_changes_nothing(
    expanding: tuple[LeaderReplicaState, IsrChangeRequest],
) -> None:
    leader, change = expanding
    assert not leader.on_partition_state(5, 7, (1,), now_ms=0).high_watermark_advanced
    assert leader.on_partition_state(5, 6, (1,), now_ms=0).completed == ()
    assert (leader.isr, leader.isr_state.pending) == ((1, 2), change)


@pytest.mark.parametrize(
    ("leader_epoch", "isr", "complaint"),
    [(6, (1, 2), "a new leadership needs"), (5, (2, 3), "leaves out the leader")],
    ids=["another leader epoch", "an ISR without the leader"],
)
def test_a_partition_state_that_cannot_be_this_leaders_is_a_programming_error(
    leader_epoch: int, isr: tuple[int, ...], complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        leader_of().on_partition_state(leader_epoch, 9, isr, now_ms=0)
