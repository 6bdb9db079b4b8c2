"""Every metric the probe and the lag monitor export, defined once.

Probe metrics (prefix ``tidewatch_probe_``) carry the labels ``cluster`` (the target's
``cluster``, as on the broker's metrics) and ``target`` (the target's name) and then
their own. Per-partition series carry ``partition`` and ``broker``, the node id of the
partition's leader when the record was sent or read (``unknown`` while metadata is
missing); per-broker series carry ``broker``. Cardinality per target: partitions x
leaders seen (one leader each unless leadership moves) x 15 buckets for the latency
histograms, brokers x 15 buckets for the per-broker ones. ``reason`` is ``timeout`` or
``error``.

The lag monitor exports the broker's own consumer-group metrics
(:data:`LAG_METRICS`, imported from ``broker.metrics.catalog`` so the names and labels
cannot drift: one dashboard serves both) plus a few about itself (``tidewatch_lagmon_``).

Availability-friendly pairs for SLOs: produce attempts/successes, consume
attempts/successes, connection attempts/errors, records produced/lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from broker.metrics.catalog import (
    GROUP_COMMITTED_OFFSET,
    GROUP_LAG_RECORDS,
    GROUP_LAG_SECONDS,
    GROUP_MEMBERS,
    GROUP_PARTITION_STATUS,
    GROUP_RETENTION_HEADROOM,
    GROUP_STATE,
    GROUP_STATUS,
    MetricSpec,
    MetricType,
)

__all__ = [
    "LAGMON_CATALOG",
    "LAG_METRICS",
    "LATENCY_BUCKETS_SECONDS",
    "PROBE_CATALOG",
    "PROBE_LABELS",
    "SyntheticMetricSpec",
]

PROBE_LABELS: Final = ("cluster", "target")
LATENCY_BUCKETS_SECONDS: Final = (
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


@dataclass(frozen=True, slots=True)
class SyntheticMetricSpec:
    """Like the broker's MetricSpec, with its own leading labels (``common``): ``cluster``
    and ``target`` for the probe, ``cluster`` for the lag monitor's own metrics."""

    name: str
    type: MetricType
    unit: str
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    common: tuple[str, ...] = PROBE_LABELS

    @property
    def family(self) -> str:
        if self.type is MetricType.COUNTER and self.name.endswith("_total"):
            return self.name[: -len("_total")]
        return self.name

    @property
    def all_labels(self) -> tuple[str, ...]:
        return (*self.common, *self.labels)


_PB = ("partition", "broker")
_B = ("broker",)
C, G, H = MetricType.COUNTER, MetricType.GAUGE, MetricType.HISTOGRAM

# -- produce ---------------------------------------------------------------------------
PRODUCE_ATTEMPTS = SyntheticMetricSpec(
    "tidewatch_probe_produce_attempts_total",
    C,
    "records",
    "Probe records the probe tried to produce (acks=all), one per partition per interval.",
    _PB,
)
PRODUCE_SUCCESSES = SyntheticMetricSpec(
    "tidewatch_probe_produce_successes_total",
    C,
    "records",
    "Probe records acknowledged within the ack SLA (the good events of produce availability).",
    _PB,
)
PRODUCE_ERRORS = SyntheticMetricSpec(
    "tidewatch_probe_produce_errors_total",
    C,
    "records",
    "Probe produce attempts that failed: reason timeout (no ack within the ack SLA) or error "
    "(the client gave up). Attempts = successes + errors.",
    (*_PB, "reason"),
)
RECORDS_PRODUCED = SyntheticMetricSpec(
    "tidewatch_probe_records_produced_total",
    C,
    "records",
    "Probe records acknowledged by the cluster, however late (the population that can be lost).",
    _PB,
)
ACK_LATENCY = SyntheticMetricSpec(
    "tidewatch_probe_ack_latency_seconds",
    H,
    "seconds",
    "Time from sending a probe record to its acknowledgement (acks=all).",
    _PB,
    LATENCY_BUCKETS_SECONDS,
)

