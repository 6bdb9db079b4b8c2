"""Data-loss accounting: every acknowledged record is consumed, deleted by retention,
pending, or lost, judged by identity (worker, sequence) and never by offset."""

from __future__ import annotations

import numpy as np

from loadtest.accounting import account
from loadtest.frames import ConsumerLedger, ProducerLedger


def producer(states: list[int], partitions: list[int], offsets: list[int]) -> ProducerLedger:
    return ProducerLedger(
        0,
        np.array(states, dtype=np.int8),
        np.array(partitions, dtype=np.int32),
        np.array(offsets, dtype=np.int64),
    )


def consumer(counts: list[int], group: str = "g") -> ConsumerLedger:
    return ConsumerLedger(0, group, {0: np.array(counts, dtype=np.uint16)})


def test_every_acknowledged_record_gets_exactly_one_fate() -> None:
    # seq:        0  1  2  3  4  5
    p = producer([1, 1, 1, 1, 2, 1], [0, 0, 0, 0, -1, 0], [0, 1, 2, 3, -1, 4])
    c = consumer([1, 0, 2, 0, 1, 0])
    (a,) = account([p], [c], log_start={0: 2}, committed={"g": {0: 4}}, groups=["g"])
    assert a.acknowledged == 5
    assert a.consumed == 2  # seq 0 and 2
    assert a.duplicates == 1  # seq 2 seen twice
    assert a.deleted_by_retention == 1  # seq 1: offset 1 is below the log start 2
    assert a.lost == 1  # seq 3: offset 3 is behind the committed offset 4, never seen
    assert a.pending == 1  # seq 5: offset 4 is not consumed yet
    assert a.failed == 1
    assert a.delivered_unacknowledged == 1  # seq 4 failed but was consumed
    assert a.lost_examples == ((0, 3, 0, 3),)
    assert a.consumed + a.deleted_by_retention + a.lost + a.pending == a.acknowledged, (
        "the fates partition the acknowledged records"
    )


def test_a_record_lost_in_a_crash_is_lost_even_when_its_offset_was_reused() -> None:
    # Seq 1 was acknowledged at offset 1, the broker lost it, and seq 2 got offset 1 too.
    p = producer([1, 1, 1], [0, 0, 0], [0, 1, 1])
    c = consumer([1, 0, 1])
    (a,) = account([p], [c], log_start={0: 0}, committed={"g": {0: 2}}, groups=["g"])
    assert a.lost == 1
    assert a.consumed == 2


def test_each_group_is_accounted_for_separately() -> None:
    p = producer([1, 1], [0, 0], [0, 1])
    seen = consumer([1, 1], "fast")
    behind = consumer([1, 0], "slow")
    fast, slow = account(
        [p], [seen, behind], {0: 0}, {"fast": {0: 2}, "slow": {0: 1}}, ["fast", "slow"]
    )
    assert (fast.consumed, fast.pending) == (2, 0)
    assert (slow.consumed, slow.pending) == (1, 1)


def test_without_a_committed_offset_unseen_records_are_pending_not_lost() -> None:
    p = producer([1], [0], [0])
    (a,) = account([p], [consumer([0])], {0: 0}, {}, ["g"])
    assert (a.lost, a.pending) == (0, 1)
