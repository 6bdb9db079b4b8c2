"""Compaction into snapshots, and InstallSnapshot for followers that fell behind it."""

from __future__ import annotations

import pytest

from broker.quorum import (
    Entry,
    HardState,
    InstallSnapshot,
    InstallSnapshotResponse,
    PersistedState,
    Snapshot,
)
from tests.broker.quorum.cluster import CLUSTER_ID, Cluster, of_type, to


def _cluster_with_compacted_leader(entries: int = 10) -> Cluster:
    """Leader 1 applied ``entries`` proposals (node 3 missed them all) and compacted."""
    cluster = Cluster(3)
    cluster.elect(1)
    cluster.isolate(3)
    for i in range(entries):
        cluster.propose(1, b"e%d" % i)
    cluster.settle()
    leader = cluster.nodes[1]
    leader.compact(leader.log.applied_index, b"state-at-%d" % leader.log.applied_index)
    cluster.flush()
    return cluster


def test_compaction_drops_applied_entries_and_hands_the_snapshot_to_storage() -> None:
    cluster = Cluster(1)
    cluster.elect(1)
    for i in range(5):
        cluster.propose(1, b"e%d" % i)
    node = cluster.nodes[1]
    node.compact(4, b"state")
    ready = node.ready()
    assert ready.snapshot == Snapshot(4, 1, b"state")
    assert not ready.restore_snapshot
    node.advance(ready)
    assert node.log.first_index == 5
    disk = cluster.disks[1].after(ready)
    assert [e.index for e in disk.entries] == [5, 6]


def test_compaction_beyond_the_applied_index_is_refused() -> None:
    cluster = Cluster(1)
    cluster.elect(1)
    node = cluster.nodes[1]
    with pytest.raises(ValueError, match="only 1 is applied"):
        node.compact(5, b"state")


def test_compaction_at_or_below_the_current_snapshot_changes_nothing() -> None:
    cluster = Cluster(1)
    cluster.elect(1)
    cluster.propose(1, b"a")
    node = cluster.nodes[1]
    node.compact(2, b"s2")
    cluster.flush()
    node.compact(1, b"s1")
    assert not node.has_ready()
    assert node.log.snapshot.index == 2


def test_a_follower_behind_the_leaders_snapshot_installs_it_and_then_follows() -> None:
    cluster = _cluster_with_compacted_leader()
    cluster.heal()
    cluster.tick_all(2)
    follower = cluster.nodes[3]
    assert follower.log.snapshot == cluster.nodes[1].log.snapshot
    assert cluster.disks[3].snapshot.data == b"state-at-11"
    cluster.propose(1, b"after")
    cluster.settle()
    assert cluster.payloads(3) == [b"after"]  # the rest came in the snapshot
    assert follower.log.applied_index == cluster.nodes[1].log.applied_index


def test_the_follower_is_told_to_restore_its_state_machine_from_the_snapshot() -> None:
    cluster = _cluster_with_compacted_leader()
    cluster.heal()
    cluster.nodes[1].tick()
    cluster.nodes[1].tick()
    cluster.flush()
    for _ in range(5):
        cluster.deliver(lambda m: not isinstance(m, InstallSnapshot))
    install = [m for m in cluster.drop() if isinstance(m, InstallSnapshot)]
    assert install
    follower = cluster.nodes[3]
    follower.step(install[0])
    ready = follower.ready()
    assert ready.restore_snapshot
    assert ready.snapshot == Snapshot(11, 1, b"state-at-11")
    assert ready.committed_entries == ()
    assert ready.messages == (InstallSnapshotResponse(CLUSTER_ID, 3, 1, 1, 11),)


def test_a_lost_install_snapshot_is_sent_again() -> None:
    cluster = _cluster_with_compacted_leader()
    cluster.heal()
    leader = cluster.nodes[1]
    sent = 0
    for _ in range(3 * leader.config.election_timeout_min_ticks):
        leader.tick()
        cluster.flush([1])
        sent += len(cluster.drop(of_type(InstallSnapshot)))
        cluster.deliver()
    assert sent >= 2
    cluster.tick_all(2)
    assert cluster.nodes[3].log.snapshot.index == 11


def test_a_snapshot_the_follower_already_covers_is_acknowledged_without_change() -> None:
    cluster = Cluster(3)
    cluster.elect(1)
    for i in range(3):
        cluster.propose(1, b"e%d" % i)
    cluster.settle()
    cluster.tick_all(1)
    follower = cluster.nodes[2]
    commit = follower.log.commit_index
    follower.step(InstallSnapshot(CLUSTER_ID, 1, 2, 1, 2, 1, b"old"))
    cluster.flush([2])
    assert follower.log.snapshot.index == 0
    [reply] = cluster.drop(to(1))
    assert reply == InstallSnapshotResponse(CLUSTER_ID, 2, 1, 1, commit)


def _follower(entries: tuple[Entry, ...]) -> Cluster:
    cluster = Cluster(3)
    cluster.disks[2] = PersistedState(HardState(2), entries=entries)
    cluster.start(2)
    return cluster


def test_a_follower_that_holds_the_snapshots_last_entry_keeps_what_follows() -> None:
    entries = tuple(Entry(1, i, b"e%d" % i) for i in range(1, 6))
    cluster = _follower(entries)
    follower = cluster.nodes[2]
    follower.step(InstallSnapshot(CLUSTER_ID, 1, 2, 2, 3, 1, b"s"))
    assert follower.log.snapshot.index == 3
    assert follower.log.last_index == 5
    ready = follower.ready()
    assert cluster.disks[2].after(ready).entries == entries[3:]


def test_a_follower_whose_log_conflicts_with_the_snapshot_discards_it_all() -> None:
    entries = tuple(Entry(1, i, b"e%d" % i) for i in range(1, 6))
    cluster = _follower(entries)
    follower = cluster.nodes[2]
    follower.step(InstallSnapshot(CLUSTER_ID, 1, 2, 2, 3, 2, b"s"))
    assert (follower.log.snapshot.index, follower.log.last_index) == (3, 3)
    ready = follower.ready()
    assert cluster.disks[2].after(ready).entries == ()