# -- consume ---------------------------------------------------------------------------
RECORDS_CONSUMED = SyntheticMetricSpec(
    "tidewatch_probe_records_consumed_total",
    C,
    "records",
    "Intact records of this probe read back, duplicates included.",
    _PB,
)
RECORDS_LATE = SyntheticMetricSpec(
    "tidewatch_probe_records_late_total",
    C,
    "records",
    "Records read for the first time later than the end-to-end SLA (or after being counted lost).",
    _PB,
)
RECORDS_REORDERED = SyntheticMetricSpec(
    "tidewatch_probe_records_reordered_total",
    C,
    "records",
    "Records read after a record with a higher sequence number of the same partition.",
    _PB,
)
RECORDS_DUPLICATED = SyntheticMetricSpec(
    "tidewatch_probe_records_duplicated_total",
    C,
    "records",
    "Records read more than once (same probe, partition and sequence number).",
    _PB,
)
RECORDS_CORRUPTED = SyntheticMetricSpec(
    "tidewatch_probe_records_corrupted_total",
    C,
    "records",
    "Records in the probe topic that are not intact probe records (bad checksum, malformed, "
    "or read from another partition than written).",
    _PB,
)
RECORDS_LOST = SyntheticMetricSpec(
    "tidewatch_probe_records_lost_total",
    C,
    "records",
    "Acknowledged records not read within lost_after of their acknowledgement.",
    _PB,
)
END_TO_END_LATENCY = SyntheticMetricSpec(
    "tidewatch_probe_end_to_end_latency_seconds",
    H,
    "seconds",
    "Time from sending a probe record to reading it back, for first arrivals.",
    _PB,
    LATENCY_BUCKETS_SECONDS,
)
CONSUME_ATTEMPTS = SyntheticMetricSpec(
    "tidewatch_probe_consume_attempts_total",
    C,
    "checks",
    "Consume-availability checks, one per partition per interval.",
    _PB,
)
CONSUME_SUCCESSES = SyntheticMetricSpec(
    "tidewatch_probe_consume_successes_total",
    C,
    "checks",
    "Checks that found no acknowledged record unread past the end-to-end SLA.",
    _PB,
)

# -- brokers and topic -----------------------------------------------------------------
CONNECTION_ATTEMPTS = SyntheticMetricSpec(
    "tidewatch_probe_connection_attempts_total",
    C,
    "connections",
    "Fresh connections (TCP, TLS, SASL, ApiVersions) opened to each broker by the broker check.",
    _B,
)
CONNECTION_ERRORS = SyntheticMetricSpec(
    "tidewatch_probe_connection_errors_total",
    C,
    "connections",
    "Broker checks that failed to connect or to get metadata.",
    _B,
)
CONNECTION_LATENCY = SyntheticMetricSpec(
    "tidewatch_probe_connection_latency_seconds",
    H,
    "seconds",
    "Time to open a ready connection to the broker (TCP, TLS, SASL, ApiVersions).",
    _B,
    LATENCY_BUCKETS_SECONDS,
)
METADATA_LATENCY = SyntheticMetricSpec(
    "tidewatch_probe_metadata_latency_seconds",
    H,
    "seconds",
    "Time of a Metadata request for the probe topic, per broker.",
    _B,
    LATENCY_BUCKETS_SECONDS,
)
BROKERS = SyntheticMetricSpec(
    "tidewatch_probe_brokers", G, "brokers", "Brokers in the cluster's metadata."
)
PARTITIONS = SyntheticMetricSpec(
    "tidewatch_probe_partitions", G, "partitions", "Partitions of the probe topic."
)
COVERAGE_GAP = SyntheticMetricSpec(
    "tidewatch_probe_coverage_gap_brokers",
    G,
    "brokers",
    "Brokers that lead no probe partition, so the probe does not measure them.",
)
UP = SyntheticMetricSpec(
    "tidewatch_probe_up",
    G,
    "bool",
    "1 when the last metadata refresh of the target succeeded, else 0.",
)

PROBE_CATALOG: Final[tuple[SyntheticMetricSpec, ...]] = tuple(
    value for name, value in sorted(globals().items()) if isinstance(value, SyntheticMetricSpec)
)

# -- the lag monitor -------------------------------------------------------------------
LAG_METRICS: Final[tuple[MetricSpec, ...]] = (
    GROUP_COMMITTED_OFFSET,
    GROUP_LAG_RECORDS,
    GROUP_LAG_SECONDS,
    GROUP_RETENTION_HEADROOM,
    GROUP_PARTITION_STATUS,
    GROUP_STATUS,
    GROUP_STATE,
    GROUP_MEMBERS,
)
_LAGMON: Final = ("cluster",)
LAGMON_UP = SyntheticMetricSpec(
    "tidewatch_lagmon_up",
    G,
    "bool",
    "1 when the last poll of the cluster succeeded, else 0.",
    common=_LAGMON,
)
LAGMON_POLL_DURATION = SyntheticMetricSpec(
    "tidewatch_lagmon_poll_duration_seconds",
    H,
    "seconds",
    "Duration of one poll of a cluster (groups, offsets, watermarks, record timestamps).",
    buckets=LATENCY_BUCKETS_SECONDS,
    common=_LAGMON,
)
LAGMON_POLL_ERRORS = SyntheticMetricSpec(
    "tidewatch_lagmon_poll_errors_total",
    C,
    "polls",
    "Polls of a cluster that failed.",
    common=_LAGMON,
)
LAGMON_CATALOG: Final[tuple[SyntheticMetricSpec, ...]] = (
    LAGMON_UP,
    LAGMON_POLL_DURATION,
    LAGMON_POLL_ERRORS,
)
