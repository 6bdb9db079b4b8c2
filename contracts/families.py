"""Prometheus metric families built from catalog specs, at scrape time.

For collectors that turn their own state into samples when scraped (the broker's, the
lag monitor's) instead of updating prometheus_client instruments on the hot path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.samples import Exemplar

from contracts.metrics import MetricSpec, MetricType

__all__ = ["CumulativeHistogram", "FamilyBuilder"]


class CumulativeHistogram(Protocol):
    """A histogram read for exposition: (le, cumulative count[, exemplar]) including
    ``+Inf``, and the sum of the observations."""

    @property
    def sum(self) -> float: ...

    def cumulative(self) -> list[tuple[str, int] | tuple[str, int, Exemplar]]: ...


class FamilyBuilder:
    """Creates a family per spec, labelled with the spec's :attr:`~MetricSpec.all_labels`,
    and adds samples to it.

    ``const_values`` are the values of the leading labels that are the same for every
    series of this collector (the broker's ``cluster`` and node id); they are put in
    front of the values each sample gives. A collector whose common labels vary per
    series (the lag monitor watching several clusters) passes none.
    """

    def __init__(self, const_values: Sequence[str] = ()) -> None:
        self.const_values = tuple(const_values)

    def family(self, spec: MetricSpec) -> Metric:
        labels = list(spec.all_labels)
        if spec.type is MetricType.COUNTER:
            return CounterMetricFamily(spec.family, spec.help, labels=labels)
        if spec.type is MetricType.GAUGE:
            return GaugeMetricFamily(spec.name, spec.help, labels=labels)
        return HistogramMetricFamily(spec.name, spec.help, labels=labels)

    def add(self, family: Metric, labels: Iterable[str], value: float) -> None:
        family.add_metric([*self.const_values, *labels], value)  # type: ignore[attr-defined]

    def add_histogram(
        self, family: Metric, labels: Iterable[str], histogram: CumulativeHistogram
    ) -> None:
        family.add_metric(  # type: ignore[attr-defined]
            [*self.const_values, *labels],
            buckets=histogram.cumulative(),
            sum_value=histogram.sum,
        )
