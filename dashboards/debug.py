"""Debug dashboard: per-partition traffic and offsets, replica detail, latency
distributions as heatmaps, request errors by code, retention and recovery, and probe
results per partition and broker."""

from __future__ import annotations

from typing import Final

from broker.metrics import catalog as m
from contracts.alerts import DASHBOARD_DEBUG
from contracts.metrics import MetricSpec
from contracts.promql import Ne, selector
from dashboards.layout import RATE, Board, Query, scope_variables, scoped
from dashboards.replication import replica_detail, replication_internals
from synthetics.catalog import ProbeMetrics

__all__ = ["UID", "debug"]

UID: Final = "tidewatch-debug"
_PARTITION: Final = "{{topic}}/{{partition}}"


def _rate_by_partition(spec: MetricSpec) -> str:
    return f"sum by (topic, partition) (rate({scoped(spec)}[{RATE}]))"


def _traffic(board: Board) -> None:
    board.row("Partitions")
    board.timeseries(
        "Bytes appended per partition",
        "Record-batch bytes appended per second.",
        [Query(_rate_by_partition(m.PARTITION_BYTES_APPENDED), _PARTITION)],
        "Bps",
    )
    board.timeseries(
        "Bytes fetched per partition",
        "Record-batch bytes returned to fetch requests per second.",
        [Query(_rate_by_partition(m.PARTITION_BYTES_FETCHED), _PARTITION)],
        "Bps",
    )
    board.timeseries(
        "Records appended and fetched per partition",
        "Records per second in and out.",
        [
            Query(_rate_by_partition(m.PARTITION_RECORDS_APPENDED), "in " + _PARTITION),
            Query(_rate_by_partition(m.PARTITION_RECORDS_FETCHED), "out " + _PARTITION),
        ],
        "rps",
    )
    board.table(
        "Offsets per partition",
        "Log start offset, high watermark and log end offset now.",
        [
            Query(scoped(m.PARTITION_LOG_START_OFFSET), table=True),
            Query(scoped(m.PARTITION_HIGH_WATERMARK), table=True),
            Query(scoped(m.PARTITION_LOG_END_OFFSET), table=True),
        ],
        "none",
    )
    board.timeseries(
        "Committed offsets per group",
        "Offset each group committed per partition.",
        [Query(scoped(m.GROUP_COMMITTED_OFFSET), "{{group}} " + _PARTITION)],
        "none",
    )
    board.timeseries(
        "Partition size",
        "Bytes stored per partition (segment files).",
        [Query(f"sum by (topic, partition) ({scoped(m.PARTITION_SIZE_BYTES)})", _PARTITION)],
        "bytes",
    )
    board.timeseries(
        "Segments per partition",
        "Log segments per partition.",
        [Query(f"sum by (topic, partition) ({scoped(m.PARTITION_SEGMENTS)})", _PARTITION)],
        "none",
    )
    board.timeseries(
        "Newest record age",
        "Time since the newest stored record's timestamp per partition (how long since the "
        "last write, by producer clocks).",
        [
            Query(
                f"time() - max by (topic, partition) "
                f"({scoped(m.PARTITION_NEWEST_RECORD_TIMESTAMP)} > 0)",
                _PARTITION,
            )
        ],
        "s",
    )


def _latency(board: Board) -> None:
    board.row("Latency distributions")
    for title, api in (
        ("Produce latency (heatmap)", "produce"),
        ("Fetch latency (heatmap)", "fetch"),
    ):
        bucket = scoped(m.REQUEST_DURATION, "_bucket", api=api)
        board.heatmap(
            title,
            f"{api.capitalize()} request duration buckets per interval (fetch includes "
            "long-poll waits).",
            Query(f"sum by (le) (increase({bucket}[{RATE}]))", "{{le}}", heatmap=True),
        )
    queue = scoped(m.REQUEST_QUEUE_TIME, "_bucket")
    board.heatmap(
        "Request queue time (heatmap)",
        "Time requests waited behind earlier requests of their connection.",
        Query(f"sum by (le) (increase({queue}[{RATE}]))", "{{le}}", heatmap=True),
    )
    flush = scoped(m.FLUSH_DURATION, "_bucket")
    board.heatmap(
        "Flush duration (heatmap)",
        "Duration of fsync rounds of the flush policy.",
        Query(f"sum by (le) (increase({flush}[{RATE}]))", "{{le}}", heatmap=True),
    )


