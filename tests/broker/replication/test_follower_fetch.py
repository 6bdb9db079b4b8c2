"""A follower fetching: the requests it builds, and the actions each kind of answer
turns into (append, log start, high watermark, out of range, errors, stale answers)."""

from __future__ import annotations

import pytest

from broker.error_codes import KafkaError
from broker.records.record import Record, build_batch
from broker.replication import (
    AdvanceLogStart,
    AppendReplicated,
    FetchRequest,
    FetchResponse,
    FollowerPhase,
    FollowerReplicaState,
    LeaderOffsetsRequest,
    TruncateFullyAndStartAt,
    TruncateTo,
)
from broker.storage.epoch_cache import EpochEndOffset
from tests.broker.replication.builders import phase_of
from tests.broker.replication.fakes import FakeLog, FakeLogs

NONE = KafkaError.NONE


def batch(base_offset: int, count: int = 3, epoch: int = 6) -> bytes:
    records = [Record(b"v%d" % i, key=b"k", timestamp_ms=1_000) for i in range(count)]
    return build_batch(records, base_offset=base_offset, leader_epoch=epoch)


def fetching(log: FakeLog, **options: bool) -> tuple[FollowerReplicaState, FetchRequest]:
    """A follower of broker 2 in epoch 6 that has truncated and sent its first fetch."""
    state = FollowerReplicaState(
        "t", 0, leader_id=2, leader_epoch=6, high_watermark=10, fetch_backoff_ms=500, **options
    )
    state.phase = FollowerPhase.FETCHING
    request = state.next_request(log, now_ms=0)
    assert isinstance(request, FetchRequest)
    return state, request


@pytest.fixture
def log(make_log: FakeLogs) -> FakeLog:
    return make_log([(4, 0), (6, 40)], end=50, start=5)


def test_a_fetch_starts_at_the_log_end_with_the_latest_epoch(log: FakeLog) -> None:
    _, request = fetching(log)
    assert request == FetchRequest(
        0,
        leader_id=2,
        current_leader_epoch=6,
        fetch_offset=50,
        last_fetched_epoch=6,
        log_start_offset=5,
    )


def test_records_are_appended_as_the_leader_sent_them(log: FakeLog) -> None:
    state, request = fetching(log)
    data = batch(50) + batch(53)
    actions = state.on_fetch_response(request, FetchResponse(NONE, 56, 5, data), log, 0)
    assert actions == (AppendReplicated(data),)


@pytest.mark.parametrize(
    ("leader_hw", "log_end_after", "follower_hw"),
    [(56, 56, 56), (80, 56, 56), (52, 56, 52)],
    ids=["the leader's HW", "not above our own log end", "the leader's HW below our end"],
)
def test_the_follower_hw_is_the_smaller_of_the_leaders_and_its_log_end(
    log: FakeLog, leader_hw: int, log_end_after: int, follower_hw: int
) -> None:
    state, request = fetching(log)
    state.on_fetch_response(request, FetchResponse(NONE, leader_hw, 5, batch(50, 6)), log, 0)
    log.log_end_offset = log_end_after
    assert state.high_watermark(log) == follower_hw


def test_the_follower_follows_the_leaders_log_start(log: FakeLog) -> None:
    state, request = fetching(log)
    actions = state.on_fetch_response(request, FetchResponse(NONE, 50, 30, b""), log, 0)
    assert actions == (AdvanceLogStart(30),)
    state, request = fetching(log)
    assert state.on_fetch_response(request, FetchResponse(NONE, 50, 3, b""), log, 0) == ()


@pytest.mark.parametrize(
    ("truncate_on_fetch", "phase"),
    [(False, FollowerPhase.TRUNCATING), (True, FollowerPhase.FETCHING)],
    ids=["asks OffsetsForLeaderEpoch next", "lets the next fetch carry the new epoch"],
)
def test_a_diverging_epoch_truncates(
    log: FakeLog, truncate_on_fetch: bool, phase: FollowerPhase
) -> None:
    state, request = fetching(log, truncate_on_fetch=truncate_on_fetch)
    response = FetchResponse(NONE, 40, 5, b"", diverging_epoch=EpochEndOffset(5, 45))
    assert state.on_fetch_response(request, response, log, 0) == (TruncateTo(40),)
    assert state.phase is phase


def test_an_empty_log_inside_the_leaders_first_batch_restarts_at_its_base(
    make_log: FakeLogs,
) -> None:
    log = make_log([], end=60, start=60)  # restarted at the leader's log start, 60
    state, request = fetching(log)
    data = batch(58, 4)  # the leader's batch holding 60 starts at 58
    actions = state.on_fetch_response(request, FetchResponse(NONE, 62, 60, data), log, 0)
    assert actions == (TruncateFullyAndStartAt(58), AppendReplicated(data), AdvanceLogStart(60))


