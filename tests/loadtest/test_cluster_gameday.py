"""The pieces of a game day on a cluster, without processes: whom a target names, the
log audit per acks setting, clients' errors by class, the cluster's faults against fake
links, and the verdicts on replication expectations."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loadtest.audit import audit
from loadtest.client_errors import classify
from loadtest.faults.cluster import (
    REPLICA_FETCHER_CLIENT_ID,
    LeaderIsolation,
    RollingRestart,
    fetcher_client_id,
)
from loadtest.faults.proxy import Direction, ProxyMode
from loadtest.frames import ProducerLedger
from loadtest.gameday.cluster_judge import ClusterHistory, judge_cluster, still_recovering
from loadtest.gameday.cluster_state import (
    ClusterState,
    PartitionState,
    TargetUnresolved,
    freshest,
    resolve_target,
)
from loadtest.gameday.failover import FailoverMeasurement
from loadtest.gameday.scenario import parse_scenario
from tests.loadtest.test_cluster_spec import CLUSTER


def state(
    *partitions: tuple[int, int, tuple[int, ...], tuple[int, ...]], **kw: Any
) -> ClusterState:
    """(partition, leader, replicas, isr) of topic "t"."""
    return ClusterState(
        node_id=kw.get("node_id", 1),
        controller_id=kw.get("controller_id", 2),
        metadata_offset=kw.get("metadata_offset", 10),
        fenced=frozenset(),
        partitions=tuple(
            PartitionState("t", p, lead, reps, isr) for p, lead, reps, isr in partitions
        ),
    )


BALANCED = state(
    (0, 1, (1, 2, 3), (1, 2, 3)),
    (1, 2, (2, 3, 1), (2, 3, 1)),
    (2, 3, (3, 1, 2), (3, 1, 2)),
    (3, 2, (1, 2, 3), (2, 3)),
)


@pytest.mark.parametrize(
    ("target", "partition", "node"),
    [
        pytest.param("most-leaders", None, 2, id="the broker leading most partitions"),
        pytest.param("leader", 2, 3, id="the leader of a partition"),
        pytest.param("follower", 0, 2, id="the first in-sync follower of a partition"),
        pytest.param("follower", 3, 3, id="a follower out of sync is passed over"),
        pytest.param("controller", None, 2, id="the active controller"),
        pytest.param("3", None, 3, id="a node id"),
    ],
)
def test_a_target_names_a_broker_from_the_clusters_state(
    target: str, partition: int | None, node: int
) -> None:
    assert resolve_target(target, partition, BALANCED, "t") == node


def test_most_leaders_breaks_a_tie_by_the_lowest_node_id() -> None:
    tied = state((0, 3, (3, 1), (3, 1)), (1, 1, (1, 3), (1, 3)))
    assert resolve_target("most-leaders", None, tied, "t") == 1


@pytest.mark.parametrize(
    ("target", "partition", "cluster", "reason"),
    [
        pytest.param("leader", 0, state((0, -1, (1, 2), (1,))), "has no leader", id="offline"),
        pytest.param("controller", None, state(controller_id=-1), "no active controller", id="nc"),
        pytest.param("leader", 9, BALANCED, "t-9 is not in the cluster's metadata", id="missing"),
    ],
)
def test_a_target_nobody_fits_is_refused_with_the_reason(
    target: str, partition: int | None, cluster: ClusterState, reason: str
) -> None:
    with pytest.raises(TargetUnresolved, match=reason):
        resolve_target(target, partition, cluster, "t")


def test_the_freshest_view_is_the_one_with_the_highest_metadata_offset() -> None:
    stale = state(node_id=1, metadata_offset=5)
    fresh = state(node_id=3, metadata_offset=9)
    assert freshest([stale, fresh]) is fresh
    assert freshest([]) is None


def test_the_state_counts_what_an_operator_asks_first() -> None:
    assert BALANCED.under_replicated() == 1
    assert BALANCED.under_min_isr("t", 3) == 1
    assert BALANCED.offline() == 0
    assert not BALANCED.leaders_preferred(), "partition 3 is led by 2, its preferred is 1"
    assert BALANCED.in_every_isr(2) and not BALANCED.in_every_isr(1)
    assert BALANCED.led_by(2, "t") == [1, 3]


def test_a_cluster_status_document_becomes_the_state() -> None:
    document = {
        "format": 1,
        "node_id": 2,
        "cluster_id": "c",
        "controller_id": None,
        "metadata_offset": 42,
        "voters": [1, 2, 3],
        "brokers": [{"node_id": 1, "state": "fenced"}, {"node_id": 2, "state": "alive"}],
        "partitions": [{"topic": "t", "partition": 0, "leader": 2, "replicas": [1, 2], "isr": [2]}],
    }
    parsed = ClusterState.from_json(document)
    assert (parsed.controller_id, parsed.fenced, parsed.metadata_offset) == (-1, frozenset({1}), 42)
    assert parsed.partitions == (PartitionState("t", 0, 2, (1, 2), (2,)),)


# --- the log audit ------------------------------------------------------------------------
def ledger(worker: int, states: list[int], offsets: list[int]) -> ProducerLedger:
    return ProducerLedger(
        worker,
        np.array(states, dtype=np.int8),
        np.zeros(len(states), dtype=np.int32),
        np.array(offsets, dtype=np.int64),
    )


def test_the_audit_counts_lost_and_duplicated_acknowledged_records_per_acks_setting() -> None:
    ledgers = [
        ledger(0, [1, 1, 1, 2], [0, 1, 2, -1]),  # acks=all: all stored, one twice
        ledger(1, [1, 1, 1, 0], [3, 4, 5, -1]),  # acks=1: two lost, the unanswered stored
    ]
    stored = {0: np.array([1, 2, 1], dtype=np.uint16), 1: np.array([1, 0, 0, 1], dtype=np.uint16)}
    rows = audit(ledgers, stored, {0: 0}, {0: "all", 1: "1"}.__getitem__)
    assert [
        (r.acks, r.acknowledged, r.lost, r.duplicated, r.unacknowledged_stored) for r in rows
    ] == [
        ("all", 3, 0, 1, 0),
        ("1", 3, 2, 0, 1),
    ]
    assert rows[1].lost_examples == ((1, 1, 0, 4), (1, 2, 0, 5))


def test_records_below_the_log_start_are_not_lost_but_deleted() -> None:
    (row,) = audit([ledger(0, [1, 1], [0, 7])], {}, {0: 5}, lambda _: "all")
    assert row.lost == 1


# --- clients' errors ----------------------------------------------------------------------
def test_clients_errors_are_split_into_retriable_and_non_retriable() -> None:
    errors = {
        "client:_TRANSPORT": 2,
        "consumer:NOT_COORDINATOR": 1,
        "NOT_ENOUGH_REPLICAS": 3,
        "_MSG_TIMED_OUT": 4,
        "TOPIC_AUTHORIZATION_FAILED": 1,
    }
    assert classify(errors) == {
        "retriable": {
            "NOT_ENOUGH_REPLICAS": 3,
            "client:_TRANSPORT": 2,
            "consumer:NOT_COORDINATOR": 1,
        },
        "non_retriable": {"TOPIC_AUTHORIZATION_FAILED": 1, "_MSG_TIMED_OUT": 4},
    }


# --- faults -------------------------------------------------------------------------------
class FakeLink:
    def __init__(self) -> None:
        self.mode: ProxyMode = "forward"
        self.isolated: frozenset[str] = frozenset()
        self.resets: list[frozenset[str] | None] = []

    def set_mode(self, mode: ProxyMode, direction: Direction = "both") -> None:
        self.mode = mode

    def isolate_clients(self, client_ids: frozenset[str]) -> None:
        self.isolated = client_ids

    def restore(self) -> None:
        self.mode, self.isolated = "forward", frozenset()

    def reset_connections(self, client_ids: frozenset[str] | None = None) -> int:
        self.resets.append(client_ids)
        return 0


def test_an_isolated_leader_loses_its_quorum_links_and_replica_fetches_but_not_clients() -> None:
    quorum = {(a, b): FakeLink() for a in (1, 2, 3) for b in (1, 2, 3) if a != b}
    kafka = {n: FakeLink() for n in (1, 2, 3)}
    fault = LeaderIsolation(lambda: 2, quorum, kafka)
    fault.inject()
    assert fault.describe() == "leader-isolate of broker 2"
    assert {link for link, p in quorum.items() if p.mode == "blackhole"} == {
        (1, 2),
        (2, 1),
        (2, 3),
        (3, 2),
    }
    assert kafka[2].isolated == {fetcher_client_id(1), fetcher_client_id(3)}
    assert kafka[1].isolated == kafka[3].isolated == {fetcher_client_id(2)}
    assert all(p.mode == "forward" for p in kafka.values()), "clients still get through"
    fault.undo()
    assert all(p.mode == "forward" and not p.isolated for p in [*quorum.values(), *kafka.values()])
    assert kafka[1].resets == [frozenset({fetcher_client_id(2)})], (
        "only the cut connections are reset"
    )
    assert quorum[(1, 2)].resets == [None] and quorum[(1, 3)].resets == []


def test_the_replica_fetcher_client_id_is_the_one_the_broker_sends() -> None:
    source = Path("broker/network/replica_fetcher.py").read_text()
    template = REPLICA_FETCHER_CLIENT_ID.replace("{node_id}", "{self.settings.node_id}")
    assert f'f"{template}"' in source


def test_a_rolling_restart_waits_for_each_broker_to_be_back_in_every_isr() -> None:
    log: list[str] = []
    back: set[int] = set()
    lock = threading.Lock()

    def stop(node: int) -> int:
        with lock:
            log.append(f"stop {node}")
            back.discard(node)
        return 0

    def start(node: int) -> None:
        log.append(f"start {node}")

    def in_every_isr(node: int) -> bool:
        with lock:
            back.add(node)  # the first look finds it missing, the next one back
            log.append(f"isr? {node}")
            return log.count(f"isr? {node}") >= 2

    fault = RollingRestart([1, 2], stop, start, in_every_isr)
    fault.inject()
    fault.undo()  # waits for it
    assert fault.done
    assert log == ["stop 1", "start 1", "isr? 1", "isr? 1", "stop 2", "start 2", "isr? 2", "isr? 2"]
    assert [t.node for t in fault.progress.turns] == [1, 2]
    assert fault.progress.error is None


# --- verdicts -----------------------------------------------------------------------------
def history(*points: tuple[float, ClusterState]) -> ClusterHistory:
    h = ClusterHistory()
    for t, s in points:
        h.observe(t, s, "t", 2)
    return h


HEALTHY = state((0, 1, (1, 2, 3), (1, 2, 3)), (1, 2, (2, 3, 1), (2, 3, 1)))
SHRUNK = state((0, 2, (1, 2, 3), (2, 3)), (1, 2, (2, 3, 1), (2, 3)))


def test_replication_expectations_are_judged_from_the_polls_and_the_failover() -> None:
    doc = dict(CLUSTER)
    doc["expect"] = {
        "replication": {
            "isr_shrinks": True,
            "under_min_isr": False,
            "failover_within": "10s",
            "isr_full_within": "5s",
            "leaders_preferred_within": "5s",
        },
        "audit": {"all": {"lost": 0}},
        "client_errors": {"non_retriable": 0},
    }
    scenario = parse_scenario("c.yaml", doc)
    events = {"start": (0.0, None), "crash": (5.0, 11.0)}
    seen = history((4.0, HEALTHY), (6.0, SHRUNK), (12.0, SHRUNK), (13.0, HEALTHY), (14.0, HEALTHY))
    failover = FailoverMeasurement("crash", 1, (0,), 2.5, 3.0)
    rows = audit([ledger(0, [1], [0])], {0: np.array([1], dtype=np.uint16)}, {}, lambda _: "all")
    outcomes = judge_cluster(scenario, events, 15.0, seen, [failover], rows, {"_MSG_TIMED_OUT": 1})
    verdicts = {(o.kind, o.subject): (o.observed, o.met) for o in outcomes}
    assert verdicts == {
        ("replication", "ISR shrinks"): ("peak 2 partition(s)", True),
        ("replication", "under min ISR"): ("never seen", True),
        ("failover", "crash: broker 1 (partitions [0])"): (
            "3.00 s (leader elected after 2.50 s)",
            True,
        ),
        ("recovery", "every ISR full"): ("after 2.0 s", True),
        ("recovery", "preferred leaders back"): ("after 2.0 s", True),
        ("audit", "acks=all: lost"): ("0", True),
        ("client errors", "clients: non_retriable"): ("1", False),
    }
    assert still_recovering(scenario, events, history((12.0, SHRUNK)), now=13.0)
    assert not still_recovering(scenario, events, history((12.0, SHRUNK)), now=17.0)
    assert not still_recovering(scenario, events, seen, now=14.0)


def test_a_failover_that_was_never_measured_is_a_miss_with_the_reason() -> None:
    doc = dict(CLUSTER)
    doc["expect"] = {"replication": {"failover_within": "10s"}}
    scenario = parse_scenario("c.yaml", doc)
    failed = FailoverMeasurement("crash", 1, (0,), error="TimeoutError: no new leader")
    (outcome,) = judge_cluster(scenario, {}, 1.0, ClusterHistory(), [failed], [], {})
    assert not outcome.met
    assert re.search("not measured: TimeoutError", outcome.observed)


def test_the_run_keeps_watching_while_an_expected_resolution_may_still_come(
    tmp_path: Path,
) -> None:
    from loadtest.gameday.observations import AlertInstance
    from loadtest.gameday.runner import GameDay

    doc = dict(CLUSTER)
    doc["expect"] = {"alerts": [{"alert": "T", "after": "crash", "resolves_within": "10s"}]}
    day = GameDay(parse_scenario("c.yaml", doc), tmp_path)
    day.result.events.update({"start": (0.0, None), "crash": (5.0, 11.0)})
    day.result.alerts.observe(12.0, {AlertInstance.of("T", {"severity": "ticket"})})
    assert day._keep_watching(13.0, settle_until=0.0), "still firing, 8 s left"
    assert not day._keep_watching(21.5, settle_until=0.0), "its bound has passed"
    day.result.alerts.observe(14.0, set())
    assert not day._keep_watching(14.5, settle_until=0.0), "resolved"
