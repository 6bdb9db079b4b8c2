"""Log replication: catching up, conflict truncation, the conflict hint and the commit
rule of Raft §5.4.2 (the paper's Figure 8)."""

from __future__ import annotations

import pytest

from broker.quorum import (
    AppendEntries,
    AppendEntriesResponse,
    Entry,
    HardState,
    Message,
    PersistedState,
)
from broker.quorum.leader import Leadership
from tests.broker.quorum.cluster import Cluster, between, to


def _log(*terms: int) -> tuple[Entry, ...]:
    return tuple(
        Entry(term, index, b"%d@%d" % (index, term)) for index, term in enumerate(terms, 1)
    )


def _terms(cluster: Cluster, node: int) -> list[int]:
    log = cluster.nodes[node].log
    return [log.term_at(i) or 0 for i in range(1, log.last_index + 1)]


def _preload(cluster: Cluster, logs: dict[int, tuple[Entry, ...]], term: int) -> None:
    for node, entries in logs.items():
        cluster.disks[node] = PersistedState(HardState(term), entries=entries)
        cluster.start(node)


def test_a_follower_that_missed_entries_catches_up() -> None:
    cluster = Cluster(3)
    cluster.elect(1)
    cluster.isolate(3)
    for i in range(10):
        cluster.propose(1, b"e%d" % i)
    cluster.settle()
    assert cluster.payloads(3) == []
    cluster.heal()
    cluster.tick_all(3)
    assert cluster.payloads(3) == [b"e%d" % i for i in range(10)]


@pytest.mark.parametrize(
    ("leader_log", "follower_log"),
    [
        pytest.param((1, 1, 2, 2), (1, 1, 3, 3, 3, 3), id="a longer suffix from a lost term"),
        pytest.param((1, 1, 2, 2, 4), (1, 3), id="a shorter log that diverged early"),
        pytest.param((1, 2, 2, 2, 2), (1,), id="a log that is only behind"),
        pytest.param((1, 1, 4, 4), (1, 1, 2, 3, 3), id="two lost terms in a row"),
    ],
)
def test_a_follower_with_conflicting_entries_ends_with_the_leaders_log(
    leader_log: tuple[int, ...], follower_log: tuple[int, ...]
) -> None:
    cluster = Cluster(3)
    _preload(cluster, {1: _log(*leader_log), 2: _log(*leader_log), 3: _log(*follower_log)}, 4)
    cluster.elect(1)
    cluster.tick_all(3)
    assert _terms(cluster, 3) == [*leader_log, 5]
    assert cluster.payloads(3) == cluster.payloads(1)


def test_a_lagging_follower_is_found_in_a_round_trip_per_term_not_per_entry() -> None:
    cluster = Cluster(3)
    leader_log = _log(*[1] * 50, *[3] * 50)
    _preload(cluster, {1: leader_log, 2: leader_log, 3: _log(*[1] * 50, *[2] * 60)}, 3)
    cluster.elect(1)
    refusals = 0
    while cluster.in_flight:
        refusals += sum(
            1
            for m in cluster.in_flight
            if isinstance(m, AppendEntriesResponse) and m.sender == 3 and not m.success
        )
        cluster.deliver()
    assert _terms(cluster, 3) == [1] * 50 + [3] * 50 + [4]
    assert refusals <= 2  # term 2, then done: not one per conflicting entry


def _figure8_cluster(monkeypatch: pytest.MonkeyPatch | None = None) -> Cluster:
    """Figure 8 (c) of the Raft paper, with S1 about to lead term 4.

    Index 1 (term 1) is everywhere. S1 led term 2 and got index 2 (term 2) to S2 only;
    S5 led term 3 and wrote index 2 (term 3) to itself only.
    """
    cluster = Cluster(5, max_entries_per_append=1, check_quorum=False)
    _preload(
        cluster,
        {
            1: _log(1, 2),
            2: (Entry(1, 1, b"1@1"),),
            3: (Entry(1, 1, b"1@1"),),
            4: (Entry(1, 1, b"1@1"),),
            5: _log(1, 3),
        },
        3,
    )
    return cluster


