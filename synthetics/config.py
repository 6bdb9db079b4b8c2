"""``tidewatch probe`` configuration: a YAML file listing the clusters to probe.

Example (every key except ``targets[].name`` and ``bootstrap_servers`` is optional;
the values shown are the defaults)::

    http: 127.0.0.1:9465            # /metrics, /status, /healthz; "off" for none
    targets:
      - name: local                 # unique; the `target` label
        cluster: local              # the `cluster` label (default: the name)
        bootstrap_servers: [127.0.0.1:9092]
        client_id: tidewatch-probe
        request_timeout: 30s        # client request timeout (retries stop after it)
        security: {protocol: PLAINTEXT}   # TLS and SASL: see synthetics.connection
        topic:
          name: tidewatch-probe
          partitions: auto          # auto = one per broker, or a number (at least)
          replication_factor: auto  # auto = min(3, brokers)
          create: true              # create it / add partitions so every broker can lead one
          config: {retention.ms: 3600000}
        consumer_group: tidewatch-probe-local   # default tidewatch-probe-<name>
        interval: 1s                # one record per partition per interval
        broker_check_interval: 10s  # connection + metadata latency to every broker
        payload_bytes: 0            # padding added to each record
        idempotent: true            # idempotent producer (false: retries may duplicate)
        sla:
          ack: 1s                   # slower acks count as produce timeouts
          end_to_end: 1s            # slower first arrivals count as late
          lost_after: 30s           # acknowledged, not seen this long after the ack: lost

Errors name the file, the field and what is allowed (:class:`ConfigError`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from contracts.fields import ConfigError, Fields, HostPort, parse_host_port, read_yaml
from synthetics.connection import CONNECTION_KEYS, ConnectionConfig, parse_connection

__all__ = [
    "DEFAULT_HTTP",
    "ProbeConfig",
    "SlaConfig",
    "TargetConfig",
    "TopicConfig",
    "load_probe_config",
    "parse_probe_config",
]

DEFAULT_HTTP: Final = "127.0.0.1:9465"
_DEFAULT_ADDRESS: Final = parse_host_port(DEFAULT_HTTP)
NAME_PATTERN: Final = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}"
TOPIC_PATTERN: Final = r"[A-Za-z0-9._-]{1,249}"
_TOP: Final = frozenset({"http", "targets"})
_TARGET: Final = CONNECTION_KEYS | {
    "name",
    "cluster",
    "topic",
    "consumer_group",
    "interval",
    "broker_check_interval",
    "payload_bytes",
    "idempotent",
    "sla",
}
_TOPIC: Final = frozenset({"name", "partitions", "replication_factor", "create", "config"})
_SLA: Final = frozenset({"ack", "end_to_end", "lost_after"})


@dataclass(frozen=True, slots=True)
class TopicConfig:
    name: str = "tidewatch-probe"
    partitions: int | None = None  # None: one per broker
    replication_factor: int | None = None  # None: min(3, brokers)
    create: bool = True
    config: Mapping[str, str] = field(default_factory=lambda: {"retention.ms": "3600000"})


@dataclass(frozen=True, slots=True)
class SlaConfig:
    ack_seconds: float = 1.0
    end_to_end_seconds: float = 1.0
    lost_after_seconds: float = 30.0


@dataclass(frozen=True, slots=True)
class TargetConfig:
    name: str
    connection: ConnectionConfig
    cluster: str = ""
    topic: TopicConfig = TopicConfig()
    consumer_group: str = ""
    interval_seconds: float = 1.0
    broker_check_interval_seconds: float = 10.0
    payload_bytes: int = 0
    idempotent: bool = True
    sla: SlaConfig = SlaConfig()

    def __post_init__(self) -> None:
        if not self.cluster:
            object.__setattr__(self, "cluster", self.name)
        if not self.consumer_group:
            object.__setattr__(self, "consumer_group", f"tidewatch-probe-{self.name}")


@dataclass(frozen=True, slots=True)
class ProbeConfig:
    targets: tuple[TargetConfig, ...]
    http: HostPort | None = _DEFAULT_ADDRESS
    source: str = "<config>"


def load_probe_config(path: Path, environ: Mapping[str, str] | None = None) -> ProbeConfig:
    return parse_probe_config(
        read_yaml(path), str(path), os.environ if environ is None else environ
    )


def parse_probe_config(data: object, file: str, environ: Mapping[str, str]) -> ProbeConfig:
    top = Fields(file, "", data, _TOP)
    targets = []
    for path, item in top.items("targets"):
        targets.append(_target(Fields(file, path, item, _TARGET), environ))
    names = [t.name for t in targets]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise ConfigError(file, f"targets[{index}].name", f'duplicate target name "{name}"')
    return ProbeConfig(tuple(targets), top.host_port_or_off("http", _DEFAULT_ADDRESS), file)


def _target(f: Fields, environ: Mapping[str, str]) -> TargetConfig:
    name = f.text("name", pattern=NAME_PATTERN)
    interval = f.duration("interval", 1.0)
    return TargetConfig(
        name=name,
        connection=parse_connection(f, environ, "tidewatch-probe"),
        cluster=f.text("cluster", name, pattern=NAME_PATTERN),
        topic=_topic(f.mapping("topic", _TOPIC, required=False)),
        consumer_group=f.text("consumer_group", f"tidewatch-probe-{name}"),
        interval_seconds=interval,
        broker_check_interval_seconds=f.duration("broker_check_interval", max(10.0, interval)),
        payload_bytes=f.integer("payload_bytes", 0, minimum=0, maximum=1_000_000),
        idempotent=f.flag("idempotent", True),
        sla=_sla(f.mapping("sla", _SLA, required=False)),
    )


def _auto_or_count(f: Fields, key: str, maximum: int) -> int | None:
    value = f.raw(key)
    if value is None or value == "auto":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise f.error(key, f"must be auto or a whole number from 1 to {maximum} (got {value!r})")
    return value


def _topic(f: Fields) -> TopicConfig:
    defaults = TopicConfig()
    config = dict(defaults.config)
    config.update(f.string_map("config"))
    return TopicConfig(
        name=f.text("name", defaults.name, pattern=TOPIC_PATTERN),
        partitions=_auto_or_count(f, "partitions", 10_000),
        replication_factor=_auto_or_count(f, "replication_factor", 32),
        create=f.flag("create", True),
        config=config,
    )


def _sla(f: Fields) -> SlaConfig:
    d = SlaConfig()
    sla = SlaConfig(
        ack_seconds=f.duration("ack", d.ack_seconds),
        end_to_end_seconds=f.duration("end_to_end", d.end_to_end_seconds),
        lost_after_seconds=f.duration("lost_after", d.lost_after_seconds),
    )
    if sla.lost_after_seconds <= sla.end_to_end_seconds:
        raise f.error(
            "lost_after",
            f"must be longer than end_to_end ({sla.end_to_end_seconds:g} s): a record is late "
            "before it is lost",
        )
    return sla
