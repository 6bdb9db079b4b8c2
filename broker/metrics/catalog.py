"""Every metric the broker exports, defined once: name, type, unit, help, labels.

Dashboards, alert rules, SLO specs and tests import these objects instead of retyping
names. Conventions: prefix ``tidewatch_``, base units in the name (``_seconds``,
``_bytes``), counters end in ``_total``, histograms are in seconds. Every series of
:data:`CATALOG` also carries the common labels ``cluster`` (broker config ``cluster``)
and ``broker`` (node id), added at exposition. The consumer-group metrics are shared
with the external lag monitor and defined in ``contracts/lag/metrics.py``.

Cardinality: ``topic``/``partition`` series grow with the partitions of the broker
(bounded by MAX_PARTITIONS per topic); ``api`` and ``error`` are bounded by the Kafka
APIs the broker implements and their error codes; ``reason`` is a fixed set.
"""

from __future__ import annotations

from typing import Final

from kio.schema.errors import ErrorCode

from broker.metrics.replication_catalog import REPLICATION_CATALOG
from broker.metrics.spec import BROKER_LABELS as BROKER_LABELS
from broker.metrics.spec import broker_spec as _spec
from contracts.lag.metrics import GROUP_COMMITTED_OFFSET as GROUP_COMMITTED_OFFSET
from contracts.lag.metrics import GROUP_LAG_RECORDS as GROUP_LAG_RECORDS
from contracts.lag.metrics import GROUP_LAG_SECONDS as GROUP_LAG_SECONDS
from contracts.lag.metrics import GROUP_MEMBERS as GROUP_MEMBERS
from contracts.lag.metrics import GROUP_PARTITION_STATUS as GROUP_PARTITION_STATUS
from contracts.lag.metrics import GROUP_RETENTION_HEADROOM as GROUP_RETENTION_HEADROOM
from contracts.lag.metrics import GROUP_STATE as GROUP_STATE
from contracts.lag.metrics import GROUP_STATUS as GROUP_STATUS
from contracts.metrics import MetricSpec, MetricType

__all__ = [
    "AUTH_ERRORS",
    "BROKER_LABELS",
    "CATALOG",
    "COMPAT_BY_NAME",
    "COMPAT_CATALOG",
    "EXPECTED_ERRORS",
    "NO_ERROR",
    "SERVER_ERRORS",
    "data_dir_free_ratio",
]


_P = ("topic", "partition")

# -- partitions ------------------------------------------------------------------------
PARTITION_LOG_START_OFFSET = _spec(
    "tidewatch_partition_log_start_offset",
    MetricType.GAUGE,
    "offset",
    "First offset still stored in the partition (advances with retention).",
    _P,
)
PARTITION_LOG_END_OFFSET = _spec(
    "tidewatch_partition_log_end_offset",
    MetricType.GAUGE,
    "offset",
    "Offset the next appended record will get.",
    _P,
)
PARTITION_HIGH_WATERMARK = _spec(
    "tidewatch_partition_high_watermark",
    MetricType.GAUGE,
    "offset",
    "Offset below which records are visible to consumers.",
    _P,
)
PARTITION_SIZE_BYTES = _spec(
    "tidewatch_partition_size_bytes",
    MetricType.GAUGE,
    "bytes",
    "Bytes stored in the partition's segment files.",
    _P,
)
PARTITION_SEGMENTS = _spec(
    "tidewatch_partition_segments",
    MetricType.GAUGE,
    "segments",
    "Number of log segments of the partition.",
    _P,
)
PARTITION_NEWEST_RECORD_TIMESTAMP = _spec(
    "tidewatch_partition_newest_record_timestamp_seconds",
    MetricType.GAUGE,
    "seconds",
    "Largest record timestamp stored in the partition (Unix time).",
    _P,
)
PARTITION_RECORDS_APPENDED = _spec(
    "tidewatch_partition_records_appended_total",
    MetricType.COUNTER,
    "records",
    "Records appended to the partition since the broker started.",
    _P,
)
PARTITION_BYTES_APPENDED = _spec(
    "tidewatch_partition_bytes_appended_total",
    MetricType.COUNTER,
    "bytes",
    "Record-batch bytes appended to the partition since the broker started.",
    _P,
)
PARTITION_RECORDS_FETCHED = _spec(
    "tidewatch_partition_records_fetched_total",
    MetricType.COUNTER,
    "records",
    "Records returned to fetch requests from the partition.",
    _P,
)
PARTITION_BYTES_FETCHED = _spec(
    "tidewatch_partition_bytes_fetched_total",
    MetricType.COUNTER,
    "bytes",
    "Record-batch bytes returned to fetch requests from the partition.",
    _P,
)
PARTITION_RETENTION_DELETED_BYTES = _spec(
    "tidewatch_partition_retention_deleted_bytes_total",
    MetricType.COUNTER,
    "bytes",
    "Bytes of segments deleted by retention.",
    _P,
)

