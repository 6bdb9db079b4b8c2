"""The checker on fabricated histories: clean ones pass, each anomaly kind is found and
names its partition, offset and the records involved."""

from __future__ import annotations

from dataclasses import replace
from typing import get_args

import pytest

from loadtest.jepsen.checker import CHECKS, AnomalyKind, check
from loadtest.jepsen.history import (
    OFFSET_FETCH,
    CommitObservation,
    Delivery,
    History,
    ReplicaLog,
    StoredRecord,
    Write,
)

PARTITIONS = 2
PER_PARTITION = 4


def _clean() -> History:
    """Two partitions of four acknowledged writes each, read back where acknowledged,
    three identical replicas, one consumer reading everything in order, commits
    that only go up."""
    writes, stored = [], []
    for partition in range(PARTITIONS):
        for offset in range(PER_PARTITION):
            write_id = f"p0-{partition * PER_PARTITION + offset}"
            writes.append(Write(write_id, "p0", partition, "ok", offset))
            stored.append(StoredRecord(partition, offset, write_id))
    replicas = tuple(
        ReplicaLog(
            node,
            partition,
            PER_PARTITION,
            PER_PARTITION,
            tuple(r for r in stored if r.partition == partition),
        )
        for node in (1, 2, 3)
        for partition in range(PARTITIONS)
    )
    deliveries = tuple(Delivery("c0", 1, r.partition, r.offset, str(r.write_id)) for r in stored)
    commits = tuple(
        CommitObservation("g", partition, offset, source, 1 if source == "c0" else None)
        for source in (OFFSET_FETCH, "c0")
        for partition in range(PARTITIONS)
        for offset in (2, 4)
    )
    return History("t", PARTITIONS, tuple(writes), deliveries, commits, tuple(stored), replicas)


def test_a_clean_history_has_no_anomaly() -> None:
    assert check(_clean()) == []


def test_an_empty_history_has_no_anomaly() -> None:
    assert check(History("t", 3)) == []


def test_failed_writes_may_be_missing_or_present_once() -> None:
    clean = _clean()
    writes = (
        *clean.writes,
        Write("p0-missing", "p0", 0, "failed", error="REQUEST_TIMED_OUT"),
        replace(clean.writes[0], status="failed", offset=None, error="no delivery report"),
    )
    assert check(replace(clean, writes=writes)) == []


def test_an_acknowledged_write_missing_from_the_topic_is_a_lost_write() -> None:
    clean = _clean()
    history = replace(clean, writes=(*clean.writes, Write("p1-9", "p1", 1, "ok", 4)))
    (anomaly,) = check(history)
    assert (anomaly.kind, anomaly.partition, anomaly.offset) == ("lost-write", 1, 4)
    assert [(r.where, r.write_id) for r in anomaly.records] == [("ack to p1", "p1-9")]


def test_a_write_stored_twice_is_a_duplicate_even_when_it_failed() -> None:
    clean = _clean()
    again = StoredRecord(0, PER_PARTITION, "p0-1")
    failed = replace(clean.writes[1], status="failed", offset=None)
    history = replace(
        clean,
        writes=(clean.writes[0], failed, *clean.writes[2:]),
        final_read=(*clean.final_read, again),
    )
    anomalies = check(history, only=["acknowledged writes present exactly once"])
    (anomaly,) = anomalies
    assert anomaly.kind == "duplicate-write"
    assert [(r.where, r.offset) for r in anomaly.records] == [
        ("ack to p0", None),
        ("final read", 1),
        ("final read", PER_PARTITION),
    ]


def test_a_write_stored_away_from_its_acknowledged_offset_has_moved() -> None:
    clean = _clean()
    moved = replace(clean.writes[2], offset=3)
    history = replace(clean, writes=(*clean.writes[:2], moved, *clean.writes[3:]))
    (anomaly,) = check(history)
    assert (anomaly.kind, anomaly.offset) == ("moved-write", 3)
    assert [r.offset for r in anomaly.records] == [3, 2]


def test_an_acknowledgement_without_an_offset_is_not_a_move() -> None:
    clean = _clean()
    vague = replace(clean.writes[2], offset=-1)
    assert check(replace(clean, writes=(*clean.writes[:2], vague, *clean.writes[3:]))) == []


def test_a_record_nobody_wrote_is_unknown() -> None:
    clean = _clean()
    stranger = StoredRecord(1, PER_PARTITION, "garbage")
    (anomaly,) = check(
        replace(clean, final_read=(*clean.final_read, stranger)),
        only=["acknowledged writes present exactly once"],
    )
    assert (anomaly.kind, anomaly.partition, anomaly.offset) == ("unknown-record", 1, 4)


