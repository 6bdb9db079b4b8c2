"""Partition and broker state for the metrics, from a metadata image, and the ISR
changes a leader counts from the delta its image moved by."""

from __future__ import annotations

import uuid

from broker.metadata.delta import delta
from broker.metadata.image import MetadataImage
from broker.metadata.records import (
    FenceBroker,
    MetadataRecord,
    Partition,
    PartitionChange,
    RegisterBroker,
    Topic,
    UnfenceBroker,
)
from broker.metrics.isr_changes import count_isr_changes
from broker.metrics.partition_state import broker_counts, partition_states
from broker.metrics.stats import ReplicationStats
from tests.broker.metadata.harness import CLUSTER_ID, incarnation, listeners_for

ORDERS = uuid.UUID("00000000-0000-4000-8000-000000000001")


def image_of(*extra: MetadataRecord) -> MetadataImage:
    """Brokers 1-3 (3 fenced); orders (min.insync.replicas 2): partition 0 on (1,2,3)
    led by 1 with ISR (1,2), partition 1 on (2,3) led by 3 with ISR (3,), partition 2
    on (3,1) offline."""
    records: list[MetadataRecord] = [
        RegisterBroker(n, incarnation(n), n, listeners_for(n), None) for n in (1, 2, 3)
    ]
    records += [UnfenceBroker(n, n) for n in (1, 2, 3)]
    records += [
        Topic("orders", ORDERS, {"min.insync.replicas": "2"}),
        Partition(ORDERS, 0, (1, 2, 3), (1, 2), 1, 0, 0),
        Partition(ORDERS, 1, (2, 3), (3,), 3, 0, 0),
        Partition(ORDERS, 2, (3, 1), (3,), -1, 0, 0),
        FenceBroker(3, 3),
        *extra,
    ]
    return MetadataImage.empty(CLUSTER_ID).replay((r, i) for i, r in enumerate(records))


def test_each_partition_says_whether_it_is_under_replicated_at_or_under_min_isr_or_offline() -> (
    None
):
    states = {p.partition: p for p in partition_states(image_of())}

    first, second, third = states[0], states[1], states[2]
    assert (first.leader, len(first.replicas), len(first.isr), first.min_insync_replicas) == (
        1,
        3,
        2,
        2,
    )
    assert first.under_replicated and first.at_min_isr and not first.under_min_isr
    assert first.leader_is_preferred and not first.offline
    assert second.under_min_isr and not second.leader_is_preferred
    assert third.offline and third.leader == -1


def test_brokers_are_counted_registered_and_fenced_per_node() -> None:
    counts = broker_counts(image_of())

    assert counts.fenced == {1: False, 2: False, 3: True}
    assert (counts.registered, counts.fenced_count, counts.unfenced_count) == (3, 1, 2)


def test_a_leader_counts_an_isr_shrink_and_an_expansion_of_its_own_partitions_only() -> None:
    before = image_of()
    shrunk = before.apply(PartitionChange(ORDERS, 0, None, (1,), 0, 1), before.last_offset + 1)
    grown = shrunk.apply(PartitionChange(ORDERS, 0, None, (1, 3), 0, 2), shrunk.last_offset + 1)
    leader, follower = ReplicationStats(), ReplicationStats()

    for old, new in ((before, shrunk), (shrunk, grown)):
        count_isr_changes(leader, delta(old, new, 1))
        count_isr_changes(follower, delta(old, new, 2))

    assert (leader.isr_shrinks, leader.isr_expands) == (1, 1)
    assert (follower.isr_shrinks, follower.isr_expands) == (0, 0)


def test_a_new_leadership_is_no_isr_change() -> None:
    before = image_of()
    moved = before.apply(PartitionChange(ORDERS, 0, 2, (2,), 1, 1), before.last_offset + 1)
    stats = ReplicationStats()

    count_isr_changes(stats, delta(before, moved, 2))

    assert (stats.isr_shrinks, stats.isr_expands) == (0, 0)