# -- consumer groups (the rest: contracts/lag/metrics.py) -------------------------
GROUP_REBALANCES = _spec(
    "tidewatch_group_rebalances_total",
    MetricType.COUNTER,
    "rebalances",
    "Rebalances the group started since the broker started.",
    ("group",),
)

# -- requests and connections ----------------------------------------------------------
REQUESTS = _spec(
    "tidewatch_broker_requests_total",
    MetricType.COUNTER,
    "requests",
    "Requests handled, by Kafka API and error code name (none for success).",
    ("api", "error"),
)
REQUEST_DURATION = _spec(
    "tidewatch_broker_request_duration_seconds",
    MetricType.HISTOGRAM,
    "seconds",
    "Time from a request's arrival to its response being queued for the socket.",
    ("api",),
)
REQUEST_QUEUE_TIME = _spec(
    "tidewatch_broker_request_queue_seconds",
    MetricType.HISTOGRAM,
    "seconds",
    "Time a request waited behind earlier requests of its connection.",
    ("api",),
)
CONNECTIONS_OPEN = _spec(
    "tidewatch_broker_connections_open",
    MetricType.GAUGE,
    "connections",
    "Client connections currently open.",
)
CONNECTIONS_ACCEPTED = _spec(
    "tidewatch_broker_connections_accepted_total",
    MetricType.COUNTER,
    "connections",
    "Client connections accepted since start.",
)
MALFORMED_REQUESTS = _spec(
    "tidewatch_broker_malformed_requests_total",
    MetricType.COUNTER,
    "requests",
    "Requests rejected as malformed; the connection was closed. Reason is one of "
    "frame_size, header, unknown_api, unsupported_version, decode, or truncated (the "
    "client hung up in the middle of a frame).",
    ("reason",),
)
TRAILING_BYTES = _spec(
    "tidewatch_broker_request_trailing_bytes_total",
    MetricType.COUNTER,
    "requests",
    "Requests that carried extra bytes after their body (tolerated).",
    ("api",),
)

# -- storage ---------------------------------------------------------------------------
STORAGE_ERRORS = _spec(
    "tidewatch_broker_storage_errors_total",
    MetricType.COUNTER,
    "errors",
    "Appends or flushes the disk refused (full, read-only, I/O error).",
)
FLUSH_DURATION = _spec(
    "tidewatch_broker_flush_duration_seconds",
    MetricType.HISTOGRAM,
    "seconds",
    "Duration of fsync rounds of the flush policy.",
)
RECOVERY_TRUNCATED_BYTES = _spec(
    "tidewatch_broker_recovery_truncated_bytes",
    MetricType.GAUGE,
    "bytes",
    "Bytes of torn or corrupt log tail cut off by recovery at the last start.",
)
DATA_DIR_FREE_BYTES = _spec(
    "tidewatch_broker_data_dir_free_bytes",
    MetricType.GAUGE,
    "bytes",
    "Bytes available to the broker on the data directory's file system (statvfs f_bavail), "
    "read at scrape time.",
)
DATA_DIR_SIZE_BYTES = _spec(
    "tidewatch_broker_data_dir_size_bytes",
    MetricType.GAUGE,
    "bytes",
    "Size of the data directory's file system in bytes (statvfs f_blocks), read at scrape time.",
)