def _errors(board: Board) -> None:
    board.row("Errors, retention and recovery")
    board.timeseries(
        "Request errors by code",
        "Requests answered with an error code, per API and code (every code, expected ones "
        "included).",
        [
            Query(
                f"sum by (api, error) (rate({scoped(m.REQUESTS, error=Ne(m.NO_ERROR))}[{RATE}]))",
                "{{api}} {{error}}",
            )
        ],
        "reqps",
    )
    board.timeseries(
        "Malformed requests by reason",
        "Requests rejected as malformed (the connection was closed), per reason.",
        [
            Query(
                f"sum by (reason) (rate({scoped(m.MALFORMED_REQUESTS)}[{RATE}]))",
                "{{reason}}",
            )
        ],
        "reqps",
    )
    board.timeseries(
        "Retention headroom per partition",
        "Time until retention deletes each group's oldest unconsumed record.",
        [Query(scoped(m.GROUP_RETENTION_HEADROOM), "{{group}} " + _PARTITION)],
        "s",
    )
    board.timeseries(
        "Retention deletions",
        "Bytes of segments deleted by retention per partition, per interval.",
        [
            Query(
                "sum by (topic, partition) "
                f"(increase({scoped(m.PARTITION_RETENTION_DELETED_BYTES)}[{RATE}]))",
                _PARTITION,
            )
        ],
        "bytes",
    )
    board.timeseries(
        "Recovery truncation and unflushed partitions",
        "Bytes of torn log tail cut at the last start, and partitions holding unsynced data.",
        [
            Query(scoped(m.RECOVERY_TRUNCATED_BYTES), "truncated bytes, broker {{broker}}"),
            Query(scoped(m.UNFLUSHED_PARTITIONS), "unflushed partitions, broker {{broker}}"),
        ],
        "short",
    )


def _probes(board: Board, probes: ProbeMetrics) -> None:
    board.row("Probes")
    queries = []
    for kind, spec in (("produced", probes.produced), *probes.anomalies()):
        by = probes.by(spec)
        legend = " ".join([kind, *(f"{{{{{label}}}}}" for label in by.split(", ") if label)])
        queries.append(Query(f"sum by ({by}) (increase({selector(spec)}[{RATE}]))", legend))
    board.timeseries(
        "Probe results per partition",
        "Probe records produced and every anomaly class, per partition and leader broker.",
        queries,
        "short",
        width=24,
    )
    for title, spec in (
        ("Probe ack latency p99 per broker", probes.ack_latency),
        ("Probe end-to-end latency p99 per broker", probes.end_to_end_latency),
    ):
        # Per leader broker: partitions led by the same broker are merged.
        per_broker = [x for x in probes.by(spec).split(", ") if x != probes.partition_label]
        legend = " ".join(f"{{{{{label}}}}}" for label in per_broker)
        board.timeseries(
            title,
            "99th percentile per probe target and leader broker.",
            [
                Query(
                    f"histogram_quantile(0.99, sum by ({', '.join([*per_broker, 'le'])}) "
                    f"(rate({selector(spec, '_bucket')}[{RATE}])))",
                    legend,
                )
            ],
            "s",
        )


def debug(probes: ProbeMetrics) -> Board:
    board = Board(
        UID,
        DASHBOARD_DEBUG,
        "Per-partition traffic and offsets, replicas, latency distributions, errors by "
        "code, retention and recovery.",
        ["debug"],
    )
    scope_variables(board)
    _traffic(board)
    board.row("Replicas")
    replica_detail(board)
    replication_internals(board)
    _latency(board)
    _errors(board)
    _probes(board, probes)
    return board
