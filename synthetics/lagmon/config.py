"""``tidewatch lag`` configuration: the clusters to watch and the status settings.

Example (values shown are the defaults, except the cluster entries)::

    http: 127.0.0.1:9466            # /metrics, /status, /healthz; "off" for none
    interval: 15s                   # one poll of every cluster per interval
    fetch_timeout: 5s               # reading the records at committed offsets
    status:                         # the broker's lag status settings, same meaning
      window_commits: 10
      min_stop_seconds: 60
    clusters:
      - name: prod                  # the `cluster` label
        bootstrap_servers: [kafka-1:9092]
        security: {protocol: PLAINTEXT}   # TLS and SASL: see synthetics.connection
        groups:                     # regular expressions, matched against the whole id
          include: [".*"]
          exclude: []

Errors name the file, the field and what is allowed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from contracts.fields import ConfigError, Fields, HostPort, parse_host_port, read_yaml
from contracts.lag.status import StatusConfig
from synthetics.config import NAME_PATTERN
from synthetics.connection import CONNECTION_KEYS, ConnectionConfig, parse_connection

__all__ = ["DEFAULT_HTTP", "GroupFilter", "LagClusterConfig", "LagConfig", "load_lag_config"]

DEFAULT_HTTP: Final = "127.0.0.1:9466"
_DEFAULT_ADDRESS: Final = parse_host_port(DEFAULT_HTTP)
_TOP: Final = frozenset({"http", "interval", "fetch_timeout", "status", "clusters"})
_STATUS: Final = frozenset({"window_commits", "min_stop_seconds"})
_CLUSTER: Final = CONNECTION_KEYS | {"name", "groups"}
_GROUPS: Final = frozenset({"include", "exclude"})


@dataclass(frozen=True, slots=True)
class GroupFilter:
    include: tuple[re.Pattern[str], ...] = (re.compile(".*"),)
    exclude: tuple[re.Pattern[str], ...] = ()

    def matches(self, group_id: str) -> bool:
        return any(p.fullmatch(group_id) for p in self.include) and not any(
            p.fullmatch(group_id) for p in self.exclude
        )


@dataclass(frozen=True, slots=True)
class LagClusterConfig:
    name: str
    connection: ConnectionConfig
    groups: GroupFilter = GroupFilter()


@dataclass(frozen=True, slots=True)
class LagConfig:
    clusters: tuple[LagClusterConfig, ...]
    http: HostPort | None = _DEFAULT_ADDRESS
    interval_seconds: float = 15.0
    fetch_timeout_seconds: float = 5.0
    status: StatusConfig = field(default_factory=StatusConfig)
    source: str = "<config>"


def load_lag_config(path: Path, environ: Mapping[str, str] | None = None) -> LagConfig:
    env = os.environ if environ is None else environ
    return parse_lag_config(read_yaml(path), str(path), env)


def parse_lag_config(data: object, file: str, environ: Mapping[str, str]) -> LagConfig:
    top = Fields(file, "", data, _TOP)
    status = top.mapping("status", _STATUS, required=False)
    clusters = []
    for path, item in top.items("clusters"):
        f = Fields(file, path, item, _CLUSTER)
        clusters.append(
            LagClusterConfig(
                name=f.text("name", pattern=NAME_PATTERN),
                connection=parse_connection(f, environ, "tidewatch-lag"),
                groups=_filter(f.mapping("groups", _GROUPS, required=False)),
            )
        )
    names = [c.name for c in clusters]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise ConfigError(file, f"clusters[{index}].name", f'duplicate cluster name "{name}"')
    return LagConfig(
        clusters=tuple(clusters),
        http=top.host_port_or_off("http", _DEFAULT_ADDRESS),
        interval_seconds=top.duration("interval", 15.0),
        fetch_timeout_seconds=top.duration("fetch_timeout", 5.0),
        status=StatusConfig(
            window=status.integer("window_commits", 10, minimum=1, maximum=1000),
            min_stop_seconds=status.duration("min_stop_seconds", 60.0),
        ),
        source=file,
    )


def _filter(f: Fields) -> GroupFilter:
    def patterns(key: str, default: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
        out = []
        for text in f.strings(key, default):
            try:
                out.append(re.compile(text))
            except re.error as exc:
                raise f.error(key, f"{text!r} is not a regular expression: {exc}") from None
        return tuple(out)

    return GroupFilter(patterns("include", (".*",)), patterns("exclude", ()))
