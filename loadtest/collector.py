"""Aggregates worker frames into a per-interval timeline and whole-run histograms.

Sans-I/O: the generator feeds it :class:`~loadtest.frames.Frame` s in any order across
workers (in order per worker). Interval ``k`` is *complete* once every worker still
running has reported an interval at or after ``k``; complete intervals become
:class:`IntervalPoint` s (rates per second, latency percentiles in milliseconds) and
their histograms are dropped, so memory stays bounded on long runs.

The target of an interval comes from the schedule itself (arrivals due in it), not from
the workers, so a generator that falls behind cannot hide it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from loadtest.frames import Frame, SparseHistogram
from loadtest.histogram import Histogram
from loadtest.schedule import ArrivalSchedule

__all__ = ["PERCENTILES", "Collector", "IntervalPoint", "LatencySummary"]

PERCENTILES = (50.0, 90.0, 99.0, 99.9)


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Percentiles of one histogram, in milliseconds."""

    count: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    mean_ms: float

    @classmethod
    def of(cls, h: Histogram) -> LatencySummary:
        p50, p90, p99, p999 = (v / 1000 for v in h.percentiles(PERCENTILES))
        return cls(h.total, p50, p90, p99, p999, h.max_value / 1000, h.mean() / 1000)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class IntervalPoint:
    """One complete stats interval; rates are per second, latencies in ms (0 if none)."""

    index: int
    start_seconds: float
    target_rate: float
    sent_rate: float
    acked_rate: float
    failed: int
    queue_full: int
    errors: dict[str, int]
    backlog: int
    in_flight: int
    consumed_rate: dict[str, float]
    paused_groups: tuple[str, ...]
    ack_p50_ms: float
    ack_p99_ms: float
    ack_max_ms: float
    service_p99_ms: float
    send_delay_p99_ms: float
    e2e_p50_ms: float
    e2e_p99_ms: float
    e2e_max_ms: float
    producer_cpu_ratio: float  # busiest producer process, share of one core
    consumer_cpu_ratio: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Bin:
    sent: int = 0
    acked: int = 0
    failed: int = 0
    queue_full: int = 0
    backlog: int = 0
    in_flight: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    consumed: Counter[str] = field(default_factory=Counter)
    paused: set[str] = field(default_factory=set)
    ack: Histogram = field(default_factory=Histogram)
    service: Histogram = field(default_factory=Histogram)
    delay: Histogram = field(default_factory=Histogram)
    e2e: Histogram = field(default_factory=Histogram)
    producer_cpu: float = 0.0
    consumer_cpu: float = 0.0


def _add(h: Histogram, data: SparseHistogram | None) -> None:
    if data is not None:
        h.add_sparse(data)


