"""The fetch purgatory: which events complete which waiters, and what a wait leaves
behind when it ends by data, by expiry or by cancellation. No sockets, no sleeping:
the waits that must expire are ended explicitly (cancelled, as asyncio.wait_for does)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.cluster.purgatory import FetchPurgatory, PartitionKey
from broker.records.record import Record, build_batch
from contracts.clock import ManualClock
from tests.broker.cluster.replicas import ManagedReplicas, open_replicas, produce

A: PartitionKey = ("orders", 0)
B: PartitionKey = ("orders", 1)
C: PartitionKey = ("payments", 0)


async def test_a_waiter_is_completed_when_its_partition_gets_data() -> None:
    purgatory = FetchPurgatory()
    future = purgatory.watch([A])
    purgatory.notify(A)
    assert future.done()
    assert future.result() is None


async def test_data_on_another_partition_leaves_the_waiter_waiting() -> None:
    purgatory = FetchPurgatory()
    future = purgatory.watch([A])
    purgatory.notify(B)
    purgatory.notify(("other", 0))
    assert not future.done()
    assert purgatory.waiting == 1


@pytest.mark.parametrize(
    "first",
    [pytest.param(A, id="the first partition"), pytest.param(C, id="the last partition")],
)
async def test_a_waiter_on_several_partitions_is_completed_by_any_of_them(
    first: PartitionKey,
) -> None:
    purgatory = FetchPurgatory()
    future = purgatory.watch([A, B, C])
    assert purgatory.waiting == 1  # counted once, not once per partition
    purgatory.notify(first)
    assert future.done()
    for key in (A, B, C):
        purgatory.notify(key)  # the other partitions find it done and skip it
    assert future.result() is None


async def test_one_notification_completes_every_waiter_of_the_partition() -> None:
    purgatory = FetchPurgatory()
    futures = [purgatory.watch([A]) for _ in range(1_000)]
    others = [purgatory.watch([B]) for _ in range(10)]
    purgatory.notify(A)
    assert all(f.done() for f in futures)
    assert not any(f.done() for f in others)
    assert purgatory.waiting == len(others)


async def test_a_waiter_completed_once_is_not_seen_by_later_notifications() -> None:
    purgatory = FetchPurgatory()
    purgatory.watch([A])
    purgatory.notify(A)
    assert purgatory.waiting == 0
    later = purgatory.watch([A])
    assert not later.done()
    purgatory.notify(A)
    assert later.done()


async def test_a_notification_without_waiters_does_nothing() -> None:
    purgatory = FetchPurgatory()
    purgatory.notify(A)
    assert purgatory.waiting == 0


async def test_a_cancelled_waiter_is_skipped_by_the_notification() -> None:
    purgatory = FetchPurgatory()
    cancelled = purgatory.watch([A])
    waiting = purgatory.watch([A])
    cancelled.cancel()
    purgatory.notify(A)  # must not raise InvalidStateError on the cancelled future
    assert cancelled.cancelled()
    assert waiting.done()


async def test_unwatching_removes_the_waiter_from_every_partition() -> None:
    purgatory = FetchPurgatory()
    future = purgatory.watch([A, B])
    kept = purgatory.watch([B])
    purgatory.unwatch([A, B], future)
    assert purgatory.waiting == 1
    purgatory.notify(A)
    purgatory.notify(B)
    assert not future.done()
    assert kept.done()
    assert purgatory.waiting == 0


async def test_unwatching_what_was_never_watched_is_harmless() -> None:
    purgatory = FetchPurgatory()
    stranger = asyncio.get_running_loop().create_future()
    watched = purgatory.watch([A])
    purgatory.unwatch([A, B, C], stranger)
    purgatory.unwatch([A, A], watched)  # a key listed twice
    assert purgatory.waiting == 0


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    interests=st.lists(
        st.sets(st.integers(0, 19), min_size=1, max_size=5), min_size=1, max_size=60
    ),
    notified=st.lists(st.integers(0, 19), max_size=25),
)
def test_each_waiter_completes_exactly_when_one_of_its_partitions_is_notified(
    interests: list[set[int]], notified: list[int]
) -> None:
    async def scenario() -> None:
        purgatory = FetchPurgatory()
        futures = [purgatory.watch([("t", p) for p in keys]) for keys in interests]
        for partition in notified:
            purgatory.notify(("t", partition))
        woken = set(notified)
        for keys, future in zip(interests, futures, strict=True):
            assert future.done() == bool(keys & woken)
        assert purgatory.waiting == sum(1 for keys in interests if not keys & woken)
        for keys, future in zip(interests, futures, strict=True):
            purgatory.unwatch([("t", p) for p in keys], future)
        assert purgatory.waiting == 0

    asyncio.run(scenario())


# -- waits through the ReplicaManager ------------------------------------------------


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[ManagedReplicas]:
    with open_replicas(tmp_path / "data", ManualClock()) as manager:
        manager.create_topic("orders", 2)
        yield manager


async def _until_waiting(replicas: ManagedReplicas, count: int) -> None:
    """Yield to the loop until ``count`` fetches wait (bounded only against a hang)."""
    for _ in range(10_000):
        if replicas.purgatory.waiting == count:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{replicas.purgatory.waiting} waiters, expected {count}")


@pytest.mark.parametrize(
    "timeout_s", [pytest.param(0, id="no wait"), pytest.param(-1, id="a negative wait")]
)
async def test_a_fetch_that_may_not_wait_returns_without_registering(
    replicas: ManagedReplicas, timeout_s: float
) -> None:
    await replicas.wait_for_data([A], timeout_s)
    assert replicas.purgatory.waiting == 0


async def test_an_append_ends_the_wait_of_a_fetch_on_that_partition(
    replicas: ManagedReplicas,
) -> None:
    fetch = asyncio.create_task(replicas.wait_for_data([A, B], 3_600))
    await _until_waiting(replicas, 1)
    partition = replicas.get(*B)
    assert partition is not None
    produce(replicas, partition, 1_000)
    await asyncio.wait_for(fetch, 60)  # the bound only stops a hang
    assert replicas.purgatory.waiting == 0


async def test_a_retried_idempotent_batch_does_not_end_a_wait(replicas: ManagedReplicas) -> None:
    partition = replicas.get(*A)
    assert partition is not None
    raw = build_batch([Record(b"v")], producer_id=1, producer_epoch=0, base_sequence=0)
    replicas.append(partition, raw)
    fetch = asyncio.create_task(replicas.wait_for_data([A], 3_600))
    await _until_waiting(replicas, 1)
    assert replicas.append(partition, raw).duplicate  # stores nothing, so wakes no one
    assert replicas.purgatory.waiting == 1
    fetch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await fetch


async def test_deleting_the_topic_ends_the_wait_of_its_fetches(replicas: ManagedReplicas) -> None:
    fetch = asyncio.create_task(replicas.wait_for_data([A], 3_600))
    await _until_waiting(replicas, 1)
    replicas.delete_topic("orders")
    await asyncio.wait_for(fetch, 60)
    assert replicas.purgatory.waiting == 0


async def test_a_cancelled_fetch_leaves_no_waiter_behind(replicas: ManagedReplicas) -> None:
    fetches = [asyncio.create_task(replicas.wait_for_data([A, B], 3_600)) for _ in range(50)]
    await _until_waiting(replicas, 50)
    for fetch in fetches:
        fetch.cancel()
    results = await asyncio.gather(*fetches, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    assert replicas.purgatory.waiting == 0


async def test_an_expired_fetch_returns_and_leaves_no_waiter_behind(
    replicas: ManagedReplicas,
) -> None:
    # No data ever arrives, so this wait can only end by expiring, whatever the timing.
    await replicas.wait_for_data([A], 0.001)
    assert replicas.purgatory.waiting == 0
