"""Workload files (``version: tidewatch/load/v1``): the YAML spec and its frozen model.

The loader reads through :class:`contracts.fields.Fields`, so an error names the file,
the field and what is allowed, exactly like SLO specs::

    workload.yaml: producers.acks: "2" is not allowed; allowed: 0, 1, all

The format is documented with an example in ``loadtest/README.md``. Times are durations
(``30s``, ``2m``, ``1m30s``; the grammar of :mod:`contracts.durations`) or plain numbers
of seconds. Pure: only :func:`load_workload` reads a file.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

from contracts.fields import ConfigError, Fields, read_yaml
from loadtest.distributions import (
    KEY_DISTRIBUTIONS,
    SIZE_DISTRIBUTIONS,
    KeyDistribution,
    SizeDistribution,
)
from loadtest.payload import HEADER_BYTES
from loadtest.schedule import ArrivalSchedule, Phase

__all__ = [
    "ACKS",
    "COMPRESSIONS",
    "VERSION",
    "ConsumerGroupSpec",
    "ProducerSpec",
    "TopicSpec",
    "Workload",
    "load_workload",
    "parse_embedded_workload",
    "parse_workload",
]

VERSION: Final = "tidewatch/load/v1"
ACKS: Final = ("0", "1", "all")
COMPRESSIONS: Final = ("none", "gzip", "snappy", "lz4", "zstd")
OFFSET_RESETS: Final = ("earliest", "latest")
# One librdkafka producer process comfortably sends this many messages per second
# here; 'processes: auto' starts one process per this much peak rate (at most one per core).
RATE_PER_PROCESS: Final = 40_000
MAX_PROCESSES: Final = 32

_TOP: Final = frozenset(
    {"version", "name", "bootstrap", "seed", "topic", "producers", "consumers", "drain"}
)
_EMBEDDED: Final = frozenset({"seed", "topic", "producers", "consumers", "drain"})
_TOPIC: Final = frozenset(
    {"name", "partitions", "create", "replication_factor", "min_insync_replicas", "configs"}
)
MIN_INSYNC_CONFIG: Final = "min.insync.replicas"
_PRODUCERS: Final = frozenset(
    {
        "processes",
        "rate",
        "ramp",
        "duration",
        "phases",
        "acks",
        "compression",
        "linger_ms",
        "batch_bytes",
        "idempotence",
        "message",
        "keys",
        "client_config",
    }
)
_PHASE: Final = frozenset({"duration", "rate"})
_RATE_RANGE: Final = frozenset({"from", "to"})
_MESSAGE: Final = frozenset({"size"})
_SIZE: Final = frozenset({"distribution", "bytes", "min", "max", "stddev", "values", "weights"})
_KEYS: Final = frozenset({"distribution", "count", "exponent", "hot_share"})
_GROUP: Final = frozenset({"group", "members", "processing_ms", "offset_reset", "client_config"})


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int = 6
    create: bool = True
    replication_factor: int = 1
    configs: tuple[tuple[str, str], ...] = ()  # min_insync_replicas included, when given

    @property
    def min_insync_replicas(self) -> int:
        """The topic's ``min.insync.replicas`` (1, Kafka's default, when not set)."""
        return int(dict(self.configs).get(MIN_INSYNC_CONFIG, "1"))


@dataclass(frozen=True, slots=True)
class ProducerSpec:
    phases: tuple[Phase, ...]
    processes: int | None = None  # None: auto
    acks: str = "1"  # the first of acks_mix
    # Several acks settings side by side: producer process k uses acks_mix[k % len].
    acks_mix: tuple[str, ...] = ()
    compression: str = "none"
    linger_ms: int = 5
    batch_bytes: int = 131_072
    idempotence: bool = False
    sizes: SizeDistribution = field(
        default_factory=lambda: SizeDistribution(minimum_bytes=HEADER_BYTES)
    )
    keys: KeyDistribution = field(default_factory=KeyDistribution)
    client_config: tuple[tuple[str, str], ...] = ()

    @property
    def schedule(self) -> ArrivalSchedule:
        return ArrivalSchedule(self.phases)

    @property
    def peak_rate(self) -> float:
        return max(max(p.rate_from, p.rate_to) for p in self.phases)

    def resolved_processes(self, cpus: int | None = None) -> int:
        """At least one process per acks setting."""
        if self.processes is not None:
            return self.processes
        cores = cpus if cpus is not None else (os.cpu_count() or 1)
        wanted = max(1, min(cores, math.ceil(self.peak_rate / RATE_PER_PROCESS)))
        return max(wanted, len(self.acks_mix))

    def acks_of(self, worker: int) -> str:
        """The acks setting of producer process ``worker``."""
        return self.acks_mix[worker % len(self.acks_mix)] if self.acks_mix else self.acks


@dataclass(frozen=True, slots=True)
class ConsumerGroupSpec:
    group: str
    members: int = 1
    processing_ms: float = 0.0
    offset_reset: str = "earliest"
    client_config: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    topic: TopicSpec
    producer: ProducerSpec
    groups: tuple[ConsumerGroupSpec, ...] = ()
    bootstrap: str | None = None
    seed: int = 1
    drain_seconds: float = 30.0
    source: str = field(default="", compare=False)

    @property
    def duration_seconds(self) -> float:
        return self.producer.schedule.duration_seconds

    def with_bootstrap(self, bootstrap: str | None) -> Workload:
        return self if bootstrap is None else replace(self, bootstrap=bootstrap)


def load_workload(path: Path) -> Workload:
    """Read and validate a workload file (raises ConfigError naming file and field)."""
    return parse_workload(str(path), read_yaml(path))


def parse_workload(file: str, data: object) -> Workload:
    top = Fields(file, "", data, _TOP)
    version = top.text("version")
    if version != VERSION:
        raise top.error("version", f'"{version}" is not supported; allowed: {VERSION}')
    return _workload(top, top.text("name"), None)


def parse_embedded_workload(
    file: str, path: str, data: object, name: str, duration_seconds: float
) -> Workload:
    """A workload inside another document (a game-day scenario) at ``path``: no
    version, name or bootstrap, and the producers run for ``duration_seconds`` (a
    ``ramp`` is allowed; ``duration`` and ``phases`` are not)."""
    f = Fields(file, path, data, _EMBEDDED)
    producers = f.mapping("producers", _PRODUCERS)
    for key in ("duration", "phases"):
        if producers.has(key):
            raise producers.error(key, "is set by the scenario's duration; remove it")
    return _workload(f, name, duration_seconds)


def _workload(top: Fields, name: str, duration_seconds: float | None) -> Workload:
    file = top.file
    consumers = tuple(
        _group(Fields(file, p, item, _GROUP)) for p, item in top.items("consumers", required=False)
    )
    names = [g.group for g in consumers]
    for index, group in enumerate(names):
        if group in names[:index]:
            raise ConfigError(
                file, f"{top.at('consumers')}[{index}].group", f'duplicate group "{group}"'
            )
    return Workload(
        name=name,
        topic=_topic(top.mapping("topic", _TOPIC)),
        producer=_producer(top.mapping("producers", _PRODUCERS), duration_seconds),
        groups=consumers,
        bootstrap=top.text("bootstrap") if top.has("bootstrap") else None,
        seed=top.integer("seed", 1, minimum=0),
        drain_seconds=top.duration("drain", 30.0),
        source=file,
    )


# --- sections --------------------------------------------------------------------------
def _topic(f: Fields) -> TopicSpec:
    replication_factor = f.integer("replication_factor", 1, minimum=1, maximum=32)
    configs = dict(f.labels("configs"))
    if f.has("min_insync_replicas"):
        if MIN_INSYNC_CONFIG in configs:
            raise f.error("min_insync_replicas", f"is also given as configs.{MIN_INSYNC_CONFIG}")
        configs[MIN_INSYNC_CONFIG] = str(f.integer("min_insync_replicas", minimum=1))
    min_insync = configs.get(MIN_INSYNC_CONFIG)
    if min_insync is not None and (not min_insync.isdigit() or int(min_insync) < 1):
        raise f.error("configs", f"{MIN_INSYNC_CONFIG} must be a whole number >= 1")
    if min_insync is not None and int(min_insync) > replication_factor:
        key = "min_insync_replicas" if f.has("min_insync_replicas") else "configs"
        raise f.error(
            key,
            f"min.insync.replicas {min_insync} is more than the replication factor "
            f"{replication_factor}: no acks=all write could ever succeed",
        )
    return TopicSpec(
        name=f.text("name"),
        partitions=f.integer("partitions", 6, minimum=1, maximum=10_000),
        create=f.flag("create", True),
        replication_factor=replication_factor,
        configs=tuple(sorted(configs.items())),
    )


def _producer(f: Fields, duration_seconds: float | None = None) -> ProducerSpec:
    processes_raw = f.raw("processes")
    processes: int | None
    if processes_raw is None or processes_raw == "auto":
        processes = None
    else:
        processes = f.integer("processes", 1, minimum=1, maximum=MAX_PROCESSES)
    acks = f.choices("acks", ACKS, "1")
    if processes is not None and processes < len(acks):
        raise f.error(
            "processes", f"must be at least {len(acks)}: one producer process per acks setting"
        )
    return ProducerSpec(
        phases=_phases(f, duration_seconds),
        processes=processes,
        acks=acks[0],
        acks_mix=acks if len(acks) > 1 else (),
        compression=f.choice("compression", COMPRESSIONS, "none"),
        linger_ms=f.integer("linger_ms", 5, minimum=0, maximum=300_000),
        batch_bytes=f.integer("batch_bytes", 131_072, minimum=1024),
        idempotence=f.flag("idempotence", False),
        sizes=_sizes(f),
        keys=_keys(f),
        client_config=f.labels("client_config"),
    )


def _phases(f: Fields, duration_seconds: float | None) -> tuple[Phase, ...]:
    if f.has("phases"):
        for other in ("rate", "ramp", "duration"):
            if f.has(other):
                raise f.error(other, "give either phases or rate/ramp/duration, not both")
        phases = []
        for path, item in f.items("phases"):
            p = Fields(f.file, path, item, _PHASE)
            low, high = _rate(p)
            phases.append(Phase(p.duration("duration"), low, high))
        return tuple(phases)
    rate = f.number("rate")
    if not rate > 0:
        raise f.error("rate", "must be a positive number of messages per second")
    duration = duration_seconds or f.duration("duration")
    ramp = f.duration("ramp", 0.0)
    if ramp >= duration:
        raise f.error("ramp", f"must be shorter than the duration ({duration:g} s)")
    ramp_phase = (Phase(ramp, 0.0, rate),) if ramp else ()
    return (*ramp_phase, Phase(duration - ramp, rate, rate))


def _rate(p: Fields) -> tuple[float, float]:
    raw = p.raw("rate")
    if isinstance(raw, Mapping):
        r = Fields(p.file, p.at("rate"), raw, _RATE_RANGE)
        low, high = r.number("from"), r.number("to")
        if low < 0 or high < 0:
            raise p.error("rate", "rates must not be negative")
        return low, high
    value = p.number("rate")
    if value < 0:
        raise p.error("rate", "must not be negative")
    return value, value


def _sizes(f: Fields) -> SizeDistribution:
    floor = HEADER_BYTES
    if not f.has("message"):
        return SizeDistribution(minimum_bytes=floor)
    m = f.mapping("message", _MESSAGE)
    raw = m.raw("size")
    if raw is None:
        return SizeDistribution(minimum_bytes=floor)
    if not isinstance(raw, Mapping):
        value = m.integer("size", 1024, minimum=floor)
        return SizeDistribution("fixed", bytes=value, minimum_bytes=floor)
    s = m.mapping("size", _SIZE)
    kind = s.choice("distribution", SIZE_DISTRIBUTIONS, "fixed")
    if kind == "fixed":
        return SizeDistribution(
            "fixed", bytes=s.integer("bytes", 1024, minimum=floor), minimum_bytes=floor
        )
    if kind in ("uniform", "normal"):
        low = s.integer("min", floor, minimum=0)
        high = s.integer("max", None, minimum=1)
        if high < low:
            raise s.error("max", f"must not be below min ({low})")
        if kind == "uniform":
            return SizeDistribution("uniform", min_bytes=low, max_bytes=high, minimum_bytes=floor)
        mean = s.integer("bytes", None, minimum=1)
        stddev = s.number("stddev")
        if stddev < 0:
            raise s.error("stddev", "must not be negative")
        return SizeDistribution(
            "normal",
            bytes=mean,
            min_bytes=low,
            max_bytes=high,
            stddev_bytes=stddev,
            minimum_bytes=floor,
        )
    values = tuple(_int_list(s, "values"))
    weights: tuple[float, ...] = ()
    if s.has("weights"):
        weights = tuple(_number_list(s, "weights"))
        if len(weights) != len(values):
            raise s.error("weights", f"needs one weight per value ({len(values)})")
        if any(w < 0 for w in weights) or not sum(weights) > 0:
            raise s.error("weights", "must be non-negative with a positive sum")
    return SizeDistribution("choice", values=values, weights=weights, minimum_bytes=floor)


def _keys(f: Fields) -> KeyDistribution:
    if not f.has("keys"):
        return KeyDistribution()
    k = f.mapping("keys", _KEYS)
    kind = k.choice("distribution", KEY_DISTRIBUTIONS, "uniform")
    count = k.integer("count", 1000, minimum=1, maximum=10_000_000)
    exponent = k.number("exponent", 1.1)
    if kind == "zipf" and not exponent > 0:
        raise k.error("exponent", "must be positive")
    hot_share = k.number("hot_share", 0.9)
    if not 0 <= hot_share <= 1:
        raise k.error("hot_share", "must be a ratio between 0 and 1")
    return KeyDistribution(kind, count, exponent, hot_share)  # type: ignore[arg-type]


def _group(f: Fields) -> ConsumerGroupSpec:
    processing = f.number("processing_ms", 0.0)
    if processing < 0:
        raise f.error("processing_ms", "must not be negative")
    return ConsumerGroupSpec(
        group=f.text("group"),
        members=f.integer("members", 1, minimum=1, maximum=64),
        processing_ms=processing,
        offset_reset=f.choice("offset_reset", OFFSET_RESETS, "earliest"),
        client_config=f.labels("client_config"),
    )


# --- field helpers -------------------------------------------------------------------
def _int_list(f: Fields, key: str) -> list[int]:
    out = []
    for path, item in f.items(key):
        if isinstance(item, bool) or not isinstance(item, int) or item < 1:
            raise ConfigError(
                f.file, path, f"must be a positive whole number of bytes, not {item!r}"
            )
        out.append(item)
    return out


def _number_list(f: Fields, key: str) -> list[float]:
    out = []
    for path, item in f.items(key):
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise ConfigError(f.file, path, f"must be a number, not {item!r}")
        out.append(float(item))
    return out
