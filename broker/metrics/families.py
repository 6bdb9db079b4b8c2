"""Building Prometheus metric families from catalog specs (shared by collectors)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from broker.metrics.catalog import MetricSpec, MetricType
from broker.metrics.stats import LatencyHistogram

__all__ = ["FamilyBuilder"]


class FamilyBuilder:
    """Creates families for specs and adds samples, prefixing constant label values."""

    def __init__(self, const_labels: Sequence[str] = (), const_values: Sequence[str] = ()) -> None:
        self.const_labels = tuple(const_labels)
        self.const_values = tuple(const_values)

    def family(self, spec: MetricSpec) -> Metric:
        labels = [*self.const_labels, *spec.labels]
        if spec.type is MetricType.COUNTER:
            return CounterMetricFamily(spec.family, spec.help, labels=labels)
        if spec.type is MetricType.GAUGE:
            return GaugeMetricFamily(spec.name, spec.help, labels=labels)
        return HistogramMetricFamily(spec.name, spec.help, labels=labels)

    def add(self, family: Metric, labels: Iterable[str], value: float) -> None:
        family.add_metric([*self.const_values, *labels], value)  # type: ignore[attr-defined]

    def add_histogram(self, family: Metric, labels: Iterable[str], h: LatencyHistogram) -> None:
        family.add_metric(  # type: ignore[attr-defined]
            [*self.const_values, *labels], buckets=h.cumulative(), sum_value=h.sum
        )
