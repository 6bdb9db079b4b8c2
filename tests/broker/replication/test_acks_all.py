"""acks=all: refusal before the append, and how waiting producers end (the pure
``ProduceWaiters`` and the leader's use of it)."""

from __future__ import annotations

import pytest

from broker.error_codes import KafkaError
from broker.replication import ProduceWaiters, WaiterOutcome
from tests.broker.replication.builders import fetch, leader_of
from tests.broker.replication.fakes import FakeLogs

NONE = KafkaError.NONE
AFTER_APPEND = KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND
TIMED_OUT = KafkaError.REQUEST_TIMED_OUT


@pytest.mark.parametrize(
    ("high_watermark", "isr_size", "now_ms", "error"),
    [
        (100, 2, 0, None),
        (101, 2, 0, NONE),
        (101, 1, 0, AFTER_APPEND),
        (100, 1, 0, AFTER_APPEND),
        (100, 2, 500, TIMED_OUT),
        (100, 2, 499, None),
        (101, 2, 900, NONE),
    ],
    ids=[
        "below the required offset: waits",
        "HW at the required offset: done",
        "HW there but the ISR too small: not enough replicas after append",
        "ISR too small before the HW gets there: answered at once",
        "deadline passed: timed out",
        "just before the deadline: waits",
        "HW there at the deadline: success wins",
    ],
)
def test_a_waiter_ends_by_these_rules(
    high_watermark: int, isr_size: int, now_ms: int, error: KafkaError | None
) -> None:
    waiters = ProduceWaiters()
    waiter = waiters.register(required_offset=101, deadline_ms=500)
    done = waiters.poll(
        high_watermark=high_watermark, isr_size=isr_size, min_insync_replicas=2, now_ms=now_ms
    )
    assert done == (() if error is None else (WaiterOutcome(waiter, error),))
    assert len(waiters) == (1 if error is None else 0)


def test_waiters_end_in_registration_order_and_only_those_that_are_due() -> None:
    waiters = ProduceWaiters()
    first = waiters.register(10, 1_000)
    second = waiters.register(20, 1_000)
    third = waiters.register(30, 1_000)
    done = waiters.poll(high_watermark=25, isr_size=1, min_insync_replicas=1, now_ms=0)
    assert done == (WaiterOutcome(first, NONE), WaiterOutcome(second, NONE))
    assert waiters.cancel(third)
    assert not waiters.cancel(third)
    assert len(waiters) == 0


def test_leadership_lost_fails_every_waiter_with_not_leader() -> None:
    leader = leader_of(isr=(1, 2))
    ids = [leader.register_acks_all(101 + i, 1_000, 0)[0] for i in range(3)]
    error = KafkaError.NOT_LEADER_OR_FOLLOWER
    assert leader.resign() == tuple(WaiterOutcome(i, error) for i in ids)
    assert leader.resign() == ()


@pytest.mark.parametrize(
    ("isr", "error"),
    [((1, 2), NONE), ((1,), KafkaError.NOT_ENOUGH_REPLICAS)],
    ids=["enough in-sync replicas", "fewer than min.insync.replicas"],
)
def test_an_acks_all_produce_is_refused_before_the_append_without_enough_replicas(
    isr: tuple[int, ...], error: KafkaError
) -> None:
    assert leader_of(isr=isr, min_insync=2).can_accept_acks_all() is error


def test_a_producer_is_answered_once_every_isr_replica_has_its_batch(make_log: FakeLogs) -> None:
    log = make_log([(5, 0)], end=100)
    leader = leader_of(isr=(1, 2), replicas=(1, 2), log_end=100, high_watermark=100)
    leader.on_leader_append(103, now_ms=0)
    waiter, done = leader.register_acks_all(103, deadline_ms=1_000, now_ms=0)
    assert done == ()
    decision = leader.on_follower_fetch(2, 103, 10, log)
    assert decision.update.completed == (WaiterOutcome(waiter, NONE),)


def test_a_waiter_is_done_at_once_when_the_hw_is_already_there() -> None:
    leader = leader_of(isr=(1,), log_end=100, high_watermark=100)
    leader.on_leader_append(103, now_ms=0)
    waiter, done = leader.register_acks_all(103, deadline_ms=1_000, now_ms=0)
    assert done == (WaiterOutcome(waiter, NONE),)


def test_the_isr_dropping_below_min_insync_answers_waiters_after_append(
    make_log: FakeLogs,
) -> None:
    log = make_log([(5, 0)], end=100)
    leader = leader_of(isr=(1, 2), replicas=(1, 2), log_end=100, min_insync=2)
    fetch(leader, 2, 100, log)
    leader.on_leader_append(103, now_ms=0)
    waiter, _ = leader.register_acks_all(103, deadline_ms=1_000, now_ms=0)
    update = leader.on_partition_state(5, 8, (1,), now_ms=10)
    assert update.completed == (WaiterOutcome(waiter, AFTER_APPEND),)


def test_waiters_time_out_on_the_leaders_timer() -> None:
    leader = leader_of(isr=(1, 2))
    waiter, _ = leader.register_acks_all(101, deadline_ms=1_000, now_ms=0)
    assert leader.poll_waiters(999) == ()
    assert leader.poll_waiters(1_000) == (WaiterOutcome(waiter, TIMED_OUT),)
