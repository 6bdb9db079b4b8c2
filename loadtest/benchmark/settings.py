"""What a benchmark run does (``BenchSettings``) and how it reports progress."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from loadtest.benchmark.figures import DEFAULT_WORKLOADS

__all__ = [
    "PEER_WORKLOADS",
    "Advance",
    "BenchSettings",
    "ProgressSink",
    "SilentProgress",
    "payload",
]

Advance = Callable[[float], None]
PEER_WORKLOADS = ("produce", "consume", "small")


@dataclass(frozen=True, slots=True)
class BenchSettings:
    workloads: tuple[str, ...] = DEFAULT_WORKLOADS
    messages: int = 500_000
    message_bytes: int = 1024
    partitions: int = 1
    repeats: int = 5
    producer: str = "confluent"  # or "kcat"
    consumer: str = "kcat"  # or "confluent" (client-bound: 2-4x slower than kcat here)
    redis: bool = True
    redis_client: str = "raw"  # or "redis-py"
    redis_pipeline: int = 1000
    redis_page: int = 10_000
    small_seconds: float = 5.0
    small_connections: int = 8
    latency_rate: float = 5000.0
    latency_seconds: float = 10.0
    memory_partitions: int = 1000
    memory_connections: int = 100
    memory_seconds: float = 10.0
    memory_requests_per_second: float = 2000.0
    restart_log_bytes: int = 1_000_000_000
    replication_messages: int = 100_000  # per round and system of the replication run
    failover_kills: int = 10
    workload_timeout_s: float = 300.0
    flush_policy: str = "interval"

    @property
    def needs_redis(self) -> bool:
        return self.redis and any(w in PEER_WORKLOADS for w in self.workloads)

    @property
    def needs_kcat(self) -> bool:
        workloads = self.workloads
        return (self.producer == "kcat" and "produce" in workloads) or (
            self.consumer == "kcat" and "consume" in workloads
        )


class ProgressSink(Protocol):
    def step(self, description: str) -> AbstractContextManager[Advance]:
        """A long step; the yielded callback takes the fraction done (0-1)."""
        ...


class SilentProgress:
    @contextlib.contextmanager
    def step(self, description: str) -> Iterator[Advance]:
        yield lambda _fraction: None


def payload(size: int, seed: int = 7) -> bytes:
    """Printable, incompressible-looking bytes without a newline (kcat splits on it)."""
    alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    rng = random.Random(seed)
    return bytes(rng.choice(alphabet) for _ in range(size))
