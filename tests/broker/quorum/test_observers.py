"""Observers: brokers that follow the metadata log without voting."""

from __future__ import annotations

import pytest

from broker.quorum import (
    AppendEntries,
    AppendEntriesResponse,
    PreVoteRequest,
    PreVoteResponse,
    ProposeAccepted,
    Role,
    VoteRequest,
)
from tests.broker.quorum.cluster import CLUSTER_ID, Cluster


def test_an_observer_replicates_and_applies_the_log() -> None:
    cluster = Cluster(3, observers=2)
    cluster.elect(1)
    cluster.propose(1, b"topic created")
    cluster.tick_all(2)
    for observer in (4, 5):
        assert cluster.payloads(observer) == [b"topic created"]
        assert cluster.nodes[observer].status.leader_id == 1
        assert cluster.nodes[observer].role is Role.OBSERVER


def test_an_observer_never_campaigns() -> None:
    cluster = Cluster(3, observers=1)
    observer = cluster.nodes[4]
    for _ in range(20 * observer.config.election_timeout_max_ticks):
        observer.tick()
    cluster.flush([4])
    assert observer.role is Role.OBSERVER
    assert observer.term == 0
    assert cluster.in_flight == []


def test_an_observer_does_not_count_towards_the_majority() -> None:
    cluster = Cluster(3, observers=2)
    cluster.elect(1)
    cluster.isolate(2)
    cluster.isolate(3)
    result = cluster.nodes[1].propose(b"x")
    assert isinstance(result, ProposeAccepted)
    cluster.settle()
    assert cluster.nodes[4].log.last_index == result.index
    assert cluster.nodes[1].log.commit_index < result.index


def test_an_observer_refuses_to_vote() -> None:
    cluster = Cluster(3, observers=1)
    observer = cluster.nodes[4]
    observer.step(PreVoteRequest(CLUSTER_ID, 2, 4, 1, 0, 0))
    cluster.flush([4])
    [response] = [m for m in cluster.drop() if isinstance(m, PreVoteResponse)]
    assert not response.granted


def test_leader_and_candidate_messages_from_an_observer_are_refused() -> None:
    cluster = Cluster(3, observers=1)
    node = cluster.nodes[1]
    node.step(AppendEntries(CLUSTER_ID, 4, 1, 5, 0, 0, (), 0))
    node.step(VoteRequest(CLUSTER_ID, 4, 1, 5, 0, 0, False))
    assert node.refused_messages == 2
    assert node.term == 0


def test_a_cluster_of_voters_elects_without_its_observers() -> None:
    cluster = Cluster(3, observers=1)
    cluster.isolate(4)
    cluster.tick_all(60)
    assert len(cluster.leaders()) == 1


# -- observers that no voter's config lists (brokers that are not controller voters) --


def test_an_observer_no_voter_knows_gets_nothing_and_its_answers_are_refused() -> None:
    cluster = Cluster(3)
    cluster.elect(1)
    observer = cluster.start_unconfigured_observer(4)
    cluster.propose(1, b"topic created")
    cluster.tick_all(5)
    assert observer.leader_id is None
    assert cluster.payloads(4) == []
    cluster.nodes[1].step(AppendEntriesResponse(CLUSTER_ID, 4, 1, 1, True, 3, 0, 0, 0))
    assert cluster.nodes[1].refused_messages == 1


def test_an_observer_added_while_a_leader_runs_gets_the_log_and_learns_the_leader() -> None:
    cluster = Cluster(3)
    cluster.elect(1)
    cluster.propose(1, b"topic created")
    cluster.settle()
    observer = cluster.start_unconfigured_observer(4)
    cluster.announce_observer(4)
    cluster.settle()
    assert observer.leader_id == 1
    assert observer.role is Role.OBSERVER
    assert cluster.payloads(4) == [b"topic created"]
    assert cluster.nodes[1].observers == frozenset({4})


def test_a_leader_elected_after_the_observer_joined_replicates_to_it() -> None:
    cluster = Cluster(3)
    cluster.elect(1)
    cluster.start_unconfigured_observer(4)
    cluster.announce_observer(4)
    cluster.settle()
    cluster.isolate(1)
    cluster.tick_all(60)
    [leader] = [node for node in cluster.leaders() if node != 1]
    cluster.propose(leader, b"after failover")
    cluster.settle()
    assert cluster.nodes[4].leader_id == leader
    assert cluster.payloads(4) == [b"after failover"]


def test_an_added_observer_never_counts_towards_the_majority() -> None:
    cluster = Cluster(3)
    cluster.elect(1)
    cluster.start_unconfigured_observer(4)
    cluster.start_unconfigured_observer(5)
    cluster.announce_observer(4)
    cluster.announce_observer(5)
    cluster.settle()
    cluster.isolate(2)
    cluster.isolate(3)
    result = cluster.propose(1, b"x")
    cluster.settle()
    assert cluster.nodes[4].log.last_index == result.index
    assert cluster.nodes[1].log.commit_index < result.index


def test_a_removed_observer_gets_nothing_more() -> None:
    cluster = Cluster(3)
    cluster.elect(1)
    cluster.start_unconfigured_observer(4)
    cluster.announce_observer(4)
    cluster.settle()
    for voter in cluster.voter_ids:
        cluster.nodes[voter].remove_observer(4)
    cluster.propose(1, b"after it left")
    cluster.tick_all(5)
    assert cluster.payloads(4) == []
    assert cluster.nodes[1].observers == frozenset()


@pytest.mark.parametrize("node", [1, 2], ids=["itself", "another voter"])
def test_a_voter_or_the_node_itself_cannot_be_added_as_an_observer(node: int) -> None:
    cluster = Cluster(3)
    with pytest.raises(ValueError, match="cannot be added as an observer"):
        cluster.nodes[1].add_observer(node)
