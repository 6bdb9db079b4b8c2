"""An in-process ReplicaManager over a temporary data directory, for unit tests that
need real partitions without a server (no sockets, no Raft, time by hand): topics are
created by a real controller and applied as committed images (``LocalMetadata``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from broker.cluster.flusher import Flusher, FlushPolicy
from broker.cluster.partition import Partition
from broker.cluster.replica_manager import ReplicaManager
from broker.metadata.image import TopicImage
from broker.records.record import Record, build_batch
from broker.storage.log_config import LogConfig
from broker.storage.manager import LogManager
from contracts.clock import ManualClock
from tests.support.local_metadata import LocalMetadata


class ManagedReplicas(ReplicaManager):
    """A ReplicaManager whose topics the test creates and deletes by hand."""

    metadata: LocalMetadata

    def create_topic(
        self, name: str, partitions: int = 1, configs: Mapping[str, str | None] | None = None
    ) -> TopicImage:
        return self.metadata.create_topic(name, partitions, configs)

    def delete_topic(self, name: str) -> None:
        self.metadata.delete_topic(name)

    def add_partitions(self, name: str, total: int) -> None:
        self.metadata.add_partitions(name, total)


@contextmanager
def open_replicas(
    data_dir: Path, clock: ManualClock, defaults: LogConfig | None = None
) -> Iterator[ManagedReplicas]:
    """A ReplicaManager whose appends are visible at once (interval flush policy, never
    started), closed on exit."""
    manager = LogManager(data_dir, defaults or LogConfig(), clock.time_ms)
    manager.open()
    replicas = ManagedReplicas(manager, Flusher(FlushPolicy.INTERVAL, 60_000), clock)
    replicas.metadata = LocalMetadata(replicas)
    try:
        yield replicas
    finally:
        manager.close()


def produce(replicas: ReplicaManager, partition: Partition, *timestamps_ms: int) -> tuple[int, int]:
    """Append one batch with a record per timestamp; returns its (first, last) offsets."""
    raw = build_batch([Record(b"v", key=b"k", timestamp_ms=ts) for ts in timestamps_ms])
    info = replicas.append(partition, raw)
    return info.base_offset, info.last_offset