def data_dir_free_ratio(free: str, size: str) -> str:
    """PromQL: the share of the data directory's file system that is free, per cluster
    and broker, from selectors of DATA_DIR_FREE_BYTES and DATA_DIR_SIZE_BYTES (both gauges
    carry the same labels, so they divide one to one). The disk alerts fire on it and the
    on-call dashboard draws it."""
    return f"min by (cluster, broker) ({free} / {size})"


UNFLUSHED_PARTITIONS = _spec(
    "tidewatch_broker_unflushed_partitions",
    MetricType.GAUGE,
    "partitions",
    "Partitions holding data not yet fsynced (the exposure window of the interval policy).",
)
BROKER_INFO = _spec(
    "tidewatch_broker_info",
    MetricType.GAUGE,
    "",
    "Constant 1, labelled with the broker's version and flush policy.",
    ("version", "flush_policy"),
)

# Every metric of the broker, its replication ones included (sorted by variable name
# within each part).
CATALOG: tuple[MetricSpec, ...] = (
    *(value for name, value in sorted(globals().items()) if isinstance(value, MetricSpec)),
    *REPLICATION_CATALOG,
)

# -- values of REQUESTS' ``error`` label ------------------------------------------------
# The lower-case names of kio's ErrorCode (``none`` is success), taken from the enum and
# never typed by hand, so a typo fails at import. Dashboards and alerts select on them.
NO_ERROR: Final = ErrorCode.none.name

# The broker failed the request: the client did nothing wrong and a retry may not help.
SERVER_ERRORS: Final = tuple(
    sorted(
        e.name
        for e in (
            ErrorCode.unknown_server_error,
            ErrorCode.kafka_storage_error,
            ErrorCode.log_dir_not_found,
            ErrorCode.request_timed_out,
            ErrorCode.not_enough_replicas,
            ErrorCode.not_enough_replicas_after_append,
            ErrorCode.leader_not_available,
            ErrorCode.not_leader_or_follower,
            ErrorCode.broker_not_available,
            ErrorCode.coordinator_not_available,
            ErrorCode.coordinator_load_in_progress,
        )
    )
)

# Authentication and authorization denials (SASL and ACLs).
AUTH_ERRORS: Final = tuple(
    sorted(
        e.name
        for e in ErrorCode
        if e.name.endswith("_authorization_failed") or e is ErrorCode.sasl_authentication_failed
    )
)

# Answers that are part of normal operation: group membership churn during rebalances,
# a consumer asking past the end of a log, a fetch session to re-establish.
EXPECTED_ERRORS: Final = tuple(
    sorted(
        e.name
        for e in (
            ErrorCode.rebalance_in_progress,
            ErrorCode.unknown_member_id,
            ErrorCode.illegal_generation,
            ErrorCode.member_id_required,
            ErrorCode.not_coordinator,
            ErrorCode.offset_out_of_range,
            ErrorCode.fetch_session_id_not_found,
            ErrorCode.invalid_fetch_session_epoch,
            ErrorCode.topic_already_exists,
        )
    )
)

