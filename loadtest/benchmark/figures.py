"""What the benchmark reports, as data, and the arithmetic on it (pure: no I/O).

Every figure the benchmark can produce is declared once in ``FIGURES`` (a stable key
such as ``produce.messages_per_second``, a label, a unit and an optional target from
BRIEF.md section 5). Workloads record samples per system (``tidewatch`` or ``redis``);
a figure's value is the median of its samples, and the ratio is Tidewatch's median over
Redis's. The cluster workloads (``CLUSTER_WORKLOADS``) have no Redis peer: their peer is
Tidewatch itself (a single broker in the same run), so their samples are already ratios
or per-kill times. Units: MB = 10^6 bytes and GB = 10^9 bytes, as in the brief's figures;
``x`` is a ratio.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

__all__ = [
    "CLUSTER_WORKLOADS",
    "DEFAULT_WORKLOADS",
    "FIGURES",
    "SYSTEMS",
    "WORKLOADS",
    "Comparison",
    "FigureSpec",
    "Results",
    "Target",
    "latency_summary_ms",
    "rate",
]

DEFAULT_WORKLOADS: tuple[str, ...] = ("produce", "consume", "small", "latency", "memory", "restart")
CLUSTER_WORKLOADS: tuple[str, ...] = ("replication", "failover")  # three brokers: opt-in
WORKLOADS: tuple[str, ...] = DEFAULT_WORKLOADS + CLUSTER_WORKLOADS
SYSTEMS: tuple[str, ...] = ("tidewatch", "redis")
MB = 1e6
GB = 1e9


class Comparison(Enum):
    AT_LEAST = "at_least"  # Tidewatch's value >= target
    AT_MOST = "at_most"  # Tidewatch's value <= target
    RATIO_AT_LEAST = "ratio_at_least"  # Tidewatch / Redis >= target


@dataclass(frozen=True, slots=True)
class Target:
    comparison: Comparison
    value: float
    note: str = ""

    def describe(self, unit: str) -> str:
        if self.comparison is Comparison.RATIO_AT_LEAST:
            text = f"≥ {self.value:g}x Redis"
        elif self.comparison is Comparison.AT_LEAST:
            text = f"≥ {self.value:,g} {unit}"
        else:
            text = f"≤ {self.value:,g} {unit}"
        return f"{text} ({self.note})" if self.note else text

    def met(self, tidewatch: float | None, ratio: float | None) -> bool | None:
        """None when there is nothing to compare (no value, or no peer for a ratio)."""
        if self.comparison is Comparison.RATIO_AT_LEAST:
            return None if ratio is None else ratio >= self.value
        if tidewatch is None:
            return None
        if self.comparison is Comparison.AT_LEAST:
            return tidewatch >= self.value
        return tidewatch <= self.value


@dataclass(frozen=True, slots=True)
class FigureSpec:
    key: str
    label: str
    unit: str
    target: Target | None = None
    has_peer: bool = False  # measured against Redis too

    @property
    def workload(self) -> str:
        return self.key.partition(".")[0]

    @property
    def lower_is_better(self) -> bool:
        return self.unit in ("ms", "s", "MB")


_RATIO_2X = Target(Comparison.RATIO_AT_LEAST, 2.0)

FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("produce.messages_per_second", "produce 1 KiB, acks=1", "msg/s", _RATIO_2X, True),
    FigureSpec("produce.megabytes_per_second", "produce 1 KiB, acks=1", "MB/s", None, True),
    FigureSpec("consume.messages_per_second", "consume from page cache", "msg/s", None, True),
    FigureSpec(
        "consume.gigabytes_per_second",
        "consume from page cache",
        "GB/s",
        Target(Comparison.AT_LEAST, 1.0),
        True,
    ),
    FigureSpec(
        "small.requests_per_second",
        "one 1 KiB message per request",
        "req/s",
        Target(Comparison.AT_LEAST, 40_000),
        True,
    ),
    FigureSpec("latency.p50_ms", "end-to-end latency p50", "ms"),
    FigureSpec("latency.p99_ms", "end-to-end latency p99", "ms", Target(Comparison.AT_MOST, 10.0)),
    FigureSpec("latency.p999_ms", "end-to-end latency p99.9", "ms"),
    FigureSpec("latency.max_ms", "end-to-end latency max", "ms"),
    FigureSpec(
        "memory.rss_megabytes",
        "broker RSS under load",
        "MB",
        Target(Comparison.AT_MOST, 250.0),
    ),
    FigureSpec("memory.idle_rss_megabytes", "broker RSS idle, no topics", "MB"),
    FigureSpec("restart.cold_start_seconds", "start, empty data dir", "s"),
    FigureSpec(
        "restart.seconds_to_metadata",
        "restart after kill -9: Metadata",
        "s",
        Target(Comparison.AT_MOST, 2.0, "brief: with a 5 GB log"),
    ),
    FigureSpec("restart.seconds_to_produce", "restart after kill -9: produce", "s"),
    FigureSpec(
        "replication.ratio",
        "produce acks=all: RF3 on 3 brokers / RF1 on 1",
        "x",
        Target(Comparison.AT_LEAST, 0.5, "of a single broker"),
    ),
    FigureSpec(
        "replication.cluster_messages_per_second", "produce acks=all, RF3, 3 brokers", "msg/s"
    ),
    FigureSpec(
        "replication.single_messages_per_second", "produce acks=all, RF1, 1 broker", "msg/s"
    ),
    FigureSpec(
        "failover.seconds_to_produce",
        "leader kill -9 → first acks=all produce",
        "s",
        Target(Comparison.AT_MOST, 3.0, "median"),
    ),
)

_SPECS = {spec.key: spec for spec in FIGURES}


def rate(count: float, seconds: float) -> float:
    """``count`` per second; a non-positive duration is a measurement bug."""
    if seconds <= 0:
        raise ValueError(f"cannot compute a rate over {seconds} seconds")
    return count / seconds


def latency_summary_ms(latencies_ns: Sequence[int] | np.ndarray) -> dict[str, float]:
    """p50, p99, p99.9 and max of latencies given in nanoseconds, in milliseconds."""
    values = np.asarray(latencies_ns, dtype=np.float64) / 1e6
    if values.size == 0:
        raise ValueError("no latencies were measured")
    p50, p99, p999 = np.percentile(values, [50.0, 99.0, 99.9])
    return {
        "p50_ms": float(p50),
        "p99_ms": float(p99),
        "p999_ms": float(p999),
        "max_ms": float(values.max()),
    }


@dataclass
class FigureResult:
    """Samples of one figure per system, and why it failed if it did."""

    spec: FigureSpec
    samples: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in SYSTEMS})
    error: str | None = None

    def median(self, system: str) -> float | None:
        values = self.samples[system]
        return statistics.median(values) if values else None

    def best(self, system: str) -> float | None:
        """The least disturbed run on a shared machine: highest rate, lowest time."""
        values = self.samples[system]
        if not values:
            return None
        return min(values) if self.spec.lower_is_better else max(values)

    @property
    def ratio(self) -> float | None:
        tidewatch, redis = self.median("tidewatch"), self.median("redis")
        if tidewatch is None or not redis:
            return None
        return tidewatch / redis

    @property
    def met(self) -> bool | None:
        if self.spec.target is None or self.error is not None:
            return None
        return self.spec.target.met(self.median("tidewatch"), self.ratio)

    def to_json(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "label": spec.label,
            "unit": spec.unit,
            "tidewatch": self.median("tidewatch"),
            "redis": self.median("redis"),
            "ratio": self.ratio,
            "best": {s: self.best(s) for s in SYSTEMS},
            "samples": {s: list(v) for s, v in self.samples.items()},
            "target": None
            if spec.target is None
            else {
                "comparison": spec.target.comparison.value,
                "value": spec.target.value,
                "text": spec.target.describe(spec.unit),
            },
            "met": self.met,
            "error": self.error,
        }


class Results:
    """Figures of the selected workloads, plus free-form details per workload."""

    def __init__(self, workloads: Iterable[str]) -> None:
        selected = set(workloads)
        self.figures: dict[str, FigureResult] = {
            spec.key: FigureResult(spec) for spec in FIGURES if spec.workload in selected
        }
        self.details: dict[str, dict[str, Any]] = {w: {} for w in WORKLOADS if w in selected}

    def add(self, key: str, system: str, value: float) -> None:
        if system not in SYSTEMS:
            raise ValueError(f"unknown system {system!r}")
        if key not in _SPECS:
            raise KeyError(f"unknown figure {key!r}")
        self.figures[key].samples[system].append(float(value))

    def fail(self, workload: str, reason: str) -> None:
        """Mark every figure of ``workload`` that has no error yet as failed."""
        for result in self.figures.values():
            if result.spec.workload == workload and result.error is None:
                result.error = reason
        self.details.setdefault(workload, {})["error"] = reason

    @property
    def failed(self) -> list[str]:
        return sorted({r.spec.workload for r in self.figures.values() if r.error})

    def to_json(self) -> dict[str, Any]:
        return {
            "figures": {key: result.to_json() for key, result in self.figures.items()},
            "details": self.details,
        }


__all__ += ["FigureResult"]
