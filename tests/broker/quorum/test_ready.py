"""The Ready/advance contract between a RaftNode and its I/O edge."""

from __future__ import annotations

import random

import pytest

from broker.quorum import (
    HardState,
    NodeStatus,
    NotLeader,
    RaftNode,
    Ready,
    Role,
    VoteRequest,
    VoteResponse,
)
from tests.broker.quorum.cluster import CLUSTER_ID, Cluster, config_for


def _voter(node_id: int = 1) -> RaftNode:
    return RaftNode(config_for(node_id, [1, 2, 3]), random.Random(0))


def test_a_vote_leaves_in_the_same_ready_that_persists_it() -> None:
    node = _voter()
    node.advance(node.ready())
    node.step(VoteRequest(CLUSTER_ID, 2, 1, 1, 0, 0, False))
    ready = node.ready()
    assert ready.hard_state == HardState(1, 2)
    assert ready.messages == (VoteResponse(CLUSTER_ID, 1, 2, 1, True),)
    assert ready.needs_sync


def test_the_first_ready_reports_the_status_and_later_ones_only_changes() -> None:
    node = _voter()
    first = node.ready()
    assert first.status == NodeStatus(0, None, Role.FOLLOWER)
    assert first.hard_state is None
    node.advance(first)
    assert not node.has_ready()
    node.step(VoteRequest(CLUSTER_ID, 2, 1, 1, 0, 0, False))
    second = node.ready()
    assert second.status == NodeStatus(1, None, Role.FOLLOWER)
    node.advance(second)
    assert not node.has_ready()


def test_a_second_ready_before_advance_is_refused_and_input_waits_for_the_next() -> None:
    node = _voter()
    ready = node.ready()
    assert not node.has_ready()
    with pytest.raises(RuntimeError, match="advance"):
        node.ready()
    node.step(VoteRequest(CLUSTER_ID, 2, 1, 1, 0, 0, False))
    assert not node.has_ready()
    node.advance(ready)
    assert node.ready().messages == (VoteResponse(CLUSTER_ID, 1, 2, 1, True),)


def test_advance_takes_only_the_ready_returned_last() -> None:
    node = _voter()
    node.ready()
    with pytest.raises(ValueError, match="returned last"):
        node.advance(Ready())


def test_a_leader_commits_its_own_entry_only_after_it_is_durable() -> None:
    node = RaftNode(config_for(1, [1]), random.Random(0))
    for _ in range(node.config.election_timeout_max_ticks):
        node.tick()
    assert node.is_leader
    ready = node.ready()
    assert [e.index for e in ready.entries] == [1]  # the no-op
    assert ready.committed_entries == ()
    node.advance(ready)
    ready = node.ready()
    assert [e.index for e in ready.committed_entries] == [1]
    assert ready.committed_entries[0].is_noop


def test_an_empty_payload_is_reserved_for_the_leaders_no_op() -> None:
    cluster = Cluster(1)
    cluster.elect(1)
    with pytest.raises(ValueError, match="no-op"):
        cluster.nodes[1].propose(b"")


def test_a_follower_refuses_proposals_with_the_leader_as_hint() -> None:
    cluster = Cluster(3)
    cluster.elect(2)
    result = cluster.nodes[1].propose(b"x")
    assert result == NotLeader(2, "node 1 is a follower")


@pytest.mark.parametrize(
    ("cluster_id", "sender", "receiver"),
    [
        pytest.param("another-cluster", 2, 1, id="from another cluster"),
        pytest.param(CLUSTER_ID, 9, 1, id="from a node outside the quorum"),
        pytest.param(CLUSTER_ID, 2, 3, id="addressed to another node"),
        pytest.param(CLUSTER_ID, 1, 1, id="from itself"),
    ],
)
def test_a_message_that_is_not_for_this_quorum_is_refused_and_counted(
    cluster_id: str, sender: int, receiver: int
) -> None:
    node = _voter()
    node.step(VoteRequest(cluster_id, sender, receiver, 5, 0, 0, False))
    assert node.refused_messages == 1
    assert node.term == 0
