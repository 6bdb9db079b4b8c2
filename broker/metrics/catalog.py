"""Every metric the broker exports, defined once: name, type, unit, help, labels.

Dashboards, alert rules, SLO specs and tests import these objects instead of retyping
names. Conventions: prefix ``tidewatch_``, base units in the name (``_seconds``,
``_bytes``), counters end in ``_total``, histograms are in seconds. Every series also
carries the constant labels ``cluster`` (broker config ``cluster``) and ``broker``
(node id), added at exposition.

Cardinality: ``topic``/``partition`` series grow with the partitions of the broker
(bounded by MAX_PARTITIONS per topic); ``api`` and ``error`` are bounded by the Kafka
APIs the broker implements and their error codes; ``reason`` is a fixed set.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["CATALOG", "COMMON_LABELS", "MetricSpec", "MetricType"]

COMMON_LABELS = ("cluster", "broker")


class MetricType(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    type: MetricType
    unit: str
    help: str
    labels: tuple[str, ...] = ()

    @property
    def family(self) -> str:
        """Name without the ``_total`` suffix (prometheus_client's family name)."""
        if self.type is MetricType.COUNTER and self.name.endswith("_total"):
            return self.name[: -len("_total")]
        return self.name

    @property
    def all_labels(self) -> tuple[str, ...]:
        return (*COMMON_LABELS, *self.labels)


_P = ("topic", "partition")

# -- partitions ------------------------------------------------------------------------
PARTITION_LOG_START_OFFSET = MetricSpec(
    "tidewatch_partition_log_start_offset",
    MetricType.GAUGE,
    "offset",
    "First offset still stored in the partition (advances with retention).",
    _P,
)
PARTITION_LOG_END_OFFSET = MetricSpec(
    "tidewatch_partition_log_end_offset",
    MetricType.GAUGE,
    "offset",
    "Offset the next appended record will get.",
    _P,
)
PARTITION_HIGH_WATERMARK = MetricSpec(
    "tidewatch_partition_high_watermark",
    MetricType.GAUGE,
    "offset",
    "Offset below which records are visible to consumers.",
    _P,
)
PARTITION_SIZE_BYTES = MetricSpec(
    "tidewatch_partition_size_bytes",
    MetricType.GAUGE,
    "bytes",
    "Bytes stored in the partition's segment files.",
    _P,
)
PARTITION_SEGMENTS = MetricSpec(
    "tidewatch_partition_segments",
    MetricType.GAUGE,
    "segments",
    "Number of log segments of the partition.",
    _P,
)
PARTITION_NEWEST_RECORD_TIMESTAMP = MetricSpec(
    "tidewatch_partition_newest_record_timestamp_seconds",
    MetricType.GAUGE,
    "seconds",
    "Largest record timestamp stored in the partition (Unix time).",
    _P,
)
PARTITION_RECORDS_APPENDED = MetricSpec(
    "tidewatch_partition_records_appended_total",
    MetricType.COUNTER,
    "records",
    "Records appended to the partition since the broker started.",
    _P,
)
PARTITION_BYTES_APPENDED = MetricSpec(
    "tidewatch_partition_bytes_appended_total",
    MetricType.COUNTER,
    "bytes",
    "Record-batch bytes appended to the partition since the broker started.",
    _P,
)
PARTITION_RECORDS_FETCHED = MetricSpec(
    "tidewatch_partition_records_fetched_total",
    MetricType.COUNTER,
    "records",
    "Records returned to fetch requests from the partition.",
    _P,
)
PARTITION_BYTES_FETCHED = MetricSpec(
    "tidewatch_partition_bytes_fetched_total",
    MetricType.COUNTER,
    "bytes",
    "Record-batch bytes returned to fetch requests from the partition.",
    _P,
)
PARTITION_RETENTION_DELETED_BYTES = MetricSpec(
    "tidewatch_partition_retention_deleted_bytes_total",
    MetricType.COUNTER,
    "bytes",
    "Bytes of segments deleted by retention.",
    _P,
)

# -- consumer groups -------------------------------------------------------------------
_G = ("group", "topic", "partition")
GROUP_COMMITTED_OFFSET = MetricSpec(
    "tidewatch_group_committed_offset",
    MetricType.GAUGE,
    "offset",
    "Offset the group committed for the partition (the next record it will read).",
    _G,
)
GROUP_LAG_RECORDS = MetricSpec(
    "tidewatch_group_lag_records",
    MetricType.GAUGE,
    "records",
    "High watermark minus committed offset; never negative.",
    _G,
)
GROUP_LAG_SECONDS = MetricSpec(
    "tidewatch_group_lag_seconds",
    MetricType.GAUGE,
    "seconds",
    "Age of the first unconsumed record, from its stored timestamp (0 when caught up).",
    _G,
)
GROUP_RETENTION_HEADROOM = MetricSpec(
    "tidewatch_group_retention_headroom_seconds",
    MetricType.GAUGE,
    "seconds",
    "Time until retention.ms deletes the first unconsumed record's segment; absent when "
    "caught up or when the topic keeps data forever.",
    _G,
)
GROUP_PARTITION_STATUS = MetricSpec(
    "tidewatch_group_partition_status_code",
    MetricType.GAUGE,
    "status",
    "Burrow-style status of the partition: 0 OK, 1 WARN, 2 REWIND, 3 STALL, 4 STOP.",
    _G,
)
GROUP_STATUS = MetricSpec(
    "tidewatch_group_status",
    MetricType.GAUGE,
    "status",
    "1 for the group's worst partition status (OK, WARN, REWIND, STALL, STOP), 0 for the others.",
    ("group", "status"),
)
GROUP_STATE = MetricSpec(
    "tidewatch_group_state",
    MetricType.GAUGE,
    "state",
    "1 for the group's protocol state (Empty, PreparingRebalance, CompletingRebalance, "
    "Stable, Dead), 0 for the others.",
    ("group", "state"),
)
GROUP_MEMBERS = MetricSpec(
    "tidewatch_group_members", MetricType.GAUGE, "members", "Members of the group.", ("group",)
)
GROUP_REBALANCES = MetricSpec(
    "tidewatch_group_rebalances_total",
    MetricType.COUNTER,
    "rebalances",
    "Rebalances the group started since the broker started.",
    ("group",),
)

# -- requests and connections ----------------------------------------------------------
REQUESTS = MetricSpec(
    "tidewatch_broker_requests_total",
    MetricType.COUNTER,
    "requests",
    "Requests handled, by Kafka API and error code name (none for success).",
    ("api", "error"),
)
REQUEST_DURATION = MetricSpec(
    "tidewatch_broker_request_duration_seconds",
    MetricType.HISTOGRAM,
    "seconds",
    "Time from a request's arrival to its response being queued for the socket.",
    ("api",),
)
REQUEST_QUEUE_TIME = MetricSpec(
    "tidewatch_broker_request_queue_seconds",
    MetricType.HISTOGRAM,
    "seconds",
    "Time a request waited behind earlier requests of its connection.",
    ("api",),
)
CONNECTIONS_OPEN = MetricSpec(
    "tidewatch_broker_connections_open",
    MetricType.GAUGE,
    "connections",
    "Client connections currently open.",
)
CONNECTIONS_ACCEPTED = MetricSpec(
    "tidewatch_broker_connections_accepted_total",
    MetricType.COUNTER,
    "connections",
    "Client connections accepted since start.",
)
MALFORMED_REQUESTS = MetricSpec(
    "tidewatch_broker_malformed_requests_total",
    MetricType.COUNTER,
    "requests",
    "Requests rejected as malformed; the connection was closed. Reason is one of "
    "frame_size, header, unknown_api, unsupported_version, decode, or truncated (the "
    "client hung up in the middle of a frame).",
    ("reason",),
)
TRAILING_BYTES = MetricSpec(
    "tidewatch_broker_request_trailing_bytes_total",
    MetricType.COUNTER,
    "requests",
    "Requests that carried extra bytes after their body (tolerated).",
    ("api",),
)

# -- storage ---------------------------------------------------------------------------
STORAGE_ERRORS = MetricSpec(
    "tidewatch_broker_storage_errors_total",
    MetricType.COUNTER,
    "errors",
    "Appends or flushes the disk refused (full, read-only, I/O error).",
)
FLUSH_DURATION = MetricSpec(
    "tidewatch_broker_flush_duration_seconds",
    MetricType.HISTOGRAM,
    "seconds",
    "Duration of fsync rounds of the flush policy.",
)
RECOVERY_TRUNCATED_BYTES = MetricSpec(
    "tidewatch_broker_recovery_truncated_bytes",
    MetricType.GAUGE,
    "bytes",
    "Bytes of torn or corrupt log tail cut off by recovery at the last start.",
)
DATA_DIR_FREE_BYTES = MetricSpec(
    "tidewatch_broker_data_dir_free_bytes",
    MetricType.GAUGE,
    "bytes",
    "Bytes available to the broker on the data directory's file system (statvfs f_bavail), "
    "read at scrape time.",
)
DATA_DIR_SIZE_BYTES = MetricSpec(
    "tidewatch_broker_data_dir_size_bytes",
    MetricType.GAUGE,
    "bytes",
    "Size of the data directory's file system in bytes (statvfs f_blocks), read at scrape time.",
)
UNFLUSHED_PARTITIONS = MetricSpec(
    "tidewatch_broker_unflushed_partitions",
    MetricType.GAUGE,
    "partitions",
    "Partitions holding data not yet fsynced (the exposure window of the interval policy).",
)
BROKER_INFO = MetricSpec(
    "tidewatch_broker_info",
    MetricType.GAUGE,
    "",
    "Constant 1, labelled with the broker's version and flush policy.",
    ("version", "flush_policy"),
)

CATALOG: tuple[MetricSpec, ...] = tuple(
    value for name, value in sorted(globals().items()) if isinstance(value, MetricSpec)
)

# -- compatibility names (opt-in: metrics.compat) ----------------------------------------
# Names and labels of kafka_exporter (danielqsj) and kafka-lag-exporter (seglo), so their
# community dashboards and alert packs work unchanged. They carry only their own labels.
_KP = ("topic", "partition")
_KG = ("consumergroup", "topic", "partition")
_LAG = ("cluster_name", "group", "topic", "partition", "member_host", "consumer_id", "client_id")
COMPAT_CATALOG: tuple[MetricSpec, ...] = (
    MetricSpec("kafka_brokers", MetricType.GAUGE, "brokers", "Number of brokers in the cluster."),
    MetricSpec(
        "kafka_topic_partitions",
        MetricType.GAUGE,
        "partitions",
        "Partitions of the topic.",
        ("topic",),
    ),
    MetricSpec(
        "kafka_topic_partition_current_offset",
        MetricType.GAUGE,
        "offset",
        "High watermark of the partition.",
        _KP,
    ),
    MetricSpec(
        "kafka_topic_partition_oldest_offset",
        MetricType.GAUGE,
        "offset",
        "Log start offset of the partition.",
        _KP,
    ),
    MetricSpec(
        "kafka_topic_partition_in_sync_replica",
        MetricType.GAUGE,
        "replicas",
        "In-sync replicas of the partition.",
        _KP,
    ),
    MetricSpec(
        "kafka_topic_partition_replicas",
        MetricType.GAUGE,
        "replicas",
        "Replicas of the partition.",
        _KP,
    ),
    MetricSpec(
        "kafka_topic_partition_leader",
        MetricType.GAUGE,
        "broker",
        "Leader broker id of the partition.",
        _KP,
    ),
    MetricSpec(
        "kafka_topic_partition_leader_is_preferred",
        MetricType.GAUGE,
        "bool",
        "1 when the leader is the preferred replica.",
        _KP,
    ),
    MetricSpec(
        "kafka_topic_partition_under_replicated_partition",
        MetricType.GAUGE,
        "bool",
        "1 when under-replicated.",
        _KP,
    ),
    MetricSpec(
        "kafka_consumergroup_current_offset",
        MetricType.GAUGE,
        "offset",
        "Committed offset of the group.",
        _KG,
    ),
    MetricSpec(
        "kafka_consumergroup_current_offset_sum",
        MetricType.GAUGE,
        "offset",
        "Sum of committed offsets per topic.",
        ("consumergroup", "topic"),
    ),
    MetricSpec(
        "kafka_consumergroup_lag", MetricType.GAUGE, "records", "Lag of the group in records.", _KG
    ),
    MetricSpec(
        "kafka_consumergroup_lag_sum",
        MetricType.GAUGE,
        "records",
        "Lag of the group per topic.",
        ("consumergroup", "topic"),
    ),
    MetricSpec(
        "kafka_consumergroup_members",
        MetricType.GAUGE,
        "members",
        "Members of the group.",
        ("consumergroup",),
    ),
    MetricSpec(
        "kafka_consumergroup_group_offset",
        MetricType.GAUGE,
        "offset",
        "Committed offset (kafka-lag-exporter).",
        _LAG,
    ),
    MetricSpec(
        "kafka_consumergroup_group_lag",
        MetricType.GAUGE,
        "records",
        "Lag in records (kafka-lag-exporter).",
        _LAG,
    ),
    MetricSpec(
        "kafka_consumergroup_group_lag_seconds",
        MetricType.GAUGE,
        "seconds",
        "Lag in seconds, exact (kafka-lag-exporter name).",
        _LAG,
    ),
    MetricSpec(
        "kafka_consumergroup_group_max_lag",
        MetricType.GAUGE,
        "records",
        "Largest partition lag of the group.",
        ("cluster_name", "group"),
    ),
    MetricSpec(
        "kafka_consumergroup_group_max_lag_seconds",
        MetricType.GAUGE,
        "seconds",
        "Largest partition lag in seconds.",
        ("cluster_name", "group"),
    ),
    MetricSpec(
        "kafka_consumergroup_group_sum_lag",
        MetricType.GAUGE,
        "records",
        "Total lag of the group.",
        ("cluster_name", "group"),
    ),
    MetricSpec(
        "kafka_consumergroup_group_topic_sum_lag",
        MetricType.GAUGE,
        "records",
        "Total lag per topic.",
        ("cluster_name", "group", "topic"),
    ),
    MetricSpec(
        "kafka_partition_latest_offset",
        MetricType.GAUGE,
        "offset",
        "High watermark (kafka-lag-exporter).",
        ("cluster_name", "topic", "partition"),
    ),
    MetricSpec(
        "kafka_partition_earliest_offset",
        MetricType.GAUGE,
        "offset",
        "Log start offset (kafka-lag-exporter).",
        ("cluster_name", "topic", "partition"),
    ),
)
COMPAT_BY_NAME = {spec.name: spec for spec in COMPAT_CATALOG}
