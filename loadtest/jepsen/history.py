"""What a Jepsen-style run observed: the history the checker judges.

A history is plain, immutable data with no clock and no client objects in it, so a
fabricated one tests the checker and a recorded one can be saved as JSON and checked
again later (:func:`history_to_json`, :func:`history_from_json` round-trip exactly).

Records are identified by their value, a *write id* unique within a run (the runner
writes ``p<producer>-<n>``); a stored record whose value is not a write id of the
run is reported as such. Orders that matter are list orders: ``deliveries`` keep each
consumer's own order of observation (records of different consumers may interleave),
``commits`` keep each source's own order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

__all__ = [
    "OFFSET_FETCH",
    "CommitObservation",
    "Delivery",
    "History",
    "ReplicaLog",
    "StoredRecord",
    "Write",
    "WriteStatus",
    "history_from_json",
    "history_to_json",
]

WriteStatus = Literal["ok", "failed"]
"""``ok``: acknowledged with acks=all. ``failed``: the client reported an error, or
never reported: the write may or may not be in the log (at most once, though)."""

OFFSET_FETCH: Final = "offset-fetch"
"""The source name of committed offsets read by polling OffsetFetch."""


@dataclass(frozen=True, slots=True)
class Write:
    """One produce attempt and what its producer was finally told.

    ``offset`` is the offset of an acknowledged write as the acknowledgement gave it
    (None when failed, or when the acknowledgement carried none)."""

    write_id: str
    producer: str
    partition: int
    status: WriteStatus
    offset: int | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """A record a group consumer received. ``session`` counts the consumer's
    assignments: 1 from its first partition assignment until the next rebalance
    revokes it, then 2, and so on (eager rebalancing revokes every partition)."""

    consumer: str
    session: int
    partition: int
    offset: int
    write_id: str


@dataclass(frozen=True, slots=True)
class CommitObservation:
    """A committed offset (the next offset to consume) of ``group`` on ``partition``.

    ``source`` is :data:`OFFSET_FETCH` for the poller (one client asking the group
    coordinator over and over, so its observations are in real-time order) or the
    consumer whose commit the broker acknowledged (``session`` then says in which of
    its assignments)."""

    group: str
    partition: int
    offset: int
    source: str
    session: int | None = None


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record as read back from the log: by a consumer after healing (the final
    read) or from a broker's own replica files. ``write_id`` is the record's value
    (None for a record without one)."""

    partition: int
    offset: int
    write_id: str | None


@dataclass(frozen=True, slots=True)
class ReplicaLog:
    """One broker's own replica of a partition, with the log end offset and high
    watermark that broker reported for it, and every record in its files."""

    node: int
    partition: int
    log_end_offset: int
    high_watermark: int
    records: tuple[StoredRecord, ...]


@dataclass(frozen=True, slots=True)
class History:
    """Everything one run observed, for one topic of ``partitions`` partitions."""

    topic: str
    partitions: int
    writes: tuple[Write, ...] = ()
    deliveries: tuple[Delivery, ...] = ()
    commits: tuple[CommitObservation, ...] = ()
    final_read: tuple[StoredRecord, ...] = ()
    replicas: tuple[ReplicaLog, ...] = ()


def history_to_json(history: History) -> dict[str, Any]:
    """A JSON-ready mapping (field names as keys, tuples as lists)."""
    return dataclasses.asdict(history)


def history_from_json(document: Mapping[str, Any]) -> History:
    """The history :func:`history_to_json` wrote (raises KeyError or TypeError on
    anything else)."""

    def many(cls: type[Any], key: str, source: Mapping[str, Any] = document) -> tuple[Any, ...]:
        items: Sequence[Mapping[str, Any]] = source.get(key, ())
        return tuple(cls(**item) for item in items)

    replicas = tuple(
        ReplicaLog(**{**item, "records": many(StoredRecord, "records", item)})
        for item in document.get("replicas", ())
    )
    return History(
        topic=str(document["topic"]),
        partitions=int(document["partitions"]),
        writes=many(Write, "writes"),
        deliveries=many(Delivery, "deliveries"),
        commits=many(CommitObservation, "commits"),
        final_read=many(StoredRecord, "final_read"),
        replicas=replicas,
    )
