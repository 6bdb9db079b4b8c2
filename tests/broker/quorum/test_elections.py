"""Elections: who may vote for whom, pre-vote, the leader lease and check-quorum."""

from __future__ import annotations

import random

import pytest

from broker.quorum import (
    AppendEntries,
    Entry,
    HardState,
    PersistedState,
    PreVoteRequest,
    PreVoteResponse,
    RaftNode,
    Role,
    VoteRequest,
    VoteResponse,
)
from tests.broker.quorum.cluster import CLUSTER_ID, Cluster, config_for, of_type


def _node_with_log(terms: list[int], term: int, voted_for: int | None = None) -> RaftNode:
    """Voter 1 of {1, 2, 3} whose log holds entries with ``terms``."""
    entries = tuple(Entry(t, i, b"x") for i, t in enumerate(terms, start=1))
    persisted = PersistedState(HardState(term, voted_for), entries=entries)
    return RaftNode(config_for(1, [1, 2, 3]), random.Random(0), persisted)


def _responses(node: RaftNode) -> list[object]:
    return list(node.ready().messages)


@pytest.mark.parametrize(
    ("my_terms", "candidate_last", "granted"),
    [
        pytest.param([1, 1, 2], (3, 2), True, id="an equally up-to-date log gets the vote"),
        pytest.param([1, 1, 2], (5, 2), True, id="a longer log of the same last term gets it"),
        pytest.param([1, 1, 2], (1, 3), True, id="a later last term wins over a longer log"),
        pytest.param([1, 1, 2], (2, 2), False, id="a shorter log of the same last term does not"),
        pytest.param([1, 1, 2], (9, 1), False, id="an older last term loses however long"),
        pytest.param([], (0, 0), True, id="two empty logs are equally up to date"),
    ],
)
def test_a_vote_goes_only_to_a_log_at_least_as_up_to_date(
    my_terms: list[int], candidate_last: tuple[int, int], granted: bool
) -> None:
    node = _node_with_log(my_terms, term=3)
    index, term = candidate_last
    node.step(VoteRequest(CLUSTER_ID, 2, 1, 4, index, term, False))
    [response] = _responses(node)
    assert response == VoteResponse(CLUSTER_ID, 1, 2, 4, granted)


def test_a_follower_with_a_stale_log_does_not_get_the_vote() -> None:
    cluster = Cluster(3)
    cluster.elect(1)
    cluster.isolate(3)
    cluster.propose(1, b"only on 1 and 2")
    cluster.settle()
    cluster.heal()
    node2 = cluster.nodes[2]
    stale = cluster.nodes[3].log  # one entry behind node 2's
    # (leadership_transfer: as if the leader had asked, so node 2's lease does not apply)
    node2.step(VoteRequest(CLUSTER_ID, 3, 2, 9, stale.last_index, stale.last_term, True))
    cluster.flush([2])
    [response] = [m for m in cluster.drop() if isinstance(m, VoteResponse)]
    assert not response.granted
    assert node2.voted_for is None


@pytest.mark.parametrize(
    ("voted_for", "candidate", "granted"),
    [
        pytest.param(None, 2, True, id="a voter that has not voted grants"),
        pytest.param(2, 2, True, id="a repeated request from the same candidate is granted again"),
        pytest.param(3, 2, False, id="a voter that voted for another candidate refuses"),
    ],
)
def test_a_voter_grants_one_vote_per_term(
    voted_for: int | None, candidate: int, granted: bool
) -> None:
    node = _node_with_log([1], term=2, voted_for=voted_for)
    node.step(VoteRequest(CLUSTER_ID, candidate, 1, 2, 1, 1, False))
    [response] = _responses(node)
    assert isinstance(response, VoteResponse)
    assert response.granted is granted
    assert node.voted_for == (candidate if granted else voted_for)


def test_a_vote_request_from_an_older_term_is_refused_with_the_current_term() -> None:
    node = _node_with_log([1], term=5)
    node.step(VoteRequest(CLUSTER_ID, 2, 1, 3, 1, 1, False))
    assert _responses(node) == [VoteResponse(CLUSTER_ID, 1, 2, 5, False)]


def test_a_pre_vote_changes_neither_the_term_nor_the_vote_of_the_receiver() -> None:
    node = _node_with_log([1], term=2)
    node.step(PreVoteRequest(CLUSTER_ID, 2, 1, 3, 1, 1))
    assert _responses(node) == [PreVoteResponse(CLUSTER_ID, 1, 2, 3, True)]
    assert (node.term, node.voted_for) == (2, None)


def test_the_first_voter_to_time_out_becomes_leader_and_everyone_follows() -> None:
    cluster = Cluster(3)
    leader = cluster.elect(2)
    assert leader.status.term == 1
    for node_id in (1, 3):
        assert cluster.nodes[node_id].status.leader_id == 2
        assert cluster.nodes[node_id].role is Role.FOLLOWER


