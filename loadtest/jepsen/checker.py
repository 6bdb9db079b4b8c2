"""The checker: a history in, the anomalies it holds out. Pure: no I/O, no clock.

Four checks, each a function of the history (:func:`check` runs them all):

1. **Acknowledged writes** (:func:`check_writes`), against the final read of the whole
   topic after healing: an acknowledged write missing is ``lost-write``; any write
   (acknowledged or not: an idempotent producer never duplicates) at more than one
   offset is ``duplicate-write``; an acknowledged write found once but not at the
   offset its acknowledgement gave is ``moved-write``; a record that no producer of the
   run wrote is ``unknown-record``.
2. **Replicas** (:func:`check_replicas`): below a replica's own high watermark every
   offset is committed, so every replica that holds it and the final read must hold the
   same record there (else ``divergent-offset``), and a replica must hold every offset
   the final read holds below its high watermark (else ``replica-gap``).
3. **Consumers** (:func:`check_consumers`): within one assignment session of one
   consumer (see :class:`~loadtest.jepsen.history.Delivery`), the offsets it received
   from a partition strictly increase (else ``consumer-order``). Across sessions a
   partition starts again from its committed offset, which may be below what this
   consumer already saw (at-least-once redelivery after a rebalance): that is allowed.
   A consumer must also never see a record the log does not hold at that offset in
   the end, for consumers read only committed data (else ``dirty-read``).
4. **Committed offsets** (:func:`check_commits`): per group and partition, the
   offsets one source observed never decrease (else ``commit-regression``): the
   OffsetFetch poller's whole sequence, and each consumer's acknowledged commits within
   one assignment session. Observations of different sources are not compared with
   each other, because no common clock orders them.

Each anomaly names its kind, the partition and offset, and the records involved.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from loadtest.jepsen.history import (
    OFFSET_FETCH,
    CommitObservation,
    Delivery,
    History,
    StoredRecord,
)

__all__ = [
    "CHECKS",
    "Anomaly",
    "AnomalyKind",
    "RecordRef",
    "check",
    "check_commits",
    "check_consumers",
    "check_replicas",
    "check_writes",
]

AnomalyKind = Literal[
    "lost-write",
    "duplicate-write",
    "moved-write",
    "unknown-record",
    "divergent-offset",
    "replica-gap",
    "consumer-order",
    "dirty-read",
    "commit-regression",
]


@dataclass(frozen=True, slots=True)
class RecordRef:
    """One record involved in an anomaly, and where it was seen (``final read``,
    ``broker 2``, ``ack to p0``, ``consumer c1 session 2``, ``offset-fetch``...)."""

    where: str
    partition: int
    offset: int | None
    write_id: str | None


@dataclass(frozen=True, slots=True)
class Anomaly:
    kind: AnomalyKind
    partition: int
    offset: int | None
    description: str
    records: tuple[RecordRef, ...]


FINAL_READ: Final = "final read"


def _final_by_offset(history: History) -> dict[tuple[int, int], StoredRecord]:
    return {(r.partition, r.offset): r for r in history.final_read}


def check_writes(history: History) -> list[Anomaly]:
    """Check 1: every acknowledged write is in the final read, exactly once, where its
    acknowledgement put it; no write twice; no record from nowhere."""
    found: dict[str, list[StoredRecord]] = defaultdict(list)
    for record in history.final_read:
        if record.write_id is not None:
            found[record.write_id].append(record)
    written = {w.write_id for w in history.writes}
    anomalies: list[Anomaly] = []
    for write in history.writes:
        copies = found.get(write.write_id, [])
        ack = RecordRef(f"ack to {write.producer}", write.partition, write.offset, write.write_id)
        stored = tuple(RecordRef(FINAL_READ, r.partition, r.offset, r.write_id) for r in copies)
        if write.status == "ok" and not copies:
            anomalies.append(
                Anomaly(
                    "lost-write",
                    write.partition,
                    write.offset,
                    f"acknowledged write {write.write_id} is not in the topic",
                    (ack,),
                )
            )
        elif len(copies) > 1:
            offsets = ", ".join(str(r.offset) for r in copies)
            anomalies.append(
                Anomaly(
                    "duplicate-write",
                    write.partition,
                    copies[0].offset,
                    f"{write.status} write {write.write_id} is stored {len(copies)} times "
                    f"(offsets {offsets})",
                    (ack, *stored),
                )
            )
        elif copies and write.status == "ok" and _moved(write.offset, copies[0]):
            anomalies.append(
                Anomaly(
                    "moved-write",
                    write.partition,
                    write.offset,
                    f"write {write.write_id} was acknowledged at offset {write.offset} "
                    f"but is stored at {copies[0].offset}",
                    (ack, *stored),
                )
            )
    for record in history.final_read:
        if record.write_id not in written:
            anomalies.append(
                Anomaly(
                    "unknown-record",
                    record.partition,
                    record.offset,
                    f"record {record.write_id!r} was written by no producer of the run",
                    (RecordRef(FINAL_READ, record.partition, record.offset, record.write_id),),
                )
            )
    return anomalies


def _moved(acked_offset: int | None, stored: StoredRecord) -> bool:
    return acked_offset is not None and acked_offset >= 0 and acked_offset != stored.offset


def check_replicas(history: History) -> list[Anomaly]:
    """Check 2: below each replica's high watermark, replicas and the final read agree
    offset by offset, and no replica misses an offset the final read holds."""
    final = _final_by_offset(history)
    # (partition, offset) -> {where: record}, committed copies only
    copies: dict[tuple[int, int], dict[str, StoredRecord]] = defaultdict(dict)
    anomalies: list[Anomaly] = []
    for replica in history.replicas:
        where = f"broker {replica.node}"
        held = {r.offset: r for r in replica.records if r.offset < replica.high_watermark}
        for offset, record in held.items():
            copies[(replica.partition, offset)][where] = record
        for offset in range(replica.high_watermark):
            committed = final.get((replica.partition, offset))
            if committed is None or offset in held:
                continue
            if _above_log_start(replica.records, offset):
                anomalies.append(
                    Anomaly(
                        "replica-gap",
                        replica.partition,
                        offset,
                        f"{where} reports high watermark {replica.high_watermark} "
                        f"but holds no record at offset {offset}",
                        (RecordRef(FINAL_READ, replica.partition, offset, committed.write_id),),
                    )
                )
    for (partition, offset), by_where in sorted(copies.items()):
        if (partition, offset) in final:
            by_where = {FINAL_READ: final[(partition, offset)], **by_where}
        if len({r.write_id for r in by_where.values()}) > 1:
            refs = tuple(
                RecordRef(where, partition, offset, r.write_id) for where, r in by_where.items()
            )
            versions = ", ".join(f"{ref.where}: {ref.write_id}" for ref in refs)
            anomalies.append(
                Anomaly(
                    "divergent-offset",
                    partition,
                    offset,
                    f"offset {offset} holds different records below the high watermark "
                    f"({versions})",
                    refs,
                )
            )
    return anomalies


def _above_log_start(records: Sequence[StoredRecord], offset: int) -> bool:
    """Whether ``offset`` is at or after the replica's first record (a replica whose
    log was never cut has nothing before it; a later start would be retention)."""
    return not records or offset >= records[0].offset


def check_consumers(history: History) -> list[Anomaly]:
    """Check 3: offsets strictly increase per consumer, session and partition, and
    consumers only ever saw what the log holds in the end."""
    final = _final_by_offset(history)
    last: dict[tuple[str, int, int], Delivery] = {}
    anomalies: list[Anomaly] = []
    for delivery in history.deliveries:
        key = (delivery.consumer, delivery.session, delivery.partition)
        previous = last.get(key)
        if previous is not None and delivery.offset <= previous.offset:
            anomalies.append(
                Anomaly(
                    "consumer-order",
                    delivery.partition,
                    delivery.offset,
                    f"consumer {delivery.consumer} (session {delivery.session}) received "
                    f"offset {delivery.offset} after offset {previous.offset}",
                    (_delivered(previous), _delivered(delivery)),
                )
            )
        last[key] = delivery
        stored = final.get((delivery.partition, delivery.offset))
        if stored is None or stored.write_id != delivery.write_id:
            refs: tuple[RecordRef, ...] = (_delivered(delivery),)
            if stored is not None:
                refs += (RecordRef(FINAL_READ, stored.partition, stored.offset, stored.write_id),)
            anomalies.append(
                Anomaly(
                    "dirty-read",
                    delivery.partition,
                    delivery.offset,
                    f"consumer {delivery.consumer} received {delivery.write_id} at offset "
                    f"{delivery.offset}, where the topic holds "
                    + ("nothing" if stored is None else str(stored.write_id)),
                    refs,
                )
            )
    return anomalies


def _delivered(d: Delivery) -> RecordRef:
    return RecordRef(
        f"consumer {d.consumer} session {d.session}", d.partition, d.offset, d.write_id
    )


def check_commits(history: History) -> list[Anomaly]:
    """Check 4: committed offsets never go backwards, per group, partition and source
    (the poller as a whole; a consumer per assignment session)."""
    highest: dict[tuple[str, int, str, int | None], CommitObservation] = {}
    anomalies: list[Anomaly] = []
    for seen in history.commits:
        session = None if seen.source == OFFSET_FETCH else seen.session
        key = (seen.group, seen.partition, seen.source, session)
        top = highest.get(key)
        if top is not None and seen.offset < top.offset:
            anomalies.append(
                Anomaly(
                    "commit-regression",
                    seen.partition,
                    seen.offset,
                    f"group {seen.group}: {_source(seen)} saw committed offset "
                    f"{seen.offset} after {top.offset}",
                    (_committed(top), _committed(seen)),
                )
            )
        if top is None or seen.offset > top.offset:
            highest[key] = seen
    return anomalies


def _source(seen: CommitObservation) -> str:
    if seen.source == OFFSET_FETCH:
        return "the OffsetFetch poller"
    return f"consumer {seen.source} (session {seen.session})"


def _committed(seen: CommitObservation) -> RecordRef:
    where = seen.source if seen.session is None else f"{seen.source} session {seen.session}"
    return RecordRef(f"committed ({where})", seen.partition, seen.offset, None)


Check = Callable[[History], list[Anomaly]]
CHECKS: Final[Mapping[str, tuple[Check, tuple[AnomalyKind, ...]]]] = {
    "acknowledged writes present exactly once": (
        check_writes,
        ("lost-write", "duplicate-write", "moved-write", "unknown-record"),
    ),
    "replicas agree below the high watermark": (
        check_replicas,
        ("divergent-offset", "replica-gap"),
    ),
    "consumers read in order": (check_consumers, ("consumer-order", "dirty-read")),
    "committed offsets never go backwards": (check_commits, ("commit-regression",)),
}
"""Each check by name, with the anomaly kinds it can report."""


def check(history: History, only: Iterable[str] | None = None) -> list[Anomaly]:
    """Every anomaly of ``history`` (of the checks named in ``only``, default all),
    check by check, in a stable order."""
    names = list(CHECKS) if only is None else list(only)
    return [anomaly for name in names for anomaly in CHECKS[name][0](history)]
