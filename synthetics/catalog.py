"""Every metric the probe and the lag monitor export, defined once.

Probe metrics (prefix ``tidewatch_probe_``) carry the labels ``cluster`` (the target's
``cluster``, as on the broker's metrics) and ``target`` (the target's name) and then
their own. Per-partition series carry ``partition`` and ``broker``, the node id of the
partition's leader when the record was sent or read (``unknown`` while metadata is
missing); per-broker series carry ``broker``. Cardinality per target: partitions x
leaders seen (one leader each unless leadership moves) x 15 buckets for the latency
histograms, brokers x 15 buckets for the per-broker ones. ``reason`` is ``timeout``,
``error`` or ``leader_change`` (see ``PRODUCE_ERRORS``).

The lag monitor exports the broker's own consumer-group metrics (``LAG_METRICS``,
defined once in ``contracts/lag/metrics.py`` for both, so the names and labels cannot
drift: one dashboard serves both) plus a few about itself (``tidewatch_lagmon_``).

Dashboards and alerts use the probe metrics by role through :data:`PROBE_METRICS`, so
nothing in them spells a probe metric name.

Availability-friendly pairs for SLOs: produce attempts/successes, consume
attempts/successes, connection attempts/errors, records produced/lost.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Final

from contracts.metrics import PROBE_LATENCY_BUCKETS_SECONDS, MetricSpec, MetricType

__all__ = [
    "LAGMON_CATALOG",
    "LAGMON_LABELS",
    "PROBE_CATALOG",
    "PROBE_LABELS",
    "PROBE_METRICS",
    "ProbeMetrics",
]

# The common labels of the probe's series and of the lag monitor's own series.
PROBE_LABELS: Final = ("cluster", "target")
LAGMON_LABELS: Final = ("cluster",)


def _probe(
    name: str,
    type: MetricType,
    unit: str,
    help: str,
    labels: tuple[str, ...] = (),
    buckets: tuple[float, ...] = (),
) -> MetricSpec:
    return MetricSpec(name, type, unit, help, labels, buckets, PROBE_LABELS)


_PB = ("partition", "broker")
_B = ("broker",)
C, G, H = MetricType.COUNTER, MetricType.GAUGE, MetricType.HISTOGRAM

# -- produce ---------------------------------------------------------------------------
PRODUCE_ATTEMPTS = _probe(
    "tidewatch_probe_produce_attempts_total",
    C,
    "records",
    "Probe records the probe tried to produce (acks=all), one per partition per interval.",
    _PB,
)
PRODUCE_SUCCESSES = _probe(
    "tidewatch_probe_produce_successes_total",
    C,
    "records",
    "Probe records acknowledged within the ack SLA (the good events of produce availability).",
    _PB,
)
PRODUCE_ERRORS = _probe(
    "tidewatch_probe_produce_errors_total",
    C,
    "records",
    "Probe produce attempts that failed: reason timeout (no ack within the ack SLA), error "
    "(the client gave up) or leader_change (either, while the partition's leader had moved "
    "away from the broker it was sent to, or the client reported NOT_LEADER or "
    "LEADER_NOT_AVAILABLE). Counted against that broker. Attempts = successes + errors.",
    (*_PB, "reason"),
)
RECORDS_PRODUCED = _probe(
    "tidewatch_probe_records_produced_total",
    C,
    "records",
    "Probe records acknowledged by the cluster, however late (the population that can be lost).",
    _PB,
)
ACK_LATENCY = _probe(
    "tidewatch_probe_ack_latency_seconds",
    H,
    "seconds",
    "Time from sending a probe record to its acknowledgement (acks=all).",
    _PB,
    PROBE_LATENCY_BUCKETS_SECONDS,
)

# -- consume ---------------------------------------------------------------------------
RECORDS_CONSUMED = _probe(
    "tidewatch_probe_records_consumed_total",
    C,
    "records",
    "Intact records of this probe read back, duplicates included.",
    _PB,
)
RECORDS_LATE = _probe(
    "tidewatch_probe_records_late_total",
    C,
    "records",
    "Records read for the first time later than the end-to-end SLA (or after being counted lost).",
    _PB,
)
RECORDS_REORDERED = _probe(
    "tidewatch_probe_records_reordered_total",
    C,
    "records",
    "Records read after a record with a higher sequence number of the same partition.",
    _PB,
)
RECORDS_DUPLICATED = _probe(
    "tidewatch_probe_records_duplicated_total",
    C,
    "records",
    "Records read more than once (same probe, partition and sequence number).",
    _PB,
)
RECORDS_CORRUPTED = _probe(
    "tidewatch_probe_records_corrupted_total",
    C,
    "records",
    "Records in the probe topic that are not intact probe records (bad checksum, malformed, "
    "or read from another partition than written).",
    _PB,
)
RECORDS_LOST = _probe(
    "tidewatch_probe_records_lost_total",
    C,
    "records",
    "Acknowledged records not read within lost_after of their acknowledgement.",
    _PB,
)
END_TO_END_LATENCY = _probe(
    "tidewatch_probe_end_to_end_latency_seconds",
    H,
    "seconds",
    "Time from sending a probe record to reading it back, for first arrivals.",
    _PB,
    PROBE_LATENCY_BUCKETS_SECONDS,
)
CONSUME_ATTEMPTS = _probe(
    "tidewatch_probe_consume_attempts_total",
    C,
    "checks",
    "Consume-availability checks, one per partition per interval.",
    _PB,
)
CONSUME_SUCCESSES = _probe(
    "tidewatch_probe_consume_successes_total",
    C,
    "checks",
    "Checks that found no acknowledged record unread past the end-to-end SLA.",
    _PB,
)

LEADER_CHANGES = _probe(
    "tidewatch_probe_leader_changes_total",
    C,
    "changes",
    "Leader changes of probe partitions seen by the probe's producer; broker is the new "
    "leader. Records sent around a change are judged as usual: acknowledged ones must be "
    "read back, the others count as produce errors of the old leader.",
    _PB,
)

# -- brokers and topic -----------------------------------------------------------------
CONNECTION_ATTEMPTS = _probe(
    "tidewatch_probe_connection_attempts_total",
    C,
    "connections",
    "Fresh connections (TCP, TLS, SASL, ApiVersions) opened to each broker by the broker check.",
    _B,
)
CONNECTION_ERRORS = _probe(
    "tidewatch_probe_connection_errors_total",
    C,
    "connections",
    "Broker checks that failed to connect or to get metadata.",
    _B,
)
CONNECTION_LATENCY = _probe(
    "tidewatch_probe_connection_latency_seconds",
    H,
    "seconds",
    "Time to open a ready connection to the broker (TCP, TLS, SASL, ApiVersions).",
    _B,
    PROBE_LATENCY_BUCKETS_SECONDS,
)
METADATA_LATENCY = _probe(
    "tidewatch_probe_metadata_latency_seconds",
    H,
    "seconds",
    "Time of a Metadata request for the probe topic, per broker.",
    _B,
    PROBE_LATENCY_BUCKETS_SECONDS,
)
BROKERS = _probe("tidewatch_probe_brokers", G, "brokers", "Brokers in the cluster's metadata.")
PARTITIONS = _probe("tidewatch_probe_partitions", G, "partitions", "Partitions of the probe topic.")
COVERAGE_GAP = _probe(
    "tidewatch_probe_coverage_gap_brokers",
    G,
    "brokers",
    "Brokers that lead no probe partition, so the probe does not measure them.",
)
UP = _probe(
    "tidewatch_probe_up",
    G,
    "bool",
    "1 when the last metadata refresh of the target succeeded, else 0.",
)

PROBE_CATALOG: Final[tuple[MetricSpec, ...]] = tuple(
    value for name, value in sorted(globals().items()) if isinstance(value, MetricSpec)
)

# -- the lag monitor -------------------------------------------------------------------
LAGMON_UP = MetricSpec(
    "tidewatch_lagmon_up",
    G,
    "bool",
    "1 when the last poll of the cluster succeeded, else 0.",
    common=LAGMON_LABELS,
)
LAGMON_POLL_DURATION = MetricSpec(
    "tidewatch_lagmon_poll_duration_seconds",
    H,
    "seconds",
    "Duration of one poll of a cluster (groups, offsets, watermarks, record timestamps).",
    buckets=PROBE_LATENCY_BUCKETS_SECONDS,
    common=LAGMON_LABELS,
)
LAGMON_POLL_ERRORS = MetricSpec(
    "tidewatch_lagmon_poll_errors_total",
    C,
    "polls",
    "Polls of a cluster that failed.",
    common=LAGMON_LABELS,
)
LAGMON_CATALOG: Final[tuple[MetricSpec, ...]] = (
    LAGMON_UP,
    LAGMON_POLL_DURATION,
    LAGMON_POLL_ERRORS,
)


# -- the probe metrics by role (what dashboards and alerts read) -------------------------
@dataclass(frozen=True, slots=True)
class ProbeMetrics:
    """The probe metrics dashboards and alerts use, by role.

    Counters count probe records (one per partition per interval): produce attempts and
    the successes among them (produce availability), records acknowledged (``produced``,
    the population that can be lost) and the anomalies; the two latency metrics are
    histograms in seconds. ``target_label``, ``partition_label`` and ``broker_label`` name
    the labels carrying the probe target, the probed partition and its leader broker.

    Probe expressions select on metric names and the probe's own labels only, never on
    the scrape ``job``: the same rules and panels work whether Prometheus scrapes a
    standalone ``tidewatch probe`` or a process that serves the probe metrics from the
    broker's own ``/metrics`` (``tidewatch up``).
    """

    produce_attempts: MetricSpec
    produce_successes: MetricSpec
    produced: MetricSpec
    produce_errors: MetricSpec
    consumed: MetricSpec
    lost: MetricSpec
    duplicated: MetricSpec
    ack_latency: MetricSpec
    end_to_end_latency: MetricSpec
    reordered: MetricSpec | None = None
    corrupted: MetricSpec | None = None
    late: MetricSpec | None = None
    target_label: str = "target"
    partition_label: str = "partition"
    broker_label: str = "broker"

    def specs(self) -> tuple[MetricSpec, ...]:
        return tuple(
            value for f in fields(self) if isinstance(value := getattr(self, f.name), MetricSpec)
        )

    def anomalies(self) -> tuple[tuple[str, MetricSpec], ...]:
        """(kind, counter) of every anomaly the catalog counts, for per-kind panels."""
        kinds = ("lost", "duplicated", "reordered", "corrupted", "late")
        return tuple((k, getattr(self, k)) for k in kinds if getattr(self, k) is not None)

    def by(self, spec: MetricSpec) -> str:
        """``by (...)`` labels of a probe metric: those it has among cluster, target,
        partition and broker."""
        wanted = ("cluster", self.target_label, self.partition_label, self.broker_label)
        return ", ".join(label for label in wanted if label in spec.all_labels)


PROBE_METRICS: Final = ProbeMetrics(
    produce_attempts=PRODUCE_ATTEMPTS,
    produce_successes=PRODUCE_SUCCESSES,
    produced=RECORDS_PRODUCED,
    produce_errors=PRODUCE_ERRORS,
    consumed=RECORDS_CONSUMED,
    lost=RECORDS_LOST,
    duplicated=RECORDS_DUPLICATED,
    ack_latency=ACK_LATENCY,
    end_to_end_latency=END_TO_END_LATENCY,
    reordered=RECORDS_REORDERED,
    corrupted=RECORDS_CORRUPTED,
    late=RECORDS_LATE,
)