def test_batches_that_do_not_line_up_with_the_leaders_are_truncated(log: FakeLog) -> None:
    state, request = fetching(log)
    response = FetchResponse(NONE, 70, 5, batch(48, 5))  # the leader's batch spans 48-52
    assert state.on_fetch_response(request, response, log, 0) == (TruncateTo(48),)
    assert state.leader_high_watermark == 10  # a log that is not the leader's claims nothing


# -- out of range ---------------------------------------------------------------------


def test_below_a_known_leader_log_start_the_log_restarts_there(log: FakeLog) -> None:
    state, request = fetching(log)
    response = FetchResponse(KafkaError.OFFSET_OUT_OF_RANGE, -1, 90)
    assert state.on_fetch_response(request, response, log, 0) == (TruncateFullyAndStartAt(90),)
    assert state.phase is FollowerPhase.FETCHING


@pytest.mark.parametrize(
    ("leader_start", "leader_end", "actions"),
    [
        (0, 40, (TruncateTo(40),)),
        (70, 90, (TruncateFullyAndStartAt(70),)),
        (0, 90, ()),
    ],
    ids=[
        "our log is longer (unclean election): cut to the leader's end",
        "our log ends below the leader's start: restart there",
        "within the leader's range now: just fetch",
    ],
)
def test_out_of_range_asks_the_leader_for_its_offsets_then_decides(
    log: FakeLog, leader_start: int, leader_end: int, actions: tuple[object, ...]
) -> None:
    state, request = fetching(log)
    response = FetchResponse(KafkaError.OFFSET_OUT_OF_RANGE)
    assert state.on_fetch_response(request, response, log, 0) == ()
    assert phase_of(state) is FollowerPhase.RESOLVING_OFFSET
    ask = state.next_request(log, 0)
    assert ask == LeaderOffsetsRequest(1, leader_id=2, current_leader_epoch=6)
    assert isinstance(ask, LeaderOffsetsRequest)
    assert state.on_offsets_response(ask, NONE, leader_start, leader_end, log, 0) == actions
    assert state.phase is FollowerPhase.FETCHING


# -- errors and stale answers ---------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "phase", "backs_off"),
    [
        (KafkaError.FENCED_LEADER_EPOCH, FollowerPhase.STOPPED, False),
        (KafkaError.NOT_LEADER_OR_FOLLOWER, FollowerPhase.FETCHING, True),
        (KafkaError.UNKNOWN_LEADER_EPOCH, FollowerPhase.FETCHING, True),
        (KafkaError.KAFKA_STORAGE_ERROR, FollowerPhase.FETCHING, True),
    ],
    ids=[
        "fenced: stops until new metadata",
        "not leader (yet): retries after the backoff",
        "unknown epoch: retries after the backoff",
        "storage error: retries after the backoff",
    ],
)
def test_a_fetch_error(
    log: FakeLog, error: KafkaError, phase: FollowerPhase, backs_off: bool
) -> None:
    state, request = fetching(log)
    assert state.on_fetch_response(request, FetchResponse(error), log, now_ms=100) == ()
    assert state.phase is phase
    if backs_off:
        assert state.next_request(log, 599) is None
        assert state.next_request(log, 600) is not None


def test_an_answer_to_a_request_no_longer_in_flight_is_ignored(log: FakeLog) -> None:
    state, request = fetching(log)
    state.on_request_failed(request, now_ms=0)
    late = FetchResponse(NONE, 60, 5, batch(50))
    assert state.on_fetch_response(request, late, log, now_ms=600) == ()
    retry = state.next_request(log, now_ms=600)
    assert retry is not None and retry.request_id == 1
    assert state.on_fetch_response(request, late, log, now_ms=600) == ()  # not the retry


def test_a_request_without_an_answer_is_retried_after_the_backoff(log: FakeLog) -> None:
    state, request = fetching(log)
    state.on_request_failed(request, now_ms=1_000)
    assert state.next_request(log, 1_499) is None
    assert state.next_request(log, 1_500) is not None


def test_the_follower_says_when_its_next_request_is_due(log: FakeLog) -> None:
    state, request = fetching(log)
    assert state.ready_at_ms is None  # an answer is awaited
    state.on_request_failed(request, now_ms=1_000)
    assert state.ready_at_ms == 1_500
    state.next_request(log, 1_500)
    state.on_fetch_response(
        state.in_flight,  # type: ignore[arg-type]
        FetchResponse(KafkaError.FENCED_LEADER_EPOCH),
        log,
        now_ms=1_600,
    )
    assert state.phase is FollowerPhase.STOPPED and state.ready_at_ms is None
