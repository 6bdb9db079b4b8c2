"""Histories survive a trip through JSON unchanged, so a saved one can be checked again."""

from __future__ import annotations

import json

from loadtest.jepsen.history import (
    OFFSET_FETCH,
    CommitObservation,
    Delivery,
    History,
    ReplicaLog,
    StoredRecord,
    Write,
    history_from_json,
    history_to_json,
)


def test_a_history_round_trips_through_json() -> None:
    record = StoredRecord(0, 0, "p0-0")
    history = History(
        "t",
        1,
        (Write("p0-0", "p0", 0, "ok", 0), Write("p0-1", "p0", 0, "failed", error="timed out")),
        (Delivery("c0", 1, 0, 0, "p0-0"),),
        (CommitObservation("g", 0, 1, OFFSET_FETCH), CommitObservation("g", 0, 1, "c0", 1)),
        (record,),
        (ReplicaLog(2, 0, 2, 1, (record, StoredRecord(0, 1, None))),),
    )
    text = json.dumps(history_to_json(history))
    assert history_from_json(json.loads(text)) == history
