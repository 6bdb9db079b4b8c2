"""Plain in-process counters for the hot path: a few integer operations per request,
turned into Prometheus families only when scraped (see ``collector``)."""

from __future__ import annotations

import time
from bisect import bisect_left
from dataclasses import dataclass, field

from prometheus_client.samples import Exemplar

from contracts.metrics import BROKER_LATENCY_BUCKETS_SECONDS

__all__ = ["BrokerStats", "LatencyHistogram", "ReplicationStats", "RequestStats"]


class LatencyHistogram:
    """Cumulative-on-read histogram with fixed bounds (seconds). When an observation
    carries a trace id, it becomes its bucket's exemplar (the latest one wins)."""

    __slots__ = ("bounds", "counts", "exemplars", "sum")

    def __init__(self, bounds: tuple[float, ...] = BROKER_LATENCY_BUCKETS_SECONDS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.exemplars: dict[int, tuple[str, float, float]] | None = None

    def observe(self, seconds: float, trace_id: str | None = None) -> None:
        bucket = bisect_left(self.bounds, seconds)
        self.counts[bucket] += 1
        self.sum += seconds
        if trace_id is not None:
            if self.exemplars is None:
                self.exemplars = {}
            self.exemplars[bucket] = (trace_id, seconds, time.time())

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, int] | tuple[str, int, Exemplar]]:
        """(le, cumulative count[, exemplar]) including +Inf, for exposition."""
        out: list[tuple[str, int] | tuple[str, int, Exemplar]] = []
        running = 0
        labels = [*(repr(b) for b in self.bounds), "+Inf"]
        for i, (le, n) in enumerate(zip(labels, self.counts, strict=True)):
            running += n
            exemplar = self.exemplars.get(i) if self.exemplars else None
            if exemplar is None:
                out.append((le, running))
            else:
                trace_id, value, when = exemplar
                out.append((le, running, Exemplar({"trace_id": trace_id}, value, when)))
        return out


@dataclass(slots=True)
class RequestStats:
    errors: dict[str, int] = field(default_factory=dict)
    duration: LatencyHistogram = field(default_factory=LatencyHistogram)
    queue: LatencyHistogram = field(default_factory=LatencyHistogram)

    def record(
        self, error: str, queue_s: float, total_s: float, trace_id: str | None = None
    ) -> None:
        self.errors[error] = self.errors.get(error, 0) + 1
        self.queue.observe(queue_s)
        self.duration.observe(total_s, trace_id)


@dataclass(slots=True)
class ReplicationStats:
    """Replication counters, bumped on the hot path with plain additions.

    ``isr_shrinks``/``isr_expands``: committed ISR changes of partitions this broker
    leads, counted when its image shows them (``count_isr_changes``), whoever asked
    (the leader itself, or the controller taking a fenced broker out);
    ``isr_update_failures``: AlterPartition answers that were not NONE, no answer
    included; ``bytes_in``: record bytes fetched as a follower; ``bytes_out``: record
    bytes served to followers; ``follower_fetch``: replica fetch round trips."""

    isr_shrinks: int = 0
    isr_expands: int = 0
    isr_update_failures: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    follower_fetch: LatencyHistogram = field(default_factory=LatencyHistogram)


@dataclass(slots=True)
class BrokerStats:
    """Counters owned by the network, server and node layers."""

    requests: dict[str, RequestStats] = field(default_factory=dict)
    connections_open: int = 0
    connections_accepted: int = 0
    malformed: dict[str, int] = field(default_factory=dict)
    trailing_bytes: dict[str, int] = field(default_factory=dict)
    storage_errors: int = 0
    flush: LatencyHistogram = field(default_factory=LatencyHistogram)
    replication: ReplicationStats = field(default_factory=lambda: ReplicationStats())

    def request(self, api: str) -> RequestStats:
        stats = self.requests.get(api)
        if stats is None:
            stats = self.requests[api] = RequestStats()
        return stats

    def count_malformed(self, reason: str) -> None:
        self.malformed[reason] = self.malformed.get(reason, 0) + 1

    def count_trailing(self, api: str) -> None:
        self.trailing_bytes[api] = self.trailing_bytes.get(api, 0) + 1
