"""Families built from specs at scrape time: labelled with the spec's labels, the
collector's constant values first."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar

from contracts.families import FamilyBuilder
from contracts.metrics import MetricSpec, MetricType

COMMON = ("cluster", "broker")
REQUESTS = MetricSpec("x_requests_total", MetricType.COUNTER, "", "Requests.", ("api",), (), COMMON)
OPEN = MetricSpec("x_open", MetricType.GAUGE, "", "Open.", (), (), COMMON)
LATENCY = MetricSpec(
    "x_latency_seconds", MetricType.HISTOGRAM, "seconds", "Latency.", ("api",), (0.1,), COMMON
)


class _Histogram:
    sum = 0.25

    def cumulative(self) -> list[tuple[str, int] | tuple[str, int, Exemplar]]:
        return [("0.1", 1), ("+Inf", 2)]


class _Collector(Collector):
    def __init__(self, builder: FamilyBuilder, prefix: tuple[str, ...] = ()) -> None:
        self.builder = builder
        self.prefix = prefix

    def collect(self) -> Iterator[Metric]:
        f = self.builder
        requests, gauge, latency = f.family(REQUESTS), f.family(OPEN), f.family(LATENCY)
        f.add(requests, (*self.prefix, "produce"), 3)
        f.add(gauge, self.prefix, 2)
        f.add_histogram(latency, (*self.prefix, "fetch"), _Histogram())
        yield from (requests, gauge, latency)


def _exposition(collector: Collector) -> str:
    registry = CollectorRegistry()
    registry.register(collector)
    return generate_latest(registry).decode()


def test_constant_values_lead_every_sample() -> None:
    text = _exposition(_Collector(FamilyBuilder(("local", "0"))))
    assert 'x_requests_total{api="produce",broker="0",cluster="local"} 3.0' in text
    assert 'x_open{broker="0",cluster="local"} 2.0' in text
    assert 'x_latency_seconds_bucket{api="fetch",broker="0",cluster="local",le="0.1"} 1.0' in text
    assert 'x_latency_seconds_sum{api="fetch",broker="0",cluster="local"} 0.25' in text


def test_without_constant_values_each_sample_gives_its_common_labels() -> None:
    builder = FamilyBuilder()
    assert _exposition(_Collector(builder, ("local", "0"))) == _exposition(
        _Collector(FamilyBuilder(("local", "0")))
    )
