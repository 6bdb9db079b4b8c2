"""Data-loss accounting: the fate of every scheduled record, per consumer group (pure).

Inputs are the producer ledgers (acknowledged or failed, and where each acknowledged
record was stored), the consumer ledgers (how often each group saw each record), and at
the end of the run each partition's log start offset and each group's committed offset.
Records are identified by (producer worker, sequence), never by offset: after a crash
that lost an unflushed tail the broker reuses those offsets for new records.

For every group, each acknowledged record is exactly one of:

- ``consumed``: the group saw it (``duplicates`` counts extra sightings);
- ``deleted_by_retention``: never seen, and its offset is now below the log start
  (retention removed it before the group got there: expected in a retention game day);
- ``pending``: never seen, and its offset is at or past the group's committed offset
  (still waiting; the run ended before the group caught up);
- ``lost``: never seen, though the group's position moved past it: an acknowledged
  record the broker no longer has (or never stored). This is what a durable flush
  policy promises to keep at zero.

Records that failed (or got no answer) and were nevertheless consumed are counted as
``delivered_unacknowledged`` (a timeout after the write: at-least-once, not loss).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

from loadtest.frames import ConsumerLedger, ProducerLedger

__all__ = ["GroupAccount", "account"]

STATE_ACKED = 1
STATE_FAILED = 2


@dataclass(frozen=True, slots=True)
class GroupAccount:
    group: str
    scheduled: int
    acknowledged: int
    failed: int
    unanswered: int
    consumed: int
    duplicates: int
    lost: int
    deleted_by_retention: int
    pending: int
    delivered_unacknowledged: int
    lost_examples: tuple[tuple[int, int, int, int], ...] = ()  # (worker, seq, partition, offset)

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["lost_examples"] = [list(x) for x in self.lost_examples]
        return out


def account(
    producers: Sequence[ProducerLedger],
    consumers: Sequence[ConsumerLedger],
    log_start: Mapping[int, int],
    committed: Mapping[str, Mapping[int, int]],
    groups: Sequence[str],
) -> list[GroupAccount]:
    """One :class:`GroupAccount` per group (see module docstring)."""
    return [
        _account_group(g, producers, consumers, log_start, committed.get(g, {})) for g in groups
    ]


def _account_group(
    group: str,
    producers: Sequence[ProducerLedger],
    consumers: Sequence[ConsumerLedger],
    log_start: Mapping[int, int],
    committed: Mapping[int, int],
) -> GroupAccount:
    totals = dict.fromkeys(
        (
            "scheduled",
            "acknowledged",
            "failed",
            "unanswered",
            "consumed",
            "duplicates",
            "lost",
            "deleted",
            "pending",
            "unacked",
        ),
        0,
    )
    examples: list[tuple[int, int, int, int]] = []
    for ledger in producers:
        counts = _counts_for(ledger.worker, ledger.state.size, group, consumers)
        seen = counts > 0
        acked = ledger.state == STATE_ACKED
        missing = acked & ~seen
        starts = _lookup(log_start, ledger.partition, default=0)
        positions = _lookup(committed, ledger.partition, default=-1)
        deleted = missing & (ledger.offset < starts)
        pending = missing & ~deleted & ((positions < 0) | (ledger.offset >= positions))
        lost = missing & ~deleted & ~pending
        totals["scheduled"] += int(ledger.state.size)
        totals["acknowledged"] += int(acked.sum())
        totals["failed"] += int((ledger.state == STATE_FAILED).sum())
        totals["unanswered"] += int((ledger.state == 0).sum())
        totals["consumed"] += int((acked & seen).sum())
        totals["duplicates"] += int(np.maximum(counts.astype(np.int64) - 1, 0).sum())
        totals["lost"] += int(lost.sum())
        totals["deleted"] += int(deleted.sum())
        totals["pending"] += int(pending.sum())
        totals["unacked"] += int((~acked & seen).sum())
        for seq in np.flatnonzero(lost)[: 10 - len(examples)].tolist():
            examples.append(
                (ledger.worker, seq, int(ledger.partition[seq]), int(ledger.offset[seq]))
            )
    return GroupAccount(
        group=group,
        scheduled=totals["scheduled"],
        acknowledged=totals["acknowledged"],
        failed=totals["failed"],
        unanswered=totals["unanswered"],
        consumed=totals["consumed"],
        duplicates=totals["duplicates"],
        lost=totals["lost"],
        deleted_by_retention=totals["deleted"],
        pending=totals["pending"],
        delivered_unacknowledged=totals["unacked"],
        lost_examples=tuple(examples),
    )


def _counts_for(
    worker: int, size: int, group: str, consumers: Sequence[ConsumerLedger]
) -> npt.NDArray[np.uint32]:
    total = np.zeros(size, dtype=np.uint32)
    for ledger in consumers:
        counts = ledger.counts.get(worker)
        if ledger.group == group and counts is not None:
            n = min(size, counts.size)
            total[:n] += counts[:n]
    return total


def _lookup(
    table: Mapping[int, int], partitions: npt.NDArray[np.int32], default: int
) -> npt.NDArray[np.int64]:
    """``table[partition]`` for each record (``default`` for unknown or -1)."""
    if not table:
        return np.full(partitions.size, default, dtype=np.int64)
    size = max(max(table) + 1, int(partitions.max(initial=0)) + 1)
    lut = np.full(size, default, dtype=np.int64)
    for p, value in table.items():
        if p >= 0:
            lut[p] = value
    safe = np.where(partitions >= 0, partitions, 0)
    return np.where(partitions >= 0, lut[safe], default)
