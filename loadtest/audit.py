"""The log audit: is every acknowledged record in the topic exactly once, per acks setting?

Consumer-group accounting (:mod:`loadtest.accounting`) says what each group *saw*: a
group that re-reads after a coordinator move sees records twice although the log holds
them once. The audit reads the log itself once the load is over (every partition from
its log start to its high watermark, as a consumer without a group) and counts how
often each (producer worker, sequence) of this run is stored. Per acks setting (the
producer processes may mix them: ``producers.acks: [all, 1]``), of the acknowledged
records:

- ``lost``: stored nowhere although acknowledged (and not below the log start, which
  retention would explain): what acks=1 may lose when a leader is cut off, and what
  acks=all with ``min.insync.replicas`` satisfied must never lose;
- ``duplicated``: stored more than once (a retried produce without idempotence).

``unacknowledged_stored`` counts records that failed or got no answer and are stored
nevertheless (a timeout after the write: the producer cannot know). :func:`audit` is
pure; :func:`read_stored` does the reading (confluent-kafka, imported inside).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from loadtest import payload
from loadtest.accounting import STATE_ACKED
from loadtest.frames import ProducerLedger

__all__ = ["AcksAudit", "audit", "read_stored"]

StoredCounts = dict[int, npt.NDArray[np.uint16]]  # producer worker -> count by sequence
_EXAMPLES = 10


@dataclass(frozen=True, slots=True)
class AcksAudit:
    acks: str
    producers: int
    acknowledged: int
    lost: int
    duplicated: int
    unacknowledged_stored: int
    lost_examples: tuple[tuple[int, int, int, int], ...] = ()  # (worker, seq, partition, offset)

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["lost_examples"] = [list(x) for x in self.lost_examples]
        return out


def audit(
    producers: Sequence[ProducerLedger],
    stored: Mapping[int, npt.NDArray[np.uint16]],
    log_start: Mapping[int, int],
    acks_of: Callable[[int], str],
) -> list[AcksAudit]:
    """One :class:`AcksAudit` per acks setting, in the order the settings first appear."""
    rows: dict[str, dict[str, int]] = {}
    examples: dict[str, list[tuple[int, int, int, int]]] = {}
    for ledger in sorted(producers, key=lambda x: x.worker):
        acks = acks_of(ledger.worker)
        row = rows.setdefault(acks, dict.fromkeys(("producers", "acked", "lost", "dup", "un"), 0))
        counts = np.zeros(ledger.state.size, dtype=np.int64)
        found = stored.get(ledger.worker)
        if found is not None:
            n = min(found.size, counts.size)
            counts[:n] = found[:n]
        acked = ledger.state == STATE_ACKED
        starts = np.array([log_start.get(int(p), 0) for p in ledger.partition], dtype=np.int64)
        lost = acked & (counts == 0) & (ledger.offset >= starts)
        row["producers"] += 1
        row["acked"] += int(acked.sum())
        row["lost"] += int(lost.sum())
        row["dup"] += int((acked & (counts > 1)).sum())
        row["un"] += int((~acked & (counts > 0)).sum())
        mine = examples.setdefault(acks, [])
        for seq in np.flatnonzero(lost)[: _EXAMPLES - len(mine)].tolist():
            mine.append((ledger.worker, seq, int(ledger.partition[seq]), int(ledger.offset[seq])))
    return [
        AcksAudit(
            acks, r["producers"], r["acked"], r["lost"], r["dup"], r["un"], tuple(examples[acks])
        )
        for acks, r in rows.items()
    ]


def read_stored(
    bootstrap: str, topic: str, run_id: int, timeout_seconds: float = 30.0
) -> tuple[StoredCounts, dict[int, int]]:
    """(how often each record of run ``run_id`` is stored, by worker and sequence; the
    log start of each partition), read from every partition's log start to its high
    watermark. Raises ``RuntimeError`` when the end is not reached within the timeout."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"tidewatch-audit-{run_id}",
            "enable.auto.commit": "false",
            "log_level": "2",
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_seconds)
        partitions = sorted(metadata.topics[topic].partitions)
        ends: dict[int, int] = {}
        starts: dict[int, int] = {}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            starts[p], ends[p] = low, high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        return _count(consumer, run_id, ends, time.monotonic() + timeout_seconds), starts
    finally:
        consumer.close()


def _count(consumer: Any, run_id: int, ends: dict[int, int], deadline: float) -> StoredCounts:
    sightings: dict[int, list[int]] = {}
    position = dict.fromkeys(ends, -1)
    while any(position[p] + 1 < end for p, end in ends.items()):
        if time.monotonic() > deadline:
            behind = {p: (position[p] + 1, e) for p, e in ends.items() if position[p] + 1 < e}
            raise RuntimeError(f"the audit did not reach the high watermarks: {behind}")
        for message in consumer.consume(1000, 0.5):
            if message.error() is not None:
                continue
            position[message.partition()] = message.offset()
            value = message.value()
            if value is None or len(value) < payload.HEADER_BYTES:
                continue
            magic, worker, run, seq, _, _ = payload.unpack_from(value)
            if magic == payload.MAGIC and run == run_id:
                sightings.setdefault(worker, []).append(seq)
    return {
        worker: np.bincount(np.asarray(seqs, dtype=np.int64)).astype(np.uint16)
        for worker, seqs in sightings.items()
    }
