"""The metric specification type every catalog uses, and the latency bucket boundaries.

Each part keeps its own catalog of :class:`MetricSpec` values (the broker's
``broker/metrics/catalog.py``, the probe's and lag monitor's ``synthetics/catalog.py``,
the SLO engine's ``slo/conventions.py``, the load generator's ``loadtest/metrics.py``)
and registers its instruments from it; dashboards, alert rules and tests import those
values and never retype a name.

Conventions: prefix ``tidewatch_``, base units in the name (``_seconds``, ``_bytes``),
counters end in ``_total``, histograms are in seconds. A spec's ``common`` labels lead
every series of the metric and are the part's, not the metric's: ``cluster`` and
``broker`` on the broker's metrics, ``cluster`` and ``target`` on the probe's. A catalog
passes them as a value; there is one spec type for every part.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

__all__ = [
    "BROKER_LATENCY_BUCKETS_SECONDS",
    "HISTOGRAM_SUFFIXES",
    "LATENCY_BUCKETS_SECONDS",
    "LOAD_LATENCY_BUCKETS_SECONDS",
    "PROBE_LATENCY_BUCKETS_SECONDS",
    "MetricSpec",
    "MetricType",
    "latency_buckets",
    "series_names",
]

# The series a histogram ``x`` exposes: ``x_bucket`` (with ``le``), ``x_sum``, ``x_count``.
HISTOGRAM_SUFFIXES: Final = ("_bucket", "_sum", "_count")


class MetricType(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One exported metric: name, type, unit, help and labels.

    ``labels`` are the metric's own labels; ``common`` are the labels its part puts in
    front of them on every series (see the module docstring), so a series carries
    :attr:`all_labels`. ``buckets`` are the upper bounds (seconds) of a histogram.
    """

    name: str
    type: MetricType
    unit: str
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    common: tuple[str, ...] = ()

    @property
    def family(self) -> str:
        """Name without the ``_total`` suffix (prometheus_client's family name)."""
        if self.type is MetricType.COUNTER and self.name.endswith("_total"):
            return self.name[: -len("_total")]
        return self.name

    @property
    def all_labels(self) -> tuple[str, ...]:
        """The labels of every series: the common ones first, then the metric's own."""
        return (*self.common, *self.labels)

    @property
    def series_names(self) -> tuple[str, ...]:
        """The names Prometheus stores: the name, and for a histogram its three series."""
        if self.type is MetricType.HISTOGRAM:
            return (self.name, *(self.name + suffix for suffix in HISTOGRAM_SUFFIXES))
        return (self.name,)


def series_names(specs: Iterable[MetricSpec]) -> frozenset[str]:
    """Every series name of ``specs`` (histograms with their suffixed series)."""
    return frozenset(name for spec in specs for name in spec.series_names)


# One ladder of latency bounds (seconds), 1-2.5-5 per decade up to 10 s, then 30 s and a
# minute. Each part exports the stretch of it that covers what it times; the stretches
# differ on purpose and are part of what users scrape (changing one changes every
# histogram series a dashboard or recording rule may read, and an SLO's latency
# threshold must be one of its bounds):
# - the broker times work inside one process (a produce handled from the page cache
#   takes tens of microseconds), so it starts at 100 us and stops at 10 s;
# - the probe times round trips to a remote cluster, including client retries, so it
#   starts at 1 ms and goes to a minute;
# - the load generator measures from each message's scheduled send time (coordinated
#   omission corrected), where anything under 5 ms is noise of the schedule.
LATENCY_BUCKETS_SECONDS: Final[tuple[float, ...]] = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


def latency_buckets(first: float, last: float) -> tuple[float, ...]:
    """The bounds of :data:`LATENCY_BUCKETS_SECONDS` from ``first`` to ``last`` (both
    must be on the ladder)."""
    ladder = LATENCY_BUCKETS_SECONDS
    if first not in ladder or last not in ladder or first > last:
        raise ValueError(f"{first}..{last} is not a stretch of the latency ladder {ladder}")
    return ladder[ladder.index(first) : ladder.index(last) + 1]


BROKER_LATENCY_BUCKETS_SECONDS: Final = latency_buckets(0.0001, 10.0)
PROBE_LATENCY_BUCKETS_SECONDS: Final = latency_buckets(0.001, 60.0)
LOAD_LATENCY_BUCKETS_SECONDS: Final = latency_buckets(0.005, 60.0)
