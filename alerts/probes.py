"""THE ONE PLACE where dashboards and alerts meet the probe metric catalog
(``synthetics/catalog.py``).

Panels and alerts ask for a *role* (``PROBE_METRICS.lost`` ...) and get the catalog's own
spec object, so nothing in dashboards/ or alerts/ spells a probe metric name. Probe
expressions select on metric names and the probe's own labels only, never on the scrape
``job``: the same rules and panels work whether Prometheus scrapes a standalone
``tidewatch probe`` (job ``tidewatch-probe``) or a process that serves the probe metrics
from the broker's own ``/metrics`` (``tidewatch up``, job ``tidewatch-broker``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Final

from alerts.promql import MetricLike
from synthetics import catalog as probe

__all__ = ["PROBE_METRICS", "ProbeMetrics"]


@dataclass(frozen=True, slots=True)
class ProbeMetrics:
    """The probe metrics dashboards and alerts use, by role.

    Counters count probe records (one per partition per interval): produce attempts and
    the successes among them (produce availability), records acknowledged (``produced``,
    the population that can be lost) and the anomalies; the two latency metrics are
    histograms in seconds. ``target_label``, ``partition_label`` and ``broker_label`` name
    the labels carrying the probe target, the probed partition and its leader broker.
    """

    produce_attempts: MetricLike
    produce_successes: MetricLike
    produced: MetricLike
    produce_errors: MetricLike
    consumed: MetricLike
    lost: MetricLike
    duplicated: MetricLike
    ack_latency: MetricLike
    end_to_end_latency: MetricLike
    reordered: MetricLike | None = None
    corrupted: MetricLike | None = None
    late: MetricLike | None = None
    target_label: str = "target"
    partition_label: str = "partition"
    broker_label: str = "broker"

    def specs(self) -> tuple[MetricLike, ...]:
        out: list[MetricLike] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and not isinstance(value, str):
                out.append(value)
        return tuple(out)

    def anomalies(self) -> tuple[tuple[str, MetricLike], ...]:
        """(kind, counter) of every anomaly the catalog counts, for per-kind panels."""
        kinds = ("lost", "duplicated", "reordered", "corrupted", "late")
        return tuple((k, getattr(self, k)) for k in kinds if getattr(self, k) is not None)


PROBE_METRICS: Final = ProbeMetrics(
    produce_attempts=probe.PRODUCE_ATTEMPTS,
    produce_successes=probe.PRODUCE_SUCCESSES,
    produced=probe.RECORDS_PRODUCED,
    produce_errors=probe.PRODUCE_ERRORS,
    consumed=probe.RECORDS_CONSUMED,
    lost=probe.RECORDS_LOST,
    duplicated=probe.RECORDS_DUPLICATED,
    ack_latency=probe.ACK_LATENCY,
    end_to_end_latency=probe.END_TO_END_LATENCY,
    reordered=probe.RECORDS_REORDERED,
    corrupted=probe.RECORDS_CORRUPTED,
    late=probe.RECORDS_LATE,
)
