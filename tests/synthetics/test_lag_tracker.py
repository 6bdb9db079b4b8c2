"""The lag monitor's pure part: lag in records and seconds, headroom, and the broker's
status logic fed with samples taken when a poll sees the committed offset move."""

from __future__ import annotations

import pytest

from contracts.lag.status import LagStatus, StatusConfig
from synthetics.lagmon.tracker import GroupReading, LagBook, PartitionReading

T0 = 1_700_000_000_000  # ms
DAY_MS = 86_400_000


def reading(
    committed: int,
    hw: int,
    ts: int | None = T0,
    retention_ms: int | None = 7 * DAY_MS,
    partition: int = 0,
) -> PartitionReading:
    return PartitionReading(
        "orders", partition, committed, hw, 0, ts if hw > committed else None, retention_ms
    )


def group(*partitions: PartitionReading, group_id: str = "g") -> GroupReading:
    return GroupReading(group_id, coordinator=0, state="Empty", members=0, partitions=partitions)


def test_lag_in_seconds_is_the_age_of_the_record_at_the_committed_offset_and_grows_with_the_clock() -> (
    None
):
    book = LagBook()
    (g,) = book.update([group(reading(4, 10, ts=T0))], T0 + 30_000)
    (p,) = g.partitions
    assert (p.lag_records, p.lag_seconds) == (6, 30.0)
    (g,) = book.update([group(reading(4, 10, ts=T0))], T0 + 90_500)
    assert g.partitions[0].lag_seconds == 90.5
    assert g.max_lag_seconds == 90.5
    assert g.lag_records == 6


def test_a_caught_up_group_has_no_lag_and_no_headroom() -> None:
    (g,) = LagBook().update([group(reading(10, 10))], T0)
    (p,) = g.partitions
    assert (p.lag_records, p.lag_seconds, p.retention_headroom_seconds) == (0, 0.0, None)
    assert p.status.status is LagStatus.OK


def test_a_record_stamped_in_the_future_gives_zero_seconds_not_negative() -> None:
    (g,) = LagBook().update([group(reading(0, 1, ts=T0 + 60_000))], T0)
    assert g.partitions[0].lag_seconds == 0.0


def test_lag_seconds_is_zero_when_the_timestamp_could_not_be_read() -> None:
    (g,) = LagBook().update([group(reading(0, 5, ts=None))], T0)
    assert (g.partitions[0].lag_records, g.partitions[0].lag_seconds) == (5, 0.0)


@pytest.mark.parametrize(
    ("retention_ms", "now", "headroom"),
    [
        (DAY_MS, T0 + 3_600_000, 82_800.0),
        (DAY_MS, T0 + 2 * DAY_MS, 0.0),
        (-1, T0, None),
        (None, T0, None),
    ],
    ids=[
        "a day of retention, an hour behind",
        "already past retention",
        "kept forever",
        "retention unknown",
    ],
)
def test_retention_headroom_is_a_lower_bound_from_the_first_unconsumed_record(
    retention_ms: int | None, now: int, headroom: float | None
) -> None:
    (g,) = LagBook().update([group(reading(0, 5, retention_ms=retention_ms))], now)
    assert g.partitions[0].retention_headroom_seconds == headroom


def test_a_group_whose_offset_stops_moving_with_records_waiting_becomes_stop() -> None:
    book = LagBook(StatusConfig(window=10, min_stop_seconds=60))
    statuses = []
    for second in (0, 10, 20, 30):  # consuming: offset moves every poll
        (g,) = book.update(
            [group(reading(second, second + 5, ts=T0 + second * 1000))], T0 + second * 1000
        )
        statuses.append(g.status.status)
    for second in (40, 70, 100, 140):  # stopped at offset 30 while records pile up
        (g,) = book.update([group(reading(30, second + 5, ts=T0 + 30_000))], T0 + second * 1000)
        statuses.append(g.status.status)
    assert statuses[:5] == [LagStatus.OK] * 5
    assert statuses[-1] is LagStatus.STOP
    assert "no commit for" in g.status.reason


def test_a_committed_offset_moving_backwards_is_rewind() -> None:
    book = LagBook()
    book.update([group(reading(50, 60))], T0)
    (g,) = book.update([group(reading(20, 60))], T0 + 1000)
    assert g.status.status is LagStatus.REWIND
    assert "moved back from 50 to 20" in g.status.reason


def test_offsets_advancing_while_lag_grows_at_every_poll_is_warn() -> None:
    book = LagBook(StatusConfig(window=5, min_stop_seconds=600))
    for i in range(5):
        (g,) = book.update([group(reading(10 * i, 20 * i + 5, ts=T0 + i * 1000))], T0 + i * 1000)
    assert g.status.status is LagStatus.WARN


def test_the_group_status_is_its_worst_partition() -> None:
    book = LagBook()
    book.update([group(reading(50, 60, partition=0), reading(5, 5, partition=1))], T0)
    (g,) = book.update([group(reading(20, 60, partition=0), reading(5, 5, partition=1))], T0 + 1000)
    assert [p.status.status for p in g.partitions] == [LagStatus.REWIND, LagStatus.OK]
    assert g.status.status is LagStatus.REWIND


def test_partitions_no_longer_reported_are_forgotten() -> None:
    book = LagBook()
    book.update([group(reading(50, 60))], T0)
    book.update([group(reading(5, 5, partition=1))], T0 + 1000)
    (g,) = book.update([group(reading(20, 60))], T0 + 2000)  # not a rewind: history was dropped
    assert g.status.status is not LagStatus.REWIND


def test_groups_come_out_sorted_by_id_with_partitions_sorted() -> None:
    groups = LagBook().update(
        [
            group(reading(1, 1, partition=2), reading(1, 1, partition=0), group_id="b"),
            group(reading(1, 1), group_id="a"),
        ],
        T0,
    )
    assert [g.group_id for g in groups] == ["a", "b"]
    assert [p.partition for p in groups[1].partitions] == [0, 2]
