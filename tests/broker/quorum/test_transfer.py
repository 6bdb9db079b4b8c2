"""Leadership transfer: catch the target up, then TimeoutNow."""

from __future__ import annotations

import pytest

from broker.quorum import NotLeader, Role, TimeoutNow, VoteRequest
from tests.broker.quorum.cluster import Cluster, of_type


def test_leadership_moves_to_an_up_to_date_voter() -> None:
    cluster = Cluster(3)
    cluster.elect(1)
    cluster.tick_all(2)
    assert cluster.nodes[1].transfer_leadership(2)
    cluster.settle()
    assert cluster.leaders() == [2]
    assert cluster.nodes[2].term == 2
    assert cluster.nodes[1].role is Role.FOLLOWER


def test_a_lagging_target_is_caught_up_before_it_is_told_to_campaign() -> None:
    cluster = Cluster(3)
    cluster.elect(1)
    cluster.isolate(3)
    for i in range(5):
        cluster.propose(1, b"e%d" % i)
    cluster.settle()
    cluster.heal()
    cluster.nodes[1].transfer_leadership(3)
    cluster.flush()
    assert cluster.drop(of_type(TimeoutNow)) == []  # node 3 is behind: not yet
    cluster.tick_all(1)
    assert cluster.leaders() == [3]
    assert cluster.payloads(3)[:5] == [b"e%d" % i for i in range(5)]


def test_proposals_are_refused_with_a_hint_while_leadership_moves() -> None:
    cluster = Cluster(3)
    cluster.elect(1)
    cluster.isolate(2)
    cluster.nodes[1].transfer_leadership(2)
    result = cluster.nodes[1].propose(b"x")
    assert isinstance(result, NotLeader)
    assert result.leader_hint == 2
    assert "moving to node 2" in result.reason


def test_a_transfer_that_does_not_finish_within_an_election_timeout_is_abandoned() -> None:
    cluster = Cluster(3)
    leader = cluster.elect(1)
    cluster.isolate(2)
    leader.transfer_leadership(2)
    assert leader.transferee == 2
    cluster.tick(1, leader.config.election_timeout_min_ticks)
    assert leader.transferee is None
    assert leader.role is Role.LEADER
    assert not isinstance(leader.propose(b"x"), NotLeader)


def test_the_election_a_transfer_starts_overrides_the_voters_lease() -> None:
    cluster = Cluster(3)
    cluster.elect(1)
    cluster.nodes[1].transfer_leadership(3)
    cluster.flush()
    cluster.deliver(of_type(TimeoutNow))
    requests = [m for m in cluster.in_flight if isinstance(m, VoteRequest)]
    assert requests and all(r.leadership_transfer for r in requests)
    cluster.settle()
    assert cluster.leaders() == [3]


@pytest.mark.parametrize(
    ("target", "error"),
    [
        pytest.param(4, "not a voter", id="an observer cannot take over"),
        pytest.param(99, "not a voter", id="a stranger cannot take over"),
    ],
)
def test_a_transfer_to_a_non_voter_is_refused(target: int, error: str) -> None:
    cluster = Cluster(3, observers=1)
    leader = cluster.elect(1)
    with pytest.raises(ValueError, match=error):
        leader.transfer_leadership(target)


def test_only_the_leader_can_transfer_and_to_itself_is_a_no_op() -> None:
    cluster = Cluster(3)
    leader = cluster.elect(1)
    assert not cluster.nodes[2].transfer_leadership(3)
    assert leader.transfer_leadership(1)
    assert leader.transferee is None