class Collector:
    def __init__(
        self,
        schedule: ArrivalSchedule,
        interval_seconds: float,
        producers: int,
        groups: dict[str, int],
    ) -> None:
        self.schedule = schedule
        self.interval_seconds = interval_seconds
        self.bins: dict[int, _Bin] = {}
        # Last interval each running worker reported; finished workers are removed.
        self.progress: dict[tuple[str, str, int], int] = {
            ("producer", "", w): -1 for w in range(producers)
        }
        for group, members in groups.items():
            for m in range(members):
                self.progress[("consumer", group, m)] = -1
        self.groups = sorted(groups)
        self.points: list[IntervalPoint] = []
        self.ack = Histogram()
        self.service = Histogram()
        self.delay = Histogram()
        self.e2e: dict[str, Histogram] = {g: Histogram() for g in self.groups}
        self.totals: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.consumed: Counter[str] = Counter()
        self._next = 0

    # --- input -------------------------------------------------------------------------
    def add(self, frame: Frame) -> None:
        b = self.bins.setdefault(frame.interval, _Bin())
        cpu = frame.cpu_seconds / frame.wall_seconds if frame.wall_seconds > 0 else 0.0
        if frame.kind == "producer":
            b.sent += frame.sent
            b.acked += frame.acked
            b.failed += frame.failed
            b.queue_full += frame.queue_full
            b.backlog += frame.backlog
            b.in_flight += frame.in_flight
            b.errors.update(frame.errors)
            for h, total, data in (
                (b.ack, self.ack, frame.ack_latency),
                (b.service, self.service, frame.service_latency),
                (b.delay, self.delay, frame.send_delay),
            ):
                _add(h, data)
                _add(total, data)
            b.producer_cpu = max(b.producer_cpu, cpu)
            self.totals.update(sent=frame.sent, acked=frame.acked, failed=frame.failed)
            self.totals.update(sent_bytes=frame.sent_bytes)
            self.totals.update(queue_full=frame.queue_full)
            self.errors.update(frame.errors)
        else:
            b.consumed[frame.group] += frame.consumed
            if frame.paused:
                b.paused.add(frame.group)
            _add(b.e2e, frame.e2e_latency)
            _add(self.e2e.setdefault(frame.group, Histogram()), frame.e2e_latency)
            b.consumer_cpu = max(b.consumer_cpu, cpu)
            self.consumed[frame.group] += frame.consumed
            self.totals.update(foreign=frame.foreign)
            self.errors.update({f"consumer:{k}": v for k, v in frame.errors.items()})
        key = (frame.kind, frame.group, frame.worker)
        if key in self.progress:
            self.progress[key] = max(self.progress[key], frame.interval)

    def finished(self, kind: str, worker: int, group: str = "") -> None:
        """A worker will send no more frames (it sent its ledger, or it died)."""
        self.progress.pop((kind, group, worker), None)

    # --- output ------------------------------------------------------------------------
    def complete(self, flush: bool = False) -> list[IntervalPoint]:
        """New complete intervals, in order (all of them when ``flush``)."""
        if flush:
            last = max(self.bins, default=-1)
        elif self.progress:
            last = min(self.progress.values())
        else:
            last = max(self.bins, default=-1)
        out = []
        while self._next <= last:
            out.append(self._point(self._next, self.bins.pop(self._next, _Bin())))
            self._next += 1
        self.points.extend(out)
        return out

    def _point(self, k: int, b: _Bin) -> IntervalPoint:
        i = self.interval_seconds
        start = k * i
        expected = self.schedule.expected_by(start + i) - self.schedule.expected_by(start)
        a50, a99 = b.ack.percentiles([50, 99])
        e50, e99 = b.e2e.percentiles([50, 99])
        return IntervalPoint(
            index=k,
            start_seconds=start,
            target_rate=float(expected) / i,
            sent_rate=b.sent / i,
            acked_rate=b.acked / i,
            failed=b.failed,
            queue_full=b.queue_full,
            errors=dict(b.errors),
            backlog=b.backlog,
            in_flight=b.in_flight,
            consumed_rate={g: b.consumed[g] / i for g in self.groups},
            paused_groups=tuple(sorted(b.paused)),
            ack_p50_ms=a50 / 1000,
            ack_p99_ms=a99 / 1000,
            ack_max_ms=b.ack.max_value / 1000,
            service_p99_ms=b.service.percentile(99) / 1000,
            send_delay_p99_ms=b.delay.percentile(99) / 1000,
            e2e_p50_ms=e50 / 1000,
            e2e_p99_ms=e99 / 1000,
            e2e_max_ms=b.e2e.max_value / 1000,
            producer_cpu_ratio=b.producer_cpu,
            consumer_cpu_ratio=b.consumer_cpu,
        )

    def latest(self, count: int = 1) -> list[IntervalPoint]:
        return self.points[-count:]

    def e2e_all(self) -> Histogram:
        out = Histogram()
        for h in self.e2e.values():
            out.merge(h)
        return out

    def summaries(self) -> dict[str, LatencySummary]:
        out = {
            "ack": LatencySummary.of(self.ack),
            "service": LatencySummary.of(self.service),
            "send_delay": LatencySummary.of(self.delay),
            "end_to_end": LatencySummary.of(self.e2e_all()),
        }
        for group, h in sorted(self.e2e.items()):
            out[f"end_to_end[{group}]"] = LatencySummary.of(h)
        return out


def points_as_dicts(points: Iterable[IntervalPoint]) -> list[dict[str, Any]]:
    return [p.as_dict() for p in points]