# -- compatibility names (opt-in: metrics.compat) ----------------------------------------
# Names and labels of kafka_exporter (danielqsj) and kafka-lag-exporter (seglo), so their
# community dashboards and alert packs work unchanged. Like every series of the broker they
# also carry ``cluster`` and ``broker`` (extra labels do not disturb those dashboards'
# selectors).
_KP = ("topic", "partition")
_KG = ("consumergroup", "topic", "partition")
_LAG = ("cluster_name", "group", "topic", "partition", "member_host", "consumer_id", "client_id")
COMPAT_CATALOG: tuple[MetricSpec, ...] = (
    _spec("kafka_brokers", MetricType.GAUGE, "brokers", "Number of brokers in the cluster."),
    _spec(
        "kafka_topic_partitions",
        MetricType.GAUGE,
        "partitions",
        "Partitions of the topic.",
        ("topic",),
    ),
    _spec(
        "kafka_topic_partition_current_offset",
        MetricType.GAUGE,
        "offset",
        "High watermark of the partition.",
        _KP,
    ),
    _spec(
        "kafka_topic_partition_oldest_offset",
        MetricType.GAUGE,
        "offset",
        "Log start offset of the partition.",
        _KP,
    ),
    _spec(
        "kafka_topic_partition_in_sync_replica",
        MetricType.GAUGE,
        "replicas",
        "In-sync replicas of the partition.",
        _KP,
    ),
    _spec(
        "kafka_topic_partition_replicas",
        MetricType.GAUGE,
        "replicas",
        "Replicas of the partition.",
        _KP,
    ),
    _spec(
        "kafka_topic_partition_leader",
        MetricType.GAUGE,
        "broker",
        "Leader broker id of the partition.",
        _KP,
    ),
    _spec(
        "kafka_topic_partition_leader_is_preferred",
        MetricType.GAUGE,
        "bool",
        "1 when the leader is the preferred replica.",
        _KP,
    ),
    _spec(
        "kafka_topic_partition_under_replicated_partition",
        MetricType.GAUGE,
        "bool",
        "1 when under-replicated.",
        _KP,
    ),
    _spec(
        "kafka_consumergroup_current_offset",
        MetricType.GAUGE,
        "offset",
        "Committed offset of the group.",
        _KG,
    ),
    _spec(
        "kafka_consumergroup_current_offset_sum",
        MetricType.GAUGE,
        "offset",
        "Sum of committed offsets per topic.",
        ("consumergroup", "topic"),
    ),
    _spec(
        "kafka_consumergroup_lag", MetricType.GAUGE, "records", "Lag of the group in records.", _KG
    ),
    _spec(
        "kafka_consumergroup_lag_sum",
        MetricType.GAUGE,
        "records",
        "Lag of the group per topic.",
        ("consumergroup", "topic"),
    ),
    _spec(
        "kafka_consumergroup_members",
        MetricType.GAUGE,
        "members",
        "Members of the group.",
        ("consumergroup",),
    ),
    _spec(
        "kafka_consumergroup_group_offset",
        MetricType.GAUGE,
        "offset",
        "Committed offset (kafka-lag-exporter).",
        _LAG,
    ),
    _spec(
        "kafka_consumergroup_group_lag",
        MetricType.GAUGE,
        "records",
        "Lag in records (kafka-lag-exporter).",
        _LAG,
    ),
    _spec(
        "kafka_consumergroup_group_lag_seconds",
        MetricType.GAUGE,
        "seconds",
        "Lag in seconds, exact (kafka-lag-exporter name).",
        _LAG,
    ),
    _spec(
        "kafka_consumergroup_group_max_lag",
        MetricType.GAUGE,
        "records",
        "Largest partition lag of the group.",
        ("cluster_name", "group"),
    ),
    _spec(
        "kafka_consumergroup_group_max_lag_seconds",
        MetricType.GAUGE,
        "seconds",
        "Largest partition lag in seconds.",
        ("cluster_name", "group"),
    ),
    _spec(
        "kafka_consumergroup_group_sum_lag",
        MetricType.GAUGE,
        "records",
        "Total lag of the group.",
        ("cluster_name", "group"),
    ),
    _spec(
        "kafka_consumergroup_group_topic_sum_lag",
        MetricType.GAUGE,
        "records",
        "Total lag per topic.",
        ("cluster_name", "group", "topic"),
    ),
    _spec(
        "kafka_partition_latest_offset",
        MetricType.GAUGE,
        "offset",
        "High watermark (kafka-lag-exporter).",
        ("cluster_name", "topic", "partition"),
    ),
    _spec(
        "kafka_partition_earliest_offset",
        MetricType.GAUGE,
        "offset",
        "Log start offset (kafka-lag-exporter).",
        ("cluster_name", "topic", "partition"),
    ),
)
COMPAT_BY_NAME = {spec.name: spec for spec in COMPAT_CATALOG}
