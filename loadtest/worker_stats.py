"""Per-interval statistics every load worker keeps and ships as a Frame."""

from __future__ import annotations

import time
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from loadtest.frames import Command, Frame, SparseHistogram, WorkerKind
from loadtest.histogram import Histogram

__all__ = ["CLIENT_ERROR_PREFIX", "IntervalStats", "interval_of", "wait_for_start"]

# Errors a client reports through its error callback (not tied to one record) are
# counted under this prefix, next to the records' own errors.
CLIENT_ERROR_PREFIX = "client:"


class IntervalStats:
    """Accumulates one stats interval; ``emit`` turns it into a Frame and resets."""

    def __init__(self, kind: WorkerKind, worker: int, group: str = "") -> None:
        self.kind = kind
        self.worker = worker
        self.group = group
        self.ack: list[int] = []
        self.service: list[int] = []
        self.delay: list[int] = []
        self.e2e: list[int] = []
        self.errors: Counter[str] = Counter()
        self.counts = Counter[str]()
        self.cpu = time.process_time()
        self.wall = time.monotonic()

    def emit(self, interval: int, **extra: Any) -> Frame:
        cpu, wall = time.process_time(), time.monotonic()
        frame = Frame(
            kind=self.kind,
            worker=self.worker,
            interval=interval,
            group=self.group,
            errors=dict(self.errors),
            ack_latency=_sparse(self.ack),
            service_latency=_sparse(self.service),
            send_delay=_sparse(self.delay),
            e2e_latency=_sparse(self.e2e),
            cpu_seconds=cpu - self.cpu,
            wall_seconds=wall - self.wall,
            **dict(self.counts),  # type: ignore[arg-type]
            **extra,
        )
        self.ack, self.service, self.delay, self.e2e = [], [], [], []
        self.errors = Counter()
        self.counts = Counter()
        self.cpu, self.wall = cpu, wall
        return frame


def _sparse(values_ns: list[int]) -> SparseHistogram | None:
    if not values_ns:
        return None
    h = Histogram()
    h.record(np.asarray(values_ns, dtype=np.int64) // 1000)
    return h.sparse()


def interval_of(now_ns: int, start_ns: int, interval_ns: int) -> int:
    return max(0, (now_ns - start_ns) // interval_ns)


def wait_for_start(control: Connection) -> Command:
    while True:
        command: Command = control.recv()
        if command.name in ("start", "stop"):
            return command
