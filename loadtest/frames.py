"""What worker processes tell the coordinator, and what it tells them (picklable).

Workers send :class:`Ready` once connected, then one :class:`Frame` per stats interval
``k`` (covering ``[start + k * interval, start + (k + 1) * interval)``), then one
:class:`ProducerLedger` or :class:`ConsumerLedger` when they finish. Histograms travel
as sparse ``(indices, counts, min, max)`` tuples (see :mod:`loadtest.histogram`).
Commands go the other way, one pipe per worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "Command",
    "ConsumerLedger",
    "Frame",
    "ProducerLedger",
    "Ready",
    "SparseHistogram",
    "WorkerFailed",
]

SparseHistogram = tuple[list[int], list[int], int, int]
WorkerKind = Literal["producer", "consumer"]


@dataclass(frozen=True, slots=True)
class Ready:
    kind: WorkerKind
    worker: int
    group: str = ""


@dataclass(frozen=True, slots=True)
class WorkerFailed:
    kind: WorkerKind
    worker: int
    reason: str
    group: str = ""


@dataclass(slots=True)
class Frame:
    """One worker's counts for one stats interval."""

    kind: WorkerKind
    worker: int
    interval: int
    group: str = ""
    # producer (the coordinator knows the scheduled count from the schedule)
    sent: int = 0
    sent_bytes: int = 0  # value bytes handed to the client
    acked: int = 0
    failed: int = 0
    queue_full: int = 0  # times the client's local queue refused a message
    backlog: int = 0  # arrivals due but not yet sent at the end of the interval
    in_flight: int = 0  # sent, not yet acknowledged or failed
    errors: dict[str, int] = field(default_factory=dict)
    ack_latency: SparseHistogram | None = None  # scheduled -> acknowledged (µs)
    service_latency: SparseHistogram | None = None  # handed to the client -> acknowledged
    send_delay: SparseHistogram | None = None  # scheduled -> handed to the client
    # consumer
    consumed: int = 0
    foreign: int = 0  # records without our header or of another run
    e2e_latency: SparseHistogram | None = None  # scheduled -> consumed (µs)
    paused: bool = False
    # both
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0


@dataclass(slots=True)
class ProducerLedger:
    """Fate of every arrival of one producer worker, by its sequence number.

    ``state``: 0 never answered, 1 acknowledged, 2 failed; partition and offset are -1
    unless acknowledged.
    """

    worker: int
    state: npt.NDArray[np.int8]
    partition: npt.NDArray[np.int32]
    offset: npt.NDArray[np.int64]


@dataclass(slots=True)
class ConsumerLedger:
    """How often one consumer saw each (producer worker, sequence) of this run."""

    worker: int
    group: str
    counts: dict[int, npt.NDArray[np.uint16]]


@dataclass(frozen=True, slots=True)
class Command:
    """``start`` (with ``start_ns``), ``stop``, ``pause``, ``resume``, ``slow``
    (``processing_ms`` per record; 0 restores the workload's own)."""

    name: Literal["start", "stop", "pause", "resume", "slow"]
    start_ns: int = 0
    processing_ms: float = 0.0
