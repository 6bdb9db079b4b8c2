"""Metrics of a running load (the client's view), defined once; exported by game days
so that Prometheus, SLO specs and alert rules can use them.

Uses the one :class:`~contracts.metrics.MetricSpec` type and the same conventions
(``tidewatch_`` prefix, base units, counters end in ``_total``). Latency histograms
(bounds: the load generator's stretch of the latency ladder) are measured from each
message's *scheduled* send time (see :mod:`loadtest.report`). Labels: ``result`` is
``acked`` or ``failed``; ``group`` is one of the workload's consumer groups (bounded by
the workload file).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

from contracts.metrics import LOAD_LATENCY_BUCKETS_SECONDS, MetricSpec, MetricType
from loadtest.collector import Collector as LoadCollector
from loadtest.histogram import Histogram

__all__ = [
    "ACK_LATENCY",
    "CONSUMED",
    "END_TO_END_LATENCY",
    "LOAD_CATALOG",
    "PRODUCED",
    "SCHEDULED",
    "TARGET_RATE",
    "LoadMetricsCollector",
]

SCHEDULED = MetricSpec(
    "tidewatch_load_scheduled_total",
    MetricType.COUNTER,
    "messages",
    "Messages the open-loop schedule has asked for so far.",
)
PRODUCED = MetricSpec(
    "tidewatch_load_produced_total",
    MetricType.COUNTER,
    "messages",
    "Messages the cluster answered, by result (acked, failed).",
    ("result",),
)
CONSUMED = MetricSpec(
    "tidewatch_load_consumed_total",
    MetricType.COUNTER,
    "messages",
    "Messages of this run consumed, per consumer group.",
    ("group",),
)
ACK_LATENCY = MetricSpec(
    "tidewatch_load_ack_latency_seconds",
    MetricType.HISTOGRAM,
    "seconds",
    "Scheduled send time to acknowledgement.",
    buckets=LOAD_LATENCY_BUCKETS_SECONDS,
)
END_TO_END_LATENCY = MetricSpec(
    "tidewatch_load_end_to_end_latency_seconds",
    MetricType.HISTOGRAM,
    "seconds",
    "Scheduled send time to consumption, per consumer group.",
    ("group",),
    LOAD_LATENCY_BUCKETS_SECONDS,
)
TARGET_RATE = MetricSpec(
    "tidewatch_load_target_rate",
    MetricType.GAUGE,
    "messages per second",
    "The schedule's rate in the last complete interval.",
)
LOAD_CATALOG: Final = (SCHEDULED, PRODUCED, CONSUMED, ACK_LATENCY, END_TO_END_LATENCY, TARGET_RATE)


def _histogram(
    spec: MetricSpec, series: list[tuple[list[str], Histogram]]
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(spec.family, spec.help, labels=list(spec.labels))
    for labels, h in series:
        buckets = [(repr(b), float(h.count_at_or_below(int(b * 1_000_000)))) for b in spec.buckets]
        buckets.append(("+Inf", float(h.total)))
        total_seconds = h.mean() * h.total / 1_000_000
        family.add_metric(labels, buckets, total_seconds)
    return family


class LoadMetricsCollector(Collector):
    """Exposes a running load generator's collector (read under its lock)."""

    def __init__(self, source: Callable[[], LoadCollector | None], lock: object) -> None:
        self.source = source
        self.lock = lock

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        c = self.source()
        if c is None:
            return
        with self.lock:  # type: ignore[attr-defined]
            totals = dict(c.totals)
            consumed = dict(c.consumed)
            ack = c.ack.copy()
            e2e = {g: h.copy() for g, h in c.e2e.items()}
            last = c.points[-1] if c.points else None
            scheduled = (
                float(c.schedule.expected_by(last.start_seconds + c.interval_seconds))
                if last
                else 0.0
            )
        yield _counter(SCHEDULED, [([], scheduled)])
        yield _counter(
            PRODUCED,
            [
                (["acked"], float(totals.get("acked", 0))),
                (["failed"], float(totals.get("failed", 0))),
            ],
        )
        yield _counter(CONSUMED, [([g], float(consumed.get(g, 0))) for g in sorted(e2e)])
        yield _histogram(ACK_LATENCY, [([], ack)])
        yield _histogram(END_TO_END_LATENCY, [([g], h) for g, h in sorted(e2e.items())])
        gauge = GaugeMetricFamily(TARGET_RATE.name, TARGET_RATE.help)
        gauge.add_metric([], last.target_rate if last else 0.0)
        yield gauge


def _counter(spec: MetricSpec, values: list[tuple[list[str], float]]) -> CounterMetricFamily:
    family = CounterMetricFamily(spec.family, spec.help, labels=list(spec.labels))
    for labels, value in values:
        family.add_metric(labels, value)
    return family