def test_a_single_voter_elects_itself_and_commits_alone() -> None:
    cluster = Cluster(1)
    cluster.elect(1)
    cluster.propose(1, b"alone")
    assert cluster.payloads(1) == [b"alone"]


@pytest.mark.parametrize("seed", range(5), ids=lambda seed: f"seed {seed}")
def test_ticking_everyone_ends_with_exactly_one_leader(seed: int) -> None:
    cluster = Cluster(5, seed=seed)
    cluster.tick_all(60)
    assert len(cluster.leaders()) == 1
    terms = {node.term for node in cluster.nodes.values()}
    assert len(terms) == 1


def test_a_rejoining_partitioned_node_does_not_disrupt_the_term() -> None:
    cluster = Cluster(3)
    cluster.elect(1)
    cluster.isolate(3)
    cluster.tick_all(100)  # node 3 times out again and again, but only pre-votes
    assert cluster.nodes[3].term == 1
    cluster.heal()
    cluster.tick_all(30)
    assert cluster.leaders() == [1]
    assert {node.term for node in cluster.nodes.values()} == {1}


def test_without_pre_vote_a_rejoining_node_forces_a_new_term() -> None:
    cluster = Cluster(3, pre_vote=False)
    cluster.elect(1)
    cluster.isolate(3)
    cluster.tick_all(100)
    assert cluster.nodes[3].term > 1
    cluster.heal()
    cluster.tick_all(60)
    assert {node.term for node in cluster.nodes.values()} != {1}


def test_a_voter_that_hears_from_a_leader_ignores_vote_requests() -> None:
    cluster = Cluster(3)
    cluster.elect(1)
    node2 = cluster.nodes[2]
    last = node2.log
    node2.step(VoteRequest(CLUSTER_ID, 3, 2, 7, last.last_index, last.last_term, False))
    node2.step(PreVoteRequest(CLUSTER_ID, 3, 2, 7, last.last_index, last.last_term))
    cluster.flush([2])
    assert cluster.drop(of_type(VoteResponse, PreVoteResponse)) == []
    assert (node2.term, node2.status.leader_id) == (1, 1)


def test_a_leader_cut_off_from_the_majority_steps_down_within_an_election_timeout() -> None:
    cluster = Cluster(3)
    leader = cluster.elect(1)
    cluster.isolate(1)
    timeout = leader.config.election_timeout_min_ticks
    cluster.tick(1, 2 * timeout)
    assert leader.role is Role.FOLLOWER
    assert leader.status.leader_id is None
    assert leader.term == 1


def test_without_check_quorum_a_cut_off_leader_goes_on_leading() -> None:
    cluster = Cluster(3, check_quorum=False)
    leader = cluster.elect(1)
    cluster.isolate(1)
    cluster.tick(1, 10 * leader.config.election_timeout_max_ticks)
    assert leader.role is Role.LEADER


def test_a_leader_that_hears_from_the_majority_stays_leader() -> None:
    cluster = Cluster(5)
    cluster.elect(1)
    cluster.isolate(5)
    cluster.isolate(4)
    cluster.tick_all(100)
    assert cluster.nodes[1].role is Role.LEADER


def test_a_minority_cannot_elect_a_leader_and_the_majority_can() -> None:
    cluster = Cluster(5)
    cluster.elect(1)
    cluster.split([1, 2], [3, 4, 5])
    cluster.tick_all(100)
    leaders = cluster.leaders()
    assert len(leaders) == 1
    assert leaders[0] in (3, 4, 5)
    assert cluster.nodes[1].role is not Role.LEADER


def test_a_candidate_that_hears_from_the_leader_of_its_term_steps_down() -> None:
    node = _node_with_log([1], term=1)
    node.step(PreVoteResponse(CLUSTER_ID, 2, 1, 2, True))  # ignored: not a pre-candidate
    for _ in range(node.config.election_timeout_max_ticks):
        node.tick()
    assert node.role is Role.PRE_CANDIDATE
    node.step(PreVoteResponse(CLUSTER_ID, 2, 1, 2, True))
    assert (node.role, node.term) == (Role.CANDIDATE, 2)
    node.step(AppendEntries(CLUSTER_ID, 3, 1, 2, 1, 1, (), 0))
    assert node.status.role is Role.FOLLOWER
    assert node.status.leader_id == 3


def test_a_stale_leader_steps_down_when_it_hears_a_newer_term() -> None:
    cluster = Cluster(3)
    old = cluster.elect(1)
    cluster.isolate(1)
    for _ in range(3 * old.config.election_timeout_max_ticks):
        for node_id in (2, 3):
            cluster.nodes[node_id].tick()
        cluster.settle()
    [new_leader] = [n for n in (2, 3) if cluster.nodes[n].is_leader]
    old.step(AppendEntries(CLUSTER_ID, new_leader, 1, cluster.nodes[new_leader].term, 0, 0, (), 0))
    assert old.role is Role.FOLLOWER
    assert old.status.leader_id == new_leader