def _s1_replicates_index_2_to_s2_and_s3_only(cluster: Cluster) -> None:
    """S1 wins term 4 and copies index 2 (term 2) to S2 and S3, but its no-op (index 3,
    term 4) never arrives anywhere: index 2 now sits on a majority (S1, S2, S3)."""

    def would_deliver_the_noop(message: Message) -> bool:
        return (
            isinstance(message, AppendEntries)
            and any(e.index == 3 for e in message.entries)
            and cluster.nodes[message.receiver].log.matches(2, 2)
        )

    cluster.campaign(1)
    for _ in range(10):
        cluster.drop(would_deliver_the_noop)
        cluster.deliver(lambda m: m.sender in (1, 2, 3) and m.receiver in (1, 2, 3))
    cluster.drop()
    assert cluster.nodes[1].is_leader and cluster.nodes[1].term == 4
    for node in (1, 2, 3):
        assert cluster.nodes[node].log.term_at(2) == 2


def _s1_crashes_and_s5_leads_term_5(cluster: Cluster) -> None:
    cluster.crash(1)
    for _ in range(2):  # S5 is still in term 3: its first try (term 4) meets S1's voters
        cluster.campaign(5)
        cluster.settle()
    assert cluster.nodes[5].is_leader and cluster.nodes[5].term == 5
    cluster.tick_all(3)


def test_a_leader_does_not_commit_an_entry_of_an_older_term_by_counting_replicas() -> None:
    cluster = _figure8_cluster()
    _s1_replicates_index_2_to_s2_and_s3_only(cluster)
    assert cluster.nodes[1].log.commit_index == 0
    _s1_crashes_and_s5_leads_term_5(cluster)
    # S5 legally overwrote index 2: it was never committed, so nobody applied it.
    for node in (2, 3, 4, 5):
        assert [e.term for e in cluster.applied[node]] == [1, 3, 5]


def test_the_old_entry_commits_with_the_first_entry_of_the_leaders_own_term() -> None:
    cluster = _figure8_cluster()
    _s1_replicates_index_2_to_s2_and_s3_only(cluster)
    cluster.tick_all(3)
    assert cluster.nodes[1].log.commit_index == 3
    for node in range(1, 6):
        assert [e.term for e in cluster.applied[node]] == [1, 2, 4]


def test_counting_replicas_of_an_older_term_would_lose_a_committed_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Why the rule exists: with it switched off, Figure 8 (d) happens."""

    def commit_by_counting(self: Leadership) -> bool:
        matches = sorted(
            [self._log.stable_index] + [self.progress[v].match_index for v in self._voters],
            reverse=True,
        )
        return self._log.commit_to(matches[self._config.quorum_size - 1])

    monkeypatch.setattr(Leadership, "maybe_commit", commit_by_counting)
    cluster = _figure8_cluster()
    _s1_replicates_index_2_to_s2_and_s3_only(cluster)
    assert cluster.nodes[1].log.commit_index == 2
    assert [e.term for e in cluster.applied[1]] == [1, 2]  # applied (2, term 2) ...
    _s1_crashes_and_s5_leads_term_5(cluster)
    assert [e.term for e in cluster.applied[5]] == [1, 3, 5]  # ... and it is gone


def test_a_follower_never_commits_past_what_the_leader_sent_it() -> None:
    cluster = Cluster(3)
    cluster.elect(1)
    stale_suffix = AppendEntries("tidewatch-test", 1, 2, 1, 0, 0, (Entry(1, 1, b""),), 99)
    cluster.nodes[2].step(stale_suffix)
    assert cluster.nodes[2].log.commit_index <= 1


def test_a_duplicated_and_reordered_append_changes_nothing() -> None:
    cluster = Cluster(3)
    cluster.elect(1)
    cluster.isolate(3)
    cluster.propose(1, b"a")
    cluster.propose(1, b"b")
    sent = cluster.drop(to(3))
    cluster.heal()
    for message in [*reversed(sent), *sent, *sent]:
        cluster.nodes[3].step(message)
    cluster.tick_all(3)
    assert cluster.payloads(3) == [b"a", b"b"]
    assert cluster.nodes[3].log.last_index == cluster.nodes[1].log.last_index


def test_a_cut_link_only_delays_replication() -> None:
    cluster = Cluster(3)
    cluster.elect(1)
    cluster.propose(1, b"x")
    cluster.drop(between(1, 3))
    cluster.tick_all(3)
    assert cluster.payloads(3) == [b"x"]
