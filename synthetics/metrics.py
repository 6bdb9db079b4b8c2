"""Prometheus instruments built from the catalog, on a registry the caller injects.

:class:`Instruments` registers every spec it is given once per registry;
:class:`BoundMetrics` binds the leading label values (``cluster`` and ``target`` of a
probe target) so the calling code names only the per-series labels.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from contracts.metrics import MetricSpec, MetricType
from synthetics.catalog import PROBE_CATALOG

__all__ = ["BoundMetrics", "Instruments"]

Instrument = Counter | Gauge | Histogram


class Instruments:
    def __init__(
        self, registry: CollectorRegistry, specs: Iterable[MetricSpec] = PROBE_CATALOG
    ) -> None:
        self.registry = registry
        self._by_name: dict[str, Instrument] = {}
        for spec in specs:
            self._by_name[spec.name] = _build(spec, registry)

    def get(self, spec: MetricSpec) -> Instrument:
        return self._by_name[spec.name]


def _build(spec: MetricSpec, registry: CollectorRegistry) -> Instrument:
    labels = spec.all_labels
    if spec.type is MetricType.COUNTER:
        return Counter(spec.family, spec.help, labels, registry=registry)
    if spec.type is MetricType.GAUGE:
        return Gauge(spec.name, spec.help, labels, registry=registry)
    return Histogram(spec.name, spec.help, labels, registry=registry, buckets=spec.buckets)


class BoundMetrics:
    """The instruments with their leading (``common``) label values bound: ``cluster``
    and ``target`` for a probe target, ``cluster`` for a lag-monitored cluster."""

    def __init__(self, instruments: Instruments, *common: str) -> None:
        self._instruments = instruments
        self._prefix = common

    def _child(self, spec: MetricSpec, labels: tuple[object, ...]) -> Any:
        return self._instruments.get(spec).labels(*self._prefix, *(str(v) for v in labels))

    def inc(self, spec: MetricSpec, *labels: object, amount: float = 1) -> None:
        self._child(spec, labels).inc(amount)

    def touch(self, spec: MetricSpec, *labels: object) -> None:
        """Create the series at zero, so rates and ratios exist before the first event."""
        self._child(spec, labels)

    def set(self, spec: MetricSpec, value: float, *labels: object) -> None:
        self._child(spec, labels).set(value)

    def observe(
        self,
        spec: MetricSpec,
        value: float,
        *labels: object,
        trace_id: str | None = None,
    ) -> None:
        exemplar = {"trace_id": trace_id} if trace_id else None
        self._child(spec, labels).observe(value, exemplar=exemplar)
