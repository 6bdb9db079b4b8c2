"""Broker configuration: a YAML file, then command-line flags on top, validated once.

Example file (every key optional; the values shown are the defaults)::

    data_dir: ./tidewatch-data
    listen: 127.0.0.1:9092          # Kafka listener
    advertised: null                # host:port clients should use (default: listen)
    http: 127.0.0.1:9464            # /metrics, /healthz, /readyz (off: no HTTP listener)
    node_id: 0
    cluster: local                  # value of the `cluster` label on every metric
    flush:
      policy: interval              # interval | durable (see broker.cluster.flusher)
      interval_ms: 1000
    auto_create_topics: true
    default_partitions: 1
    max_request_bytes: 104857600    # larger frames close the connection
    max_inflight_requests: 64       # per connection, before reading pauses
    retention_check_interval_ms: 5000
    topic_defaults:                 # Kafka topic config names (broker.storage.log_config)
      retention.ms: 604800000
      segment.bytes: 1073741824
    metrics:
      enabled: true                 # false: no /metrics and no per-request accounting
      compat: false                 # also emit kafka_exporter / kafka-lag-exporter names
    tracing:                        # OpenTelemetry spans for produce and fetch (broker.tracing)
      enabled: false
      exporter: jsonl               # jsonl | otlp | console
      path: tidewatch-traces.jsonl  # for jsonl
      endpoint: http://127.0.0.1:4318/v1/traces   # for otlp
    lag:
      min_stop_seconds: 60          # silence (with records waiting) before STOP
      window_commits: 10            # commits per partition the status looks at
    groups:
      initial_rebalance_delay_ms: 500   # a new group waits this long for more members
      min_session_timeout_ms: 6000
      max_session_timeout_ms: 1800000
    offsets_topic:                  # the internal topic of committed offsets
      partitions: 10                # 1..1000; a group's coordinator leads partition
                                    # hash(group) mod partitions. Changing it re-homes
                                    # the stored offsets at the next start.

The file is read by the shared reader (:class:`contracts.fields.Fields`): every error is
a ``ConfigError`` naming the file, the field and what is allowed, and a misspelt key gets
a suggestion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from broker.cluster.flusher import FlushPolicy
from broker.storage.log_config import InvalidConfigError, LogConfig
from broker.tracing import TracingConfig
from contracts.fields import Fields, HostPort, read_yaml

__all__ = [
    "DEFAULT_HTTP_PORT",
    "DEFAULT_KAFKA_PORT",
    "BrokerConfig",
    "config_from_mapping",
    "load_config",
]

DEFAULT_KAFKA_PORT: Final = 9092
DEFAULT_HTTP_PORT: Final = 9464
_DEFAULT_LISTEN: Final = HostPort("127.0.0.1", DEFAULT_KAFKA_PORT)
_DEFAULT_HTTP: Final = HostPort("127.0.0.1", DEFAULT_HTTP_PORT)


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    data_dir: Path = Path("tidewatch-data")
    listen: HostPort = _DEFAULT_LISTEN
    advertised: HostPort | None = None
    http: HostPort | None = _DEFAULT_HTTP
    node_id: int = 0
    cluster: str = "local"
    flush_policy: FlushPolicy = FlushPolicy.INTERVAL
    flush_interval_ms: int = 1000
    auto_create_topics: bool = True
    default_partitions: int = 1
    max_request_bytes: int = 100 * 1024 * 1024
    max_inflight_requests: int = 64
    retention_check_interval_ms: int = 5000
    topic_defaults: LogConfig = field(default_factory=LogConfig)
    metrics_compat: bool = False
    metrics_enabled: bool = True
    group_initial_rebalance_delay_ms: int = 500
    group_min_session_timeout_ms: int = 6000
    group_max_session_timeout_ms: int = 1_800_000
    lag_min_stop_seconds: int = 60
    lag_window_commits: int = 10
    offsets_topic_partitions: int = 10
    tracing: TracingConfig = field(default_factory=TracingConfig)

    def advertised_address(self, bound_port: int) -> HostPort:
        """Where clients should connect: the advertised address, else the listener
        (with the port actually bound when listening on port 0)."""
        if self.advertised is not None:
            return self.advertised
        host = self.listen.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return HostPort(host, bound_port)


_TOP_KEYS: Final = frozenset(
    {
        "data_dir",
        "listen",
        "advertised",
        "http",
        "node_id",
        "cluster",
        "flush",
        "auto_create_topics",
        "default_partitions",
        "max_request_bytes",
        "max_inflight_requests",
        "retention_check_interval_ms",
        "topic_defaults",
        "metrics",
        "groups",
        "lag",
        "offsets_topic",
        "tracing",
    }
)
_FLUSH_KEYS: Final = frozenset({"policy", "interval_ms"})
_FLUSH_POLICIES: Final = tuple(p.value for p in FlushPolicy)
_METRICS_KEYS: Final = frozenset({"compat", "enabled"})
_GROUP_KEYS: Final = frozenset(
    {"initial_rebalance_delay_ms", "min_session_timeout_ms", "max_session_timeout_ms"}
)
_LAG_KEYS: Final = frozenset({"min_stop_seconds", "window_commits"})
_OFFSETS_TOPIC_KEYS: Final = frozenset({"partitions"})
_MAX_OFFSETS_TOPIC_PARTITIONS: Final = 1000
_TRACING_KEYS: Final = frozenset({"enabled", "exporter", "path", "endpoint", "service_name"})
_EXPORTERS: Final = ("jsonl", "otlp", "console")


def load_config(path: Path | None) -> BrokerConfig:
    """Read and validate a YAML config file (None gives the defaults)."""
    if path is None:
        return BrokerConfig()
    return config_from_mapping(read_yaml(path), str(path))


def config_from_mapping(raw: object, source: str) -> BrokerConfig:
    """Build a config from parsed YAML (None, an empty file, gives the defaults);
    ``source`` names the file in errors."""
    top = Fields(source, "", {} if raw is None else raw, _TOP_KEYS)
    d = BrokerConfig()
    flush = top.mapping("flush", _FLUSH_KEYS, required=False)
    metrics = top.mapping("metrics", _METRICS_KEYS, required=False)
    groups = top.mapping("groups", _GROUP_KEYS, required=False)
    lag = top.mapping("lag", _LAG_KEYS, required=False)
    offsets_topic = top.mapping("offsets_topic", _OFFSETS_TOPIC_KEYS, required=False)
    return BrokerConfig(
        data_dir=Path(top.text("data_dir", str(d.data_dir))),
        listen=top.host_port("listen", d.listen),
        advertised=top.host_port_or_off("advertised", d.advertised),
        http=top.host_port_or_off("http", d.http),
        node_id=top.integer("node_id", d.node_id, minimum=0),
        cluster=top.text("cluster", d.cluster),
        flush_policy=FlushPolicy(flush.choice("policy", _FLUSH_POLICIES, d.flush_policy.value)),
        flush_interval_ms=flush.integer("interval_ms", d.flush_interval_ms, minimum=1),
        auto_create_topics=top.flag("auto_create_topics", d.auto_create_topics),
        default_partitions=top.integer("default_partitions", d.default_partitions, minimum=1),
        max_request_bytes=top.integer("max_request_bytes", d.max_request_bytes, minimum=1024),
        max_inflight_requests=top.integer(
            "max_inflight_requests", d.max_inflight_requests, minimum=1
        ),
        retention_check_interval_ms=top.integer(
            "retention_check_interval_ms", d.retention_check_interval_ms, minimum=10
        ),
        topic_defaults=_topic_defaults(top),
        metrics_compat=metrics.flag("compat", d.metrics_compat),
        metrics_enabled=metrics.flag("enabled", d.metrics_enabled),
        group_initial_rebalance_delay_ms=groups.integer(
            "initial_rebalance_delay_ms", d.group_initial_rebalance_delay_ms, minimum=0
        ),
        group_min_session_timeout_ms=groups.integer(
            "min_session_timeout_ms", d.group_min_session_timeout_ms, minimum=0
        ),
        group_max_session_timeout_ms=groups.integer(
            "max_session_timeout_ms", d.group_max_session_timeout_ms, minimum=0
        ),
        lag_min_stop_seconds=lag.integer("min_stop_seconds", d.lag_min_stop_seconds, minimum=1),
        lag_window_commits=lag.integer("window_commits", d.lag_window_commits, minimum=1),
        offsets_topic_partitions=offsets_topic.integer(
            "partitions",
            d.offsets_topic_partitions,
            minimum=1,
            maximum=_MAX_OFFSETS_TOPIC_PARTITIONS,
        ),
        tracing=_tracing(top.mapping("tracing", _TRACING_KEYS, required=False)),
    )


def _topic_defaults(top: Fields) -> LogConfig:
    """Kafka-named topic configs (``retention.ms``) over the built-in defaults."""
    try:
        return LogConfig().with_overrides(top.string_map("topic_defaults"))
    except InvalidConfigError as exc:
        raise top.error("topic_defaults", str(exc)) from None


def _tracing(f: Fields) -> TracingConfig:
    d = TracingConfig()
    return TracingConfig(
        enabled=f.flag("enabled", d.enabled),
        exporter=f.choice("exporter", _EXPORTERS, d.exporter),
        path=Path(f.text("path", str(d.path))),
        endpoint=f.text("endpoint", d.endpoint),
        service_name=f.text("service_name", d.service_name),
    )
