"""An in-process ReplicaManager over a temporary data directory, for unit tests that
need real partitions without a server (no sockets, time by hand)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from broker.cluster.flusher import Flusher, FlushPolicy
from broker.cluster.partition import Partition
from broker.cluster.replica_manager import ReplicaManager
from broker.records.record import Record, build_batch
from broker.storage.log_config import LogConfig
from broker.storage.manager import LogManager
from contracts.clock import ManualClock


@contextmanager
def open_replicas(
    data_dir: Path, clock: ManualClock, defaults: LogConfig | None = None
) -> Iterator[ReplicaManager]:
    """A ReplicaManager whose appends are visible at once (interval flush policy, never
    started), closed on exit."""
    manager = LogManager(data_dir, defaults or LogConfig(), clock.time_ms)
    manager.open()
    replicas = ReplicaManager(manager, Flusher(FlushPolicy.INTERVAL, 60_000), clock)
    replicas.open()
    try:
        yield replicas
    finally:
        manager.close()


def produce(replicas: ReplicaManager, partition: Partition, *timestamps_ms: int) -> tuple[int, int]:
    """Append one batch with a record per timestamp; returns its (first, last) offsets."""
    raw = build_batch([Record(b"v", key=b"k", timestamp_ms=ts) for ts in timestamps_ms])
    info = replicas.append(partition, raw)
    return info.base_offset, info.last_offset
