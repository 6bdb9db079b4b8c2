"""Broker configuration: a YAML file, then command-line flags on top, validated once.

Example file (every key optional; the values shown are the defaults)::

    data_dir: ./tidewatch-data
    listen: 127.0.0.1:9092          # Kafka listener
    advertised: null                # host:port clients should use (default: listen)
    http: 127.0.0.1:9464            # /metrics, /healthz, /readyz
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

Errors name the file, the field and what is allowed (``ConfigError``).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from broker.cluster.flusher import FlushPolicy
from broker.storage.log_config import TOPIC_CONFIGS, InvalidConfigError, LogConfig
from broker.tracing import TracingConfig

__all__ = ["BrokerConfig", "ConfigError", "HostPort", "load_config", "parse_host_port"]

DEFAULT_KAFKA_PORT = 9092
DEFAULT_HTTP_PORT = 9464


class ConfigError(ValueError):
    """Invalid configuration; the message says where and what is allowed."""


@dataclass(frozen=True, slots=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_host_port(value: str, where: str) -> HostPort:
    host, sep, port = str(value).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{where}: {value!r} is not HOST:PORT (for example 127.0.0.1:9092)")
    return HostPort(host.strip("[]"), int(port))


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    data_dir: Path = Path("tidewatch-data")
    listen: HostPort = HostPort("127.0.0.1", DEFAULT_KAFKA_PORT)
    advertised: HostPort | None = None
    http: HostPort | None = HostPort("127.0.0.1", DEFAULT_HTTP_PORT)
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


_TOP_KEYS = {
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
    "tracing",
}
_TRACING_KEYS = {"enabled", "exporter", "path", "endpoint", "service_name"}
_EXPORTERS = ("jsonl", "otlp", "console")
_LAG_KEYS = {"min_stop_seconds", "window_commits"}
_GROUP_KEYS = {"initial_rebalance_delay_ms", "min_session_timeout_ms", "max_session_timeout_ms"}
_FLUSH_KEYS = {"policy", "interval_ms"}
_METRICS_KEYS = {"compat", "enabled"}


def _unknown(key: str, allowed: set[str], where: str) -> ConfigError:
    close = difflib.get_close_matches(key, sorted(allowed), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"{where}: unknown key {key!r}{hint}; allowed: {', '.join(sorted(allowed))}")


def _int(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: {value!r} is not an integer")
    if value < minimum:
        raise ConfigError(f"{where}: {value} is below the minimum {minimum}")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {value!r} is not true or false")
    return value


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def config_from_mapping(raw: dict[str, Any], source: str) -> BrokerConfig:
    """Build a config from parsed YAML; ``source`` names the file in errors."""
    for key in raw:
        if key not in _TOP_KEYS:
            raise _unknown(key, _TOP_KEYS, source)
    changes: dict[str, Any] = {}
    if "data_dir" in raw:
        changes["data_dir"] = Path(str(raw["data_dir"]))
    for key in ("listen", "advertised", "http"):
        if key in raw:
            value = raw[key]
            changes[key] = (
                None
                if value is None and key != "listen"
                else parse_host_port(value, f"{source}: {key}")
            )
    if "node_id" in raw:
        changes["node_id"] = _int(raw["node_id"], f"{source}: node_id", 0)
    if "cluster" in raw:
        changes["cluster"] = str(raw["cluster"])
    flush = _mapping(raw.get("flush"), f"{source}: flush")
    for key in flush:
        if key not in _FLUSH_KEYS:
            raise _unknown(key, _FLUSH_KEYS, f"{source}: flush")
    if "policy" in flush:
        changes["flush_policy"] = parse_flush_policy(flush["policy"], f"{source}: flush.policy")
    if "interval_ms" in flush:
        changes["flush_interval_ms"] = _int(flush["interval_ms"], f"{source}: flush.interval_ms", 1)
    if "auto_create_topics" in raw:
        changes["auto_create_topics"] = _bool(
            raw["auto_create_topics"], f"{source}: auto_create_topics"
        )
    for key, minimum in (
        ("default_partitions", 1),
        ("max_request_bytes", 1024),
        ("max_inflight_requests", 1),
        ("retention_check_interval_ms", 10),
    ):
        if key in raw:
            changes[key] = _int(raw[key], f"{source}: {key}", minimum)
    defaults = _mapping(raw.get("topic_defaults"), f"{source}: topic_defaults")
    if defaults:
        try:
            changes["topic_defaults"] = LogConfig().with_overrides(
                {str(k): str(v) for k, v in defaults.items()}
            )
        except InvalidConfigError as exc:
            raise ConfigError(f"{source}: topic_defaults: {exc}") from None
    groups = _mapping(raw.get("groups"), f"{source}: groups")
    for key, value in groups.items():
        if key not in _GROUP_KEYS:
            raise _unknown(key, _GROUP_KEYS, f"{source}: groups")
        changes[f"group_{key}"] = _int(value, f"{source}: groups.{key}", 0)
    lag = _mapping(raw.get("lag"), f"{source}: lag")
    for key, value in lag.items():
        if key not in _LAG_KEYS:
            raise _unknown(key, _LAG_KEYS, f"{source}: lag")
        changes[f"lag_{key}"] = _int(value, f"{source}: lag.{key}", 1)
    tracing = _mapping(raw.get("tracing"), f"{source}: tracing")
    if tracing:
        changes["tracing"] = _tracing(tracing, f"{source}: tracing")
    metrics = _mapping(raw.get("metrics"), f"{source}: metrics")
    for key in metrics:
        if key not in _METRICS_KEYS:
            raise _unknown(key, _METRICS_KEYS, f"{source}: metrics")
    if "enabled" in metrics:
        changes["metrics_enabled"] = _bool(metrics["enabled"], f"{source}: metrics.enabled")
    if "compat" in metrics:
        changes["metrics_compat"] = _bool(metrics["compat"], f"{source}: metrics.compat")
    return replace(BrokerConfig(), **changes)


def _tracing(raw: dict[str, Any], where: str) -> TracingConfig:
    for key in raw:
        if key not in _TRACING_KEYS:
            raise _unknown(key, _TRACING_KEYS, where)
    exporter = str(raw.get("exporter", "jsonl"))
    if exporter not in _EXPORTERS:
        raise ConfigError(f"{where}.exporter: {exporter!r} is not one of {', '.join(_EXPORTERS)}")
    defaults = TracingConfig()
    return TracingConfig(
        enabled=_bool(raw.get("enabled", False), f"{where}.enabled"),
        exporter=exporter,
        path=Path(str(raw.get("path", defaults.path))),
        endpoint=str(raw.get("endpoint", defaults.endpoint)),
        service_name=str(raw.get("service_name", defaults.service_name)),
    )


def parse_flush_policy(value: Any, where: str) -> FlushPolicy:
    try:
        return FlushPolicy(str(value))
    except ValueError:
        allowed = ", ".join(p.value for p in FlushPolicy)
        raise ConfigError(f"{where}: {value!r} is not a flush policy; allowed: {allowed}") from None


def load_config(path: Path | None) -> BrokerConfig:
    """Read and validate a YAML config file (None gives the defaults)."""
    if path is None:
        return BrokerConfig()
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys to values")
    return config_from_mapping(raw, str(path))


__all__ += ["TOPIC_CONFIGS", "config_from_mapping", "parse_flush_policy"]
