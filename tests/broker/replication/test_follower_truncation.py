"""Where a follower truncates before fetching: Kafka's cases for the leader's
OffsetsForLeaderEpoch answer, and the TRUNCATING phase that asks again when needed."""

from __future__ import annotations

import pytest

from broker.error_codes import KafkaError
from broker.replication import (
    EpochRequest,
    FetchRequest,
    FollowerPhase,
    FollowerReplicaState,
    TruncateTo,
)
from broker.replication.truncation import truncation_for
from broker.storage.epoch_cache import EpochEndOffset
from tests.broker.replication.builders import phase_of
from tests.broker.replication.fakes import FakeLogs

# The follower: epochs 1 at 0, 2 at 30, 4 at 60; its log ends at 80; its HW is 25.
FOLLOWER_EPOCHS = [(1, 0), (2, 30), (4, 60)]


@pytest.mark.parametrize(
    ("answer", "offset", "completed"),
    [
        (EpochEndOffset(4, 70), 70, True),
        (EpochEndOffset(4, 95), 80, True),
        (EpochEndOffset(2, 50), 50, True),
        (EpochEndOffset(2, 45), 45, True),
        (EpochEndOffset(3, 75), 60, False),
        (EpochEndOffset(-1, -1), 25, True),
        (EpochEndOffset(-1, 40), 40, True),
        (EpochEndOffset(0, 10), 0, True),
    ],
    ids=[
        "follower ahead in the same epoch: the leader's end",
        "leader ahead in the same epoch: nothing to cut",
        "leader has fewer epochs: its epoch ends where ours went on",
        "leader's epoch ends before ours does",
        "an epoch we never had: the end of our older epoch, then ask again",
        "leader knows no such epoch: our high watermark",
        "leader without epochs: its offset",
        "an epoch below our first: the start of our first",
    ],
)
def test_the_truncation_offset_follows_kafkas_rules(
    make_log: FakeLogs, answer: EpochEndOffset, offset: int, completed: bool
) -> None:
    log = make_log(FOLLOWER_EPOCHS, end=80)
    decision = truncation_for(answer, log, high_watermark=25)
    assert (decision.offset, decision.completed) == (offset, completed)


def test_an_empty_epoch_cache_takes_the_leaders_offset(make_log: FakeLogs) -> None:
    log = make_log([], end=80)
    assert truncation_for(EpochEndOffset(3, 50), log, 25).offset == 50


def follower(**options: bool) -> FollowerReplicaState:
    return FollowerReplicaState("t", 0, leader_id=2, leader_epoch=6, high_watermark=25, **options)


def test_a_new_follower_asks_where_its_latest_epoch_ends(make_log: FakeLogs) -> None:
    log = make_log(FOLLOWER_EPOCHS, end=80)
    state = follower()
    request = state.next_request(log, now_ms=0)
    assert request == EpochRequest(0, leader_id=2, current_leader_epoch=6, leader_epoch=4)
    assert state.next_request(log, now_ms=0) is None  # one request in flight


def test_truncation_in_several_rounds_ends_fetching(make_log: FakeLogs) -> None:
    log = make_log(FOLLOWER_EPOCHS, end=80)
    state = follower()
    first = state.next_request(log, 0)
    assert isinstance(first, EpochRequest)
    actions = state.on_epoch_response(first, KafkaError.NONE, EpochEndOffset(3, 75), log, 0)
    assert actions == (TruncateTo(60),)
    assert phase_of(state) is FollowerPhase.TRUNCATING
    log.log_end_offset = 60
    log.epoch_cache.truncate_from_end(60)
    second = state.next_request(log, 0)
    assert isinstance(second, EpochRequest) and second.leader_epoch == 2
    actions = state.on_epoch_response(second, KafkaError.NONE, EpochEndOffset(2, 55), log, 0)
    assert actions == (TruncateTo(55),)
    assert state.phase is FollowerPhase.FETCHING


def test_a_truncation_at_the_log_end_is_still_sent_to_drop_a_dangling_epoch(
    make_log: FakeLogs,
) -> None:
    log = make_log([*FOLLOWER_EPOCHS, (5, 80)], end=80)  # led epoch 5, appended nothing
    state = follower()
    request = state.next_request(log, 0)
    assert isinstance(request, EpochRequest) and request.leader_epoch == 5
    actions = state.on_epoch_response(request, KafkaError.NONE, EpochEndOffset(4, 80), log, 0)
    assert actions == (TruncateTo(80),)


def test_an_empty_log_asks_about_no_epoch_and_keeps_its_high_watermark(
    make_log: FakeLogs,
) -> None:
    log = make_log([], end=0)
    state = follower()
    request = state.next_request(log, 0)
    assert isinstance(request, EpochRequest) and request.leader_epoch == -1


@pytest.mark.parametrize(
    ("error", "phase", "retries_after_ms"),
    [
        (KafkaError.FENCED_LEADER_EPOCH, FollowerPhase.STOPPED, None),
        (KafkaError.UNKNOWN_LEADER_EPOCH, FollowerPhase.TRUNCATING, 1_000),
        (KafkaError.NOT_LEADER_OR_FOLLOWER, FollowerPhase.TRUNCATING, 1_000),
    ],
    ids=[
        "fenced: our metadata is stale, wait for it",
        "unknown epoch: the leader's metadata is behind, retry",
        "not leader yet: retry",
    ],
)
def test_an_epoch_answer_with_an_error(
    make_log: FakeLogs, error: KafkaError, phase: FollowerPhase, retries_after_ms: int | None
) -> None:
    log = make_log(FOLLOWER_EPOCHS, end=80)
    state = follower()
    request = state.next_request(log, 0)
    assert isinstance(request, EpochRequest)
    assert state.on_epoch_response(request, error, EpochEndOffset(-1, -1), log, 0) == ()
    assert state.phase is phase
    if retries_after_ms is None:
        assert state.next_request(log, 10**9) is None
        assert state.stop_reason is not None
    else:
        assert state.next_request(log, retries_after_ms - 1) is None
        assert state.next_request(log, retries_after_ms) is not None


def test_truncate_on_fetch_skips_the_epoch_request_when_the_log_has_an_epoch(
    make_log: FakeLogs,
) -> None:
    log = make_log(FOLLOWER_EPOCHS, end=80)
    request = follower(truncate_on_fetch=True).next_request(log, 0)
    assert request == FetchRequest(
        0, 2, 6, fetch_offset=80, last_fetched_epoch=4, log_start_offset=0
    )


def test_an_offline_partition_waits_for_a_leader(make_log: FakeLogs) -> None:
    state = FollowerReplicaState("t", 0, leader_id=-1, leader_epoch=6, high_watermark=0)
    assert state.phase is FollowerPhase.STOPPED
    assert state.next_request(make_log([], end=0), 0) is None
