"""The one constructor of the broker's metric specs: common labels and buckets."""

from __future__ import annotations

from contracts.lag.metrics import LAG_LABELS
from contracts.metrics import BROKER_LATENCY_BUCKETS_SECONDS, MetricSpec, MetricType

__all__ = ["BROKER_LABELS", "broker_spec"]

# The common labels of every broker series (the lag metrics share them).
BROKER_LABELS = LAG_LABELS


def broker_spec(
    name: str, type: MetricType, unit: str, help: str, labels: tuple[str, ...] = ()
) -> MetricSpec:
    """A broker metric: ``cluster`` and ``broker`` lead its labels; a histogram gets the
    broker's latency buckets."""
    buckets = BROKER_LATENCY_BUCKETS_SECONDS if type is MetricType.HISTOGRAM else ()
    return MetricSpec(name, type, unit, help, labels, buckets, BROKER_LABELS)