def test_replicas_holding_different_records_below_the_high_watermark_diverge() -> None:
    clean = _clean()
    odd = clean.replicas[2]  # broker 2, partition 0
    assert (odd.node, odd.partition) == (2, 0)
    records = (odd.records[0], StoredRecord(0, 1, "p9-9"), *odd.records[2:])
    replicas = (*clean.replicas[:2], replace(odd, records=records), *clean.replicas[3:])
    (anomaly,) = check(replace(clean, replicas=replicas))
    assert (anomaly.kind, anomaly.partition, anomaly.offset) == ("divergent-offset", 0, 1)
    assert {(r.where, r.write_id) for r in anomaly.records} == {
        ("final read", "p0-1"),
        ("broker 1", "p0-1"),
        ("broker 2", "p9-9"),
        ("broker 3", "p0-1"),
    }


def test_replicas_may_differ_above_their_high_watermark() -> None:
    clean = _clean()
    odd = clean.replicas[0]
    tail = StoredRecord(odd.partition, PER_PARTITION, "p0-uncommitted")
    lonely = replace(odd, records=(*odd.records, tail), log_end_offset=PER_PARTITION + 1)
    assert check(replace(clean, replicas=(lonely, *clean.replicas[1:]))) == []


def test_a_replica_missing_a_committed_offset_has_a_gap() -> None:
    clean = _clean()
    odd = clean.replicas[1]  # broker 1, partition 1
    holed = replace(odd, records=tuple(r for r in odd.records if r.offset != 2))
    (anomaly,) = check(replace(clean, replicas=(clean.replicas[0], holed, *clean.replicas[2:])))
    assert (anomaly.kind, anomaly.partition, anomaly.offset) == ("replica-gap", 1, 2)
    assert "broker 1" in anomaly.description


def test_a_consumer_going_back_within_a_session_is_out_of_order() -> None:
    clean = _clean()
    again = Delivery("c0", 1, 0, 1, "p0-1")
    (anomaly,) = check(replace(clean, deliveries=(*clean.deliveries, again)))
    assert (anomaly.kind, anomaly.partition, anomaly.offset) == ("consumer-order", 0, 1)
    assert [(r.where, r.offset) for r in anomaly.records] == [
        ("consumer c0 session 1", 3),
        ("consumer c0 session 1", 1),
    ]


def test_a_new_session_may_start_again_from_the_committed_offset() -> None:
    clean = _clean()
    redelivered = Delivery("c0", 2, 0, 1, "p0-1")
    other_consumer = Delivery("c1", 1, 0, 0, "p0-0")
    history = replace(clean, deliveries=(*clean.deliveries, redelivered, other_consumer))
    assert check(history) == []


def test_a_consumer_reading_what_the_log_does_not_hold_read_dirty_data() -> None:
    clean = _clean()
    phantom = Delivery("c1", 1, 1, 2, "p0-lost")
    beyond = Delivery("c1", 1, 1, 7, "p0-7")
    anomalies = check(replace(clean, deliveries=(*clean.deliveries, phantom, beyond)))
    assert [(a.kind, a.offset) for a in anomalies] == [("dirty-read", 2), ("dirty-read", 7)]
    assert [r.write_id for r in anomalies[0].records] == ["p0-lost", "p0-6"]
    assert "holds nothing" in anomalies[1].description


def test_a_committed_offset_going_back_at_the_poller_is_a_regression() -> None:
    clean = _clean()
    back = CommitObservation("g", 1, 3, OFFSET_FETCH)
    (anomaly,) = check(replace(clean, commits=(*clean.commits, back)))
    assert (anomaly.kind, anomaly.partition, anomaly.offset) == ("commit-regression", 1, 3)
    assert [(r.where, r.offset) for r in anomaly.records] == [
        ("committed (offset-fetch)", 4),
        ("committed (offset-fetch)", 3),
    ]


def test_a_consumer_committing_less_within_a_session_is_a_regression() -> None:
    clean = _clean()
    back = CommitObservation("g", 0, 1, "c0", 1)
    (anomaly,) = check(replace(clean, commits=(*clean.commits, back)))
    assert anomaly.kind == "commit-regression"
    assert "consumer c0 (session 1)" in anomaly.description


@pytest.mark.parametrize(
    "later",
    [
        pytest.param(CommitObservation("g", 0, 1, "c0", 2), id="a later session of the consumer"),
        pytest.param(CommitObservation("g", 0, 1, "c1", 1), id="another consumer"),
        pytest.param(CommitObservation("h", 0, 1, OFFSET_FETCH), id="another group"),
    ],
)
def test_commits_of_different_sources_are_not_compared(later: CommitObservation) -> None:
    clean = _clean()
    assert check(replace(clean, commits=(*clean.commits, later))) == []


def test_every_anomaly_kind_belongs_to_exactly_one_check() -> None:
    kinds = [kind for _, check_kinds in CHECKS.values() for kind in check_kinds]
    assert sorted(kinds) == sorted(get_args(AnomalyKind))
