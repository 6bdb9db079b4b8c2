"""Broker configuration: a YAML file, then command-line flags on top, validated once.

Example file (every key optional; the values shown are the defaults)::

    data_dir: ./tidewatch-data
    listen: 127.0.0.1:9092          # Kafka listener
    advertised: null                # host:port clients should use (default: listen)
    http: 127.0.0.1:9464            # /metrics, /healthz, /readyz (off: no HTTP listener)
    node_id: 0
    cluster: local                  # value of the `cluster` label on every metric
    cluster_id: null                # the cluster's id (any name); required with several
                                    #   voters, who must all agree; a data directory keeps
                                    #   it and refuses another
    controller:
      voters: []                    # the metadata quorum, KRaft's shape: ["1@host:port",
                                    #   ...]; empty: this node alone is the cluster
      listen: null                  # this voter's quorum listener (default: its entry in
                                    #   voters; port 0 picks one)
      tick_ms: 100                  # Raft's clock; election timeouts are 10-20 ticks
      fence_on_disconnect: true     # fence a broker whose controller connection drops
    brokers:
      session_timeout_ms: 4000      # fenced after this long without a heartbeat
      heartbeat_interval_ms: 500
    replication:
      default_replication_factor: 1 # for topics created without one (capped by brokers)
      replica_lag_time_max_ms: 10000  # a follower this far behind leaves the ISR
      replica_fetch_max_wait_ms: 500  # followers' long poll
      replica_fetch_backoff_ms: 1000  # after a failed follower fetch
      auto_leader_rebalance: true   # give partitions back to their preferred leader
      leader_imbalance_check_interval_ms: 30000
      controlled_shutdown_timeout_ms: 30000   # SIGTERM waits this long for leaderships
                                    #   to move away before stopping anyway
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
                                    # the stored offsets at the next start (single
                                    # node; a cluster's topic keeps its first count).
      replication_factor: 3         # of __consumer_offsets (capped by live brokers)
                                    # With controller.voters set, the offsets live in
                                    # the replicated topic __consumer_offsets; without,
                                    # in local logs under .coordinator (one node).

The file is read by the shared reader (:class:`contracts.fields.Fields`): every error is
a ``ConfigError`` naming the file, the field and what is allowed, and a misspelt key gets
a suggestion.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from broker.cluster.flusher import FlushPolicy
from broker.storage.log_config import InvalidConfigError, LogConfig
from broker.tracing import TracingConfig
from contracts.fields import Fields, HostPort, parse_host_port, read_yaml

__all__ = [
    "DEFAULT_HTTP_PORT",
    "DEFAULT_KAFKA_PORT",
    "BrokerConfig",
    "ClusterSettings",
    "config_from_mapping",
    "load_config",
]

DEFAULT_KAFKA_PORT: Final = 9092
DEFAULT_HTTP_PORT: Final = 9464
_DEFAULT_LISTEN: Final = HostPort("127.0.0.1", DEFAULT_KAFKA_PORT)
_DEFAULT_HTTP: Final = HostPort("127.0.0.1", DEFAULT_HTTP_PORT)


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    """The keys of ``controller``, ``brokers``, ``replication`` and ``offsets_topic``."""

    voters: Mapping[int, HostPort] = field(default_factory=dict)
    controller_listen: HostPort | None = None
    tick_ms: int = 100
    fence_on_disconnect: bool = True
    session_timeout_ms: int = 4000
    heartbeat_interval_ms: int = 500
    default_replication_factor: int = 1
    replica_lag_time_max_ms: int = 10_000
    replica_fetch_max_wait_ms: int = 500
    replica_fetch_backoff_ms: int = 1000
    auto_leader_rebalance: bool = True
    leader_imbalance_check_interval_ms: int = 30_000
    controlled_shutdown_timeout_ms: int = 30_000
    offsets_topic_replication_factor: int = 3


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
    cluster_id: str | None = None
    cluster_settings: ClusterSettings = field(default_factory=ClusterSettings)

    @property
    def voters(self) -> Mapping[int, HostPort]:
        """The controller voters; empty means this node alone."""
        return self.cluster_settings.voters

    @property
    def offsets_replicated(self) -> bool:
        """Whether group offsets live in the replicated ``__consumer_offsets`` topic
        (a cluster: ``controller.voters`` set) rather than in this node's local
        offsets logs (a broker alone, as before the metadata quorum)."""
        return bool(self.voters)

    @property
    def is_voter(self) -> bool:
        return not self.voters or self.node_id in self.voters

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
        "cluster_id",
        "controller",
        "brokers",
        "replication",
    }
)
_CONTROLLER_KEYS: Final = frozenset({"voters", "listen", "tick_ms", "fence_on_disconnect"})
_BROKERS_KEYS: Final = frozenset({"session_timeout_ms", "heartbeat_interval_ms"})
_REPLICATION_KEYS: Final = frozenset(
    {
        "default_replication_factor",
        "replica_lag_time_max_ms",
        "replica_fetch_max_wait_ms",
        "replica_fetch_backoff_ms",
        "auto_leader_rebalance",
        "leader_imbalance_check_interval_ms",
        "controlled_shutdown_timeout_ms",
    }
)
_VOTER: Final = re.compile(r"^\s*(\d+)@(.+)$")
_FLUSH_KEYS: Final = frozenset({"policy", "interval_ms"})
_FLUSH_POLICIES: Final = tuple(p.value for p in FlushPolicy)
_METRICS_KEYS: Final = frozenset({"compat", "enabled"})
_GROUP_KEYS: Final = frozenset(
    {"initial_rebalance_delay_ms", "min_session_timeout_ms", "max_session_timeout_ms"}
)
_LAG_KEYS: Final = frozenset({"min_stop_seconds", "window_commits"})
_OFFSETS_TOPIC_KEYS: Final = frozenset({"partitions", "replication_factor"})
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
    node_id = top.integer("node_id", d.node_id, minimum=0)
    cluster_id = top.optional_text("cluster_id")
    settings = _cluster_settings(top, node_id)
    if len(settings.voters) > 1 and cluster_id is None:
        raise top.error(
            "cluster_id",
            "is required when controller.voters has several voters (all of them must agree)",
        )
    offsets_topic = top.mapping("offsets_topic", _OFFSETS_TOPIC_KEYS, required=False)
    return BrokerConfig(
        data_dir=Path(top.text("data_dir", str(d.data_dir))),
        listen=top.host_port("listen", d.listen),
        advertised=top.host_port_or_off("advertised", d.advertised),
        http=top.host_port_or_off("http", d.http),
        node_id=node_id,
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
        cluster_id=cluster_id,
        cluster_settings=settings,
    )


def parse_voters(f: Fields, key: str) -> dict[int, HostPort]:
    """``["1@host:port", ...]`` (a list, or one comma-separated string): node id ->
    quorum address; duplicate node ids are refused."""
    voters: dict[int, HostPort] = {}
    for item in f.strings(key):
        match = _VOTER.match(item)
        if match is None:
            raise f.error(key, f"{item!r} is not ID@HOST:PORT (for example 1@127.0.0.1:19093)")
        node = int(match.group(1))
        if node in voters:
            raise f.error(key, f"node id {node} is listed twice; every voter needs its own id")
        try:
            voters[node] = parse_host_port(match.group(2))
        except ValueError as exc:
            raise f.error(key, str(exc)) from None
    return voters


def _cluster_settings(top: Fields, node_id: int) -> ClusterSettings:
    d = ClusterSettings()
    controller = top.mapping("controller", _CONTROLLER_KEYS, required=False)
    brokers = top.mapping("brokers", _BROKERS_KEYS, required=False)
    replication = top.mapping("replication", _REPLICATION_KEYS, required=False)
    offsets = top.mapping("offsets_topic", _OFFSETS_TOPIC_KEYS, required=False)
    voters = parse_voters(controller, "voters")
    listen = controller.host_port_or_off("listen", None)
    if listen is not None and voters and node_id not in voters:
        raise controller.error(
            "listen",
            f"node {node_id} has a controller listener but is not in controller.voters "
            f"({', '.join(map(str, sorted(voters)))}); add it there or drop the listener",
        )
    heartbeat = brokers.integer("heartbeat_interval_ms", d.heartbeat_interval_ms, minimum=10)
    session = brokers.integer("session_timeout_ms", d.session_timeout_ms, minimum=100)
    if session <= heartbeat:
        raise brokers.error(
            "session_timeout_ms",
            f"must be longer than heartbeat_interval_ms ({heartbeat}), or every broker is "
            f"fenced between two heartbeats",
        )
    return ClusterSettings(
        voters=voters,
        controller_listen=listen,
        tick_ms=controller.integer("tick_ms", d.tick_ms, minimum=10, maximum=10_000),
        fence_on_disconnect=controller.flag("fence_on_disconnect", d.fence_on_disconnect),
        session_timeout_ms=session,
        heartbeat_interval_ms=heartbeat,
        default_replication_factor=replication.integer(
            "default_replication_factor", d.default_replication_factor, minimum=1, maximum=32
        ),
        replica_lag_time_max_ms=replication.integer(
            "replica_lag_time_max_ms", d.replica_lag_time_max_ms, minimum=100
        ),
        replica_fetch_max_wait_ms=replication.integer(
            "replica_fetch_max_wait_ms", d.replica_fetch_max_wait_ms, minimum=0
        ),
        replica_fetch_backoff_ms=replication.integer(
            "replica_fetch_backoff_ms", d.replica_fetch_backoff_ms, minimum=0
        ),
        auto_leader_rebalance=replication.flag("auto_leader_rebalance", d.auto_leader_rebalance),
        leader_imbalance_check_interval_ms=replication.integer(
            "leader_imbalance_check_interval_ms",
            d.leader_imbalance_check_interval_ms,
            minimum=100,
        ),
        controlled_shutdown_timeout_ms=replication.integer(
            "controlled_shutdown_timeout_ms", d.controlled_shutdown_timeout_ms, minimum=0
        ),
        offsets_topic_replication_factor=offsets.integer(
            "replication_factor", d.offsets_topic_replication_factor, minimum=1, maximum=32
        ),
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
