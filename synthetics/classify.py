"""Judging probe records: on time, late, reordered, duplicate, corrupted, lost.

:class:`ProbeLedger` is sans-I/O: the probe tells it what it sent, what the cluster
acknowledged or refused, and what the consumer read, each with the current wall-clock
time in nanoseconds, and gets back a :class:`Verdict` per record read and a
:class:`Sweep` (records now lost, records overdue) when it asks. No sockets, no clock
reads, no metrics: the caller owns all of those.

Rules for a record read from partition ``p`` (first match wins):

1. the value is not an intact probe record (no tag, malformed, checksum or padding
   mismatch), or it names another partition than ``p``: CORRUPTED;
2. it belongs to another probe instance (another ``probe`` id): FOREIGN (ignored);
3. its sequence number was already read: DUPLICATE;
4. it is not awaited, not remembered as missed, and not newer than the newest sequence
   read: DUPLICATE of a record read so long ago that it left the ledger's memory;
5. it had already been counted lost: LATE (it arrived after ``lost_after``; the loss
   stays counted, as counters never go down);
6. a higher sequence number was read before it: REORDERED;
7. end-to-end latency (read time minus the ``sent_ns`` it carries) above the SLA: LATE;
8. otherwise ON_TIME.

A record acknowledged by the cluster and not read within ``lost_after_seconds`` of the
acknowledgement is LOST (reported once by :meth:`ProbeLedger.sweep`). Records whose
produce failed or timed out are never counted lost: if they show up anyway they are
judged like the others, and ``lost_after_seconds`` after the failure they are forgotten.
Acknowledged records not yet read whose age exceeds the end-to-end SLA are *overdue*
(the consume-availability check fails for that partition) until read or lost.

Contract: every :meth:`sent` is followed by exactly one :meth:`acked` or :meth:`failed`
(a failed record may still be acknowledged later: a retry that succeeded after the
probe's ack timeout). Memory per partition is bounded by the records in flight plus
``memory`` remembered sequence numbers. Not thread-safe; one event loop calls it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from synthetics.record import CorruptRecordError, decode_value

__all__ = [
    "LedgerConfig",
    "LostRecord",
    "Outcome",
    "PartitionSummary",
    "ProbeLedger",
    "Sweep",
    "Verdict",
]

_NS = 1_000_000_000


class Outcome(StrEnum):
    ON_TIME = "on_time"
    LATE = "late"
    REORDERED = "reordered"
    DUPLICATE = "duplicate"
    CORRUPTED = "corrupted"
    FOREIGN = "foreign"


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    partition: int
    sequence: int | None = None
    latency_seconds: float | None = None  # end to end, for first arrivals only
    reason: str = ""

    @property
    def first_arrival(self) -> bool:
        return self.outcome in (Outcome.ON_TIME, Outcome.LATE, Outcome.REORDERED)


@dataclass(frozen=True, slots=True)
class LostRecord:
    partition: int
    sequence: int
    sent_ns: int
    acked_ns: int


@dataclass(frozen=True, slots=True)
class Sweep:
    lost: tuple[LostRecord, ...] = ()
    overdue: Mapping[int, int] = field(default_factory=dict)  # partition -> records


@dataclass(frozen=True, slots=True)
class LedgerConfig:
    end_to_end_seconds: float
    lost_after_seconds: float
    memory: int = 10_000  # sequence numbers remembered per partition (read, missed)

    def __post_init__(self) -> None:
        if not 0 < self.end_to_end_seconds < self.lost_after_seconds:
            raise ValueError("need 0 < end_to_end_seconds < lost_after_seconds")
        if self.memory < 1:
            raise ValueError("memory must be at least 1")


@dataclass(frozen=True, slots=True)
class PartitionSummary:
    partition: int
    highest_sequence_read: int  # -1 before the first
    in_flight: int  # sent, neither acknowledged nor failed yet
    awaiting: int  # acknowledged, not read yet


@dataclass(slots=True)
class _Pending:
    sent_ns: int
    acked_ns: int | None = None
    failed_ns: int | None = None


class _Partition:
    __slots__ = ("highest", "memory", "missed", "pending", "seen")

    def __init__(self, memory: int) -> None:
        self.pending: dict[int, _Pending] = {}
        self.seen: OrderedDict[int, None] = OrderedDict()
        self.missed: OrderedDict[int, str] = OrderedDict()  # seq -> "lost" | "failed"
        self.highest = -1
        self.memory = memory

    def remember_seen(self, sequence: int) -> None:
        self.seen[sequence] = None
        if len(self.seen) > self.memory:
            self.seen.popitem(last=False)

    def remember_missed(self, sequence: int, why: str) -> None:
        self.missed[sequence] = why
        if len(self.missed) > self.memory:
            self.missed.popitem(last=False)


class ProbeLedger:
    """What one probe instance sent and read, per partition; see the module docstring."""

    def __init__(self, probe_id: str, config: LedgerConfig) -> None:
        self.probe_id = probe_id
        self.config = config
        self._partitions: dict[int, _Partition] = {}

    def _state(self, partition: int) -> _Partition:
        state = self._partitions.get(partition)
        if state is None:
            state = self._partitions[partition] = _Partition(self.config.memory)
        return state

    # -- the producer side ---------------------------------------------------------------
    def sent(self, partition: int, sequence: int, sent_ns: int) -> None:
        self._state(partition).pending[sequence] = _Pending(sent_ns)

    def acked(self, partition: int, sequence: int, now_ns: int) -> None:
        """The cluster acknowledged the record (possibly after it was already read)."""
        state = self._state(partition)
        pending = state.pending.get(sequence)
        if pending is not None:
            pending.acked_ns = now_ns
            pending.failed_ns = None
        elif state.missed.get(sequence) == "failed":
            # acknowledged after it was given up on and forgotten: await it again
            del state.missed[sequence]
            state.pending[sequence] = _Pending(now_ns, acked_ns=now_ns)

    def failed(self, partition: int, sequence: int, now_ns: int) -> None:
        """The produce failed or timed out; the record is not counted lost if unseen."""
        pending = self._state(partition).pending.get(sequence)
        if pending is not None and pending.acked_ns is None:
            pending.failed_ns = now_ns

    # -- the consumer side ---------------------------------------------------------------
    def consumed(self, partition: int, value: bytes | None, now_ns: int) -> Verdict:
        try:
            record = decode_value(value)
        except CorruptRecordError as exc:
            return Verdict(Outcome.CORRUPTED, partition, reason=str(exc))
        if record.probe_id != self.probe_id:
            return Verdict(
                Outcome.FOREIGN, partition, record.sequence, reason=f"probe {record.probe_id}"
            )
        seq = record.sequence
        if record.partition != partition:
            return Verdict(
                Outcome.CORRUPTED,
                partition,
                seq,
                reason=f"record written to partition {record.partition} read from {partition}",
            )
        state = self._state(partition)
        if seq in state.seen:
            return Verdict(Outcome.DUPLICATE, partition, seq, reason=f"sequence {seq} read before")
        pending = state.pending.pop(seq, None)
        missed = state.missed.pop(seq, None)
        if pending is None and missed is None and seq <= state.highest:
            return Verdict(
                Outcome.DUPLICATE,
                partition,
                seq,
                reason=f"sequence {seq} is older than every record still remembered",
            )
        latency = max(0.0, (now_ns - record.sent_ns) / _NS)
        previous_highest = state.highest
        state.remember_seen(seq)
        state.highest = max(state.highest, seq)
        if missed == "lost":
            return Verdict(
                Outcome.LATE, partition, seq, latency, "arrived after it was counted lost"
            )
        if seq < previous_highest:
            return Verdict(
                Outcome.REORDERED,
                partition,
                seq,
                latency,
                f"sequence {seq} read after {previous_highest}",
            )
        if latency > self.config.end_to_end_seconds:
            return Verdict(
                Outcome.LATE,
                partition,
                seq,
                latency,
                f"{latency:.3f} s end to end, over the {self.config.end_to_end_seconds:g} s SLA",
            )
        return Verdict(Outcome.ON_TIME, partition, seq, latency)

    # -- time passing --------------------------------------------------------------------
    def sweep(self, now_ns: int) -> Sweep:
        """Records lost since the last sweep, and overdue records per partition."""
        lost_after_ns = int(self.config.lost_after_seconds * _NS)
        sla_ns = int(self.config.end_to_end_seconds * _NS)
        lost: list[LostRecord] = []
        overdue: dict[int, int] = {}
        for partition, state in sorted(self._partitions.items()):
            overdue[partition] = 0
            for seq, p in list(state.pending.items()):
                if p.acked_ns is not None:
                    if now_ns - p.acked_ns > lost_after_ns:
                        del state.pending[seq]
                        state.remember_missed(seq, "lost")
                        lost.append(LostRecord(partition, seq, p.sent_ns, p.acked_ns))
                    elif now_ns - p.sent_ns > sla_ns:
                        overdue[partition] += 1
                elif p.failed_ns is not None and now_ns - p.failed_ns > lost_after_ns:
                    del state.pending[seq]
                    state.remember_missed(seq, "failed")
        return Sweep(tuple(lost), overdue)

    def summary(self) -> list[PartitionSummary]:
        out = []
        for partition, state in sorted(self._partitions.items()):
            in_flight = sum(
                1 for p in state.pending.values() if p.acked_ns is None and p.failed_ns is None
            )
            awaiting = sum(1 for p in state.pending.values() if p.acked_ns is not None)
            out.append(PartitionSummary(partition, state.highest, in_flight, awaiting))
        return out
