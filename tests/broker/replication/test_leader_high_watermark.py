"""The leader's high watermark: the minimum log end over the (maximal) ISR, the
leader's flushed offset under the durable policy, gated by min.insync.replicas, never
backwards."""

from __future__ import annotations

import pytest

from broker.replication import IsrChangeKind
from tests.broker.replication.builders import fetch, leader_of
from tests.broker.replication.fakes import FakeLogs


def test_the_high_watermark_is_the_smallest_log_end_in_the_isr(make_log: FakeLogs) -> None:
    log = make_log([(5, 0)], end=100)
    leader = leader_of(log_end=100)
    assert fetch(leader, 2, 60, log) == 0  # follower 3 has not fetched yet
    assert fetch(leader, 3, 80, log) == 60
    assert fetch(leader, 2, 100, log) == 80
    assert fetch(leader, 3, 100, log) == 100


def test_a_new_leader_waits_for_every_isr_follower_to_fetch(make_log: FakeLogs) -> None:
    log = make_log([(5, 0)], end=100)
    leader = leader_of(log_end=100, high_watermark=40)
    assert leader.high_watermark == 40
    assert fetch(leader, 2, 100, log) == 40
    assert fetch(leader, 3, 100, log) == 100


def test_followers_outside_the_isr_do_not_hold_the_high_watermark_back(
    make_log: FakeLogs,
) -> None:
    log = make_log([(5, 0)], end=100)
    leader = leader_of(isr=(1, 2), log_end=100)
    fetch(leader, 3, 10, log)
    assert fetch(leader, 2, 90, log) == 90


@pytest.mark.parametrize(
    ("durable", "flushed", "expected"),
    [(False, 50, 100), (True, 50, 50), (True, 100, 100)],
    ids=["interval policy: the log end", "durable: the flushed offset", "durable, all flushed"],
)
def test_the_leader_counts_its_flushed_offset_under_the_durable_policy(
    make_log: FakeLogs, durable: bool, flushed: int, expected: int
) -> None:
    log = make_log([(5, 0)], end=100)
    leader = leader_of(replicas=(1, 2), log_end=100, durable=durable, flushed=flushed)
    assert fetch(leader, 2, 100, log) == expected


def test_a_flush_advances_the_durable_high_watermark_and_reports_it(make_log: FakeLogs) -> None:
    log = make_log([(5, 0)], end=100)
    leader = leader_of(replicas=(1, 2), log_end=100, durable=True, flushed=0)
    fetch(leader, 2, 100, log)
    update = leader.on_leader_flushed(70, now_ms=0)
    assert (update.high_watermark, update.high_watermark_advanced) == (70, True)
    assert leader.on_leader_flushed(60, now_ms=0).high_watermark == 70  # older flush


def test_an_append_alone_advances_a_leader_that_is_its_only_in_sync_replica() -> None:
    leader = leader_of(isr=(1,), log_end=100, high_watermark=100)
    update = leader.on_leader_append(130, now_ms=0)
    assert (update.high_watermark, update.high_watermark_advanced) == (130, True)


def test_the_high_watermark_never_moves_backwards(make_log: FakeLogs) -> None:
    log = make_log([(5, 0)], end=100)
    leader = leader_of(replicas=(1, 2), log_end=100)
    assert fetch(leader, 2, 90, log) == 90
    assert fetch(leader, 2, 50, log) == 90


def test_the_starting_high_watermark_is_clamped_to_the_log_end() -> None:
    assert leader_of(log_end=30, high_watermark=80).high_watermark == 30


def test_the_high_watermark_stays_while_the_isr_is_smaller_than_min_insync(
    make_log: FakeLogs,
) -> None:
    log = make_log([(5, 0)], end=100)
    leader = leader_of(isr=(1, 2), log_end=100, min_insync=2, high_watermark=20)
    assert fetch(leader, 2, 100, log) == 100
    leader.on_partition_state(5, 8, (1,), now_ms=0)
    assert leader.on_leader_append(150, now_ms=0).high_watermark == 100
    leader.on_partition_state(5, 9, (1, 3), now_ms=0)
    assert fetch(leader, 3, 150, log) == 150


def test_a_replica_being_added_holds_the_high_watermark_back_at_once(make_log: FakeLogs) -> None:
    log = make_log([(5, 0)], end=100)
    leader = leader_of(isr=(1, 2), log_end=100, high_watermark=50, epoch_start=0)
    decision = leader.on_follower_fetch(3, 60, 0, log)
    assert decision.isr_change is not None
    assert decision.isr_change.kind is IsrChangeKind.EXPAND
    assert fetch(leader, 2, 100, log) == 60  # the maximal ISR includes 3


def test_replicas_being_removed_hold_it_back_until_the_removal_commits(
    make_log: FakeLogs,
) -> None:
    log = make_log([(5, 0)], end=100)
    leader = leader_of(log_end=100, now_ms=0)
    fetch(leader, 3, 40, log)
    fetch(leader, 2, 100, log, now_ms=15_000)
    change = leader.maybe_shrink_isr(now_ms=20_000)
    assert change is not None and change.new_isr == (1, 2)
    assert leader.high_watermark == 40
    update = leader.on_partition_state(5, 8, (1, 2), now_ms=20_000)
    assert (update.high_watermark, update.high_watermark_advanced) == (100, True)
