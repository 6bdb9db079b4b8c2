"""A node rebuilt from what it persisted behaves as if it had never stopped."""

from __future__ import annotations

import random

from broker.quorum import (
    Entry,
    HardState,
    PersistedState,
    RaftNode,
    Snapshot,
    VoteRequest,
    VoteResponse,
)
from tests.broker.quorum.cluster import CLUSTER_ID, Cluster, config_for


def test_a_restarted_voter_remembers_its_term_and_its_vote() -> None:
    cluster = Cluster(3)
    node = cluster.nodes[2]
    node.step(VoteRequest(CLUSTER_ID, 1, 2, 1, 0, 0, False))
    cluster.flush([2])
    cluster.drop()
    cluster.crash(2)
    restarted = cluster.start(2)
    assert (restarted.term, restarted.voted_for) == (1, 1)
    restarted.step(VoteRequest(CLUSTER_ID, 3, 2, 1, 0, 0, False))
    cluster.flush([2])
    [response] = [m for m in cluster.drop() if isinstance(m, VoteResponse)]
    assert not response.granted


def test_a_whole_cluster_restarted_from_disk_recommits_and_reapplies_its_log() -> None:
    cluster = Cluster(3)
    cluster.elect(1)
    for i in range(5):
        cluster.propose(1, b"e%d" % i)
    cluster.tick_all(2)
    for node in (1, 2, 3):
        cluster.crash(node)
    for node in (1, 2, 3):
        assert cluster.start(node).log.commit_index == 0
    cluster.tick_all(60)
    assert len(cluster.leaders()) == 1
    for node in (1, 2, 3):
        assert cluster.payloads(node) == [b"e%d" % i for i in range(5)]


def test_a_node_whose_stored_entries_are_newer_than_its_hard_state_adopts_their_term() -> None:
    persisted = PersistedState(HardState(2, voted_for=3), entries=(Entry(4, 1, b"torn write"),))
    node = RaftNode(config_for(1, [1, 2, 3]), random.Random(0), persisted)
    assert (node.term, node.voted_for) == (4, None)
    assert node.ready().hard_state == HardState(4, None)


def test_a_restarted_node_starts_from_its_snapshot_and_learns_what_follows() -> None:
    cluster = Cluster(3)
    cluster.elect(1)
    for i in range(4):
        cluster.propose(1, b"e%d" % i)
    cluster.tick_all(2)
    node = cluster.nodes[2]
    node.compact(3, b"state@3")
    cluster.flush([2])
    cluster.crash(2)
    restarted = cluster.start(2)
    assert restarted.log.snapshot == Snapshot(3, 1, b"state@3")
    assert restarted.log.applied_index == 3
    cluster.tick_all(2)
    assert [e.index for e in cluster.applied[2]] == [4, 5]


def test_unsynced_output_is_lost_with_the_node_and_the_cluster_goes_on() -> None:
    cluster = Cluster(3)
    cluster.elect(1)
    cluster.propose(1, b"kept")
    cluster.settle()
    leader = cluster.nodes[1]
    leader.propose(b"lost")  # never flushed: not on disk, never sent
    cluster.crash(1)
    cluster.start(1)
    cluster.tick_all(60)
    [new_leader] = cluster.leaders()
    cluster.propose(new_leader, b"after")
    cluster.settle()
    for node in (1, 2, 3):
        assert cluster.payloads(node) == [b"kept", b"after"]
