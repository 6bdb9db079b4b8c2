"""Follower lag on the leader: records, bytes and seconds, computed like consumer lag
(age of the oldest record the follower does not have), never negative, 0 caught up."""

from __future__ import annotations

import pytest

from broker.metrics.follower_lag import FollowerLag, follower_lag, follower_position
from broker.replication.progress import UNKNOWN_OFFSET

NOW_MS = 1_000_000
# Record i was stored at NOW_MS - (100 - i) seconds: the oldest are the oldest.
TIMESTAMPS = {i: NOW_MS - (100 - i) * 1000 for i in range(100)}


def lag(position: int, *, log_start: int = 0, log_end: int = 100) -> FollowerLag:
    return follower_lag(
        position,
        log_end_offset=log_end,
        log_start_offset=log_start,
        record_timestamp_ms=TIMESTAMPS.get,
        bytes_from=lambda offset: (log_end - offset) * 10,
        now_ms=NOW_MS,
    )


def test_a_caught_up_follower_lags_nothing_and_nothing_is_read_from_the_log() -> None:
    def untouched(_: int) -> int:
        raise AssertionError("the log is not read for a caught-up follower")

    result = follower_lag(
        100,
        log_end_offset=100,
        log_start_offset=0,
        record_timestamp_ms=untouched,
        bytes_from=untouched,
        now_ms=NOW_MS,
    )

    assert result == FollowerLag(0, 0, 0.0)
    assert result.caught_up


def test_the_lag_is_the_records_bytes_and_age_of_the_first_record_it_lacks() -> None:
    assert lag(90) == FollowerLag(10, 100, 10.0)


def test_a_follower_behind_the_log_start_is_aged_by_the_oldest_record_still_stored() -> None:
    result = lag(5, log_start=40)

    assert result.records == 95
    assert result.bytes == 600
    assert result.seconds == 60.0


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        pytest.param(NOW_MS + 60_000, 0.0, id="a record stamped in the future ages 0 not less"),
        pytest.param(None, 0.0, id="an unknown timestamp ages 0"),
        pytest.param(NOW_MS, 0.0, id="a record stamped now ages 0"),
        pytest.param(NOW_MS - 1, 0.001, id="a record a millisecond old ages a millisecond"),
    ],
)
def test_lag_seconds_are_never_negative(stamp: int | None, expected: float) -> None:
    result = follower_lag(
        10,
        log_end_offset=11,
        log_start_offset=0,
        record_timestamp_ms=lambda _: stamp,
        bytes_from=lambda _: 70,
        now_ms=NOW_MS,
    )

    assert result.records == 1
    assert result.seconds == expected


def test_a_follower_ahead_of_the_log_end_counts_as_caught_up() -> None:
    assert lag(120) == FollowerLag(0, 0, 0.0)


@pytest.mark.parametrize(
    ("fetch_offset", "in_isr", "expected"),
    [
        pytest.param(42, False, 42, id="a known fetch offset is the position"),
        pytest.param(UNKNOWN_OFFSET, True, 70, id="an unknown in-sync follower is at the hw"),
        pytest.param(UNKNOWN_OFFSET, False, 10, id="an unknown other follower is at log start"),
    ],
)
def test_the_position_of_a_follower(fetch_offset: int, in_isr: bool, expected: int) -> None:
    assert (
        follower_position(fetch_offset, in_isr=in_isr, high_watermark=70, log_start_offset=10)
        == expected
    )
