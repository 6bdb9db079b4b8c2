"""The offsets topic of a cluster: ``__consumer_offsets`` partitions replicated like any
topic, and the group coordinator following their leadership.

The controller creates the topic on the first group lookup (FindCoordinator, see
``broker.server.handlers.groups``); from then on its partitions are ordinary replicas
of the ``ReplicaManager``: created, led, followed and truncated as the metadata image
says, their producer-less batches replicated by the replica fetchers.

``ReplicatedOffsetsLog`` is the ``OffsetsLog`` of one partition for one leadership
(one leader epoch): appends go to the leader's log, and a record is committed once the
high watermark passes it (acks=all semantics, as Kafka's coordinator appends with
``acks=-1``). Errors: too few in-sync replicas before the append, or a wait that ends
with NOT_ENOUGH_REPLICAS_AFTER_APPEND or REQUEST_TIMED_OUT, raise
``OffsetsLogUnavailableError``; a leadership that is gone or of another epoch raises
``OffsetsLogFencedError``.

``OffsetsTopicLeadership`` listens to every applied image (after the replica manager)
and tells ``GroupService`` which offsets partitions this node leads: a new leadership
(or a new leader epoch) loads the partition with a fresh handle, a lost one resigns
it. Event-loop thread only.
"""

from __future__ import annotations

import logging
from typing import Protocol

from broker.cluster.partition import Partition
from broker.cluster.replica_manager import ReplicaManager
from broker.coordinator.offsets_log import (
    AppendedOffsets,
    OffsetsLogFencedError,
    OffsetsLogUnavailableError,
)
from broker.error_codes import KafkaError
from broker.metadata.delta import MetadataDelta
from broker.metadata.image import MetadataImage
from broker.metadata.offsets_topic import OFFSETS_TOPIC

__all__ = [
    "OFFSET_COMMIT_TIMEOUT_MS",
    "OffsetsTopicLeadership",
    "ReplicatedOffsetsLog",
]

log = logging.getLogger(__name__)

# Kafka's offsets.commit.timeout.ms: how long a commit waits for the ISR.
OFFSET_COMMIT_TIMEOUT_MS = 5_000
_READ_ALL = 1 << 62


class ReplicatedOffsetsLog:
    """An ``OffsetsLog`` over a replicated partition led here in ``leader_epoch``."""

    def __init__(
        self,
        replicas: ReplicaManager,
        partition: Partition,
        *,
        commit_timeout_ms: int = OFFSET_COMMIT_TIMEOUT_MS,
    ) -> None:
        self.replicas = replicas
        self.partition = partition
        self.leader_epoch = partition.leader_epoch
        self.commit_timeout_ms = commit_timeout_ms

    @property
    def leading(self) -> bool:
        """Whether this node still leads the partition in this handle's epoch."""
        partition = self.partition
        return (
            partition.leader is not None
            and partition.leader_epoch == self.leader_epoch
            and self.replicas.get(*partition.key) is partition
        )

    def _check_leading(self) -> None:
        if not self.leading:
            raise OffsetsLogFencedError(
                f"{OFFSETS_TOPIC}-{self.partition.index}: no longer led here "
                f"in leader epoch {self.leader_epoch}"
            )

    @property
    def log_start_offset(self) -> int:
        return self.partition.log_start_offset

    @property
    def log_end_offset(self) -> int:
        return self.partition.log_end_offset

    def read(self, offset: int, max_bytes: int) -> bytes | memoryview:
        log_ = self.partition.log
        return log_.read(offset, max_bytes, log_.log_end_offset).data

    def append(self, batch: bytes) -> AppendedOffsets:
        self._check_leading()
        if self.replicas.check_acks_all(self.partition) is KafkaError.NOT_ENOUGH_REPLICAS:
            raise OffsetsLogUnavailableError(
                f"{OFFSETS_TOPIC}-{self.partition.index}: too few in-sync replicas"
            )
        info = self.replicas.append(self.partition, batch)
        return AppendedOffsets(info.base_offset, info.last_offset)

    async def wait_committed(self, last_offset: int) -> None:
        self._check_leading()
        error = await self.replicas.wait_replicated(
            self.partition, last_offset, self.commit_timeout_ms
        )
        if error is KafkaError.NONE:
            return
        if error is KafkaError.NOT_LEADER_OR_FOLLOWER or not self.leading:
            raise OffsetsLogFencedError(
                f"{OFFSETS_TOPIC}-{self.partition.index}: leadership lost while waiting"
            )
        raise OffsetsLogUnavailableError(
            f"{OFFSETS_TOPIC}-{self.partition.index}: offset {last_offset} not "
            f"replicated ({error.name})"
        )

    def drop_history_below(self, offset: int) -> None:
        self.partition.log.advance_log_start(min(offset, self.partition.high_watermark))
        self.partition.after_retention()


class Leadership(Protocol):
    """What ``OffsetsTopicLeadership`` tells (``broker.coordinator.service.GroupService``)."""

    @property
    def partition_count(self) -> int: ...

    def on_become_leader(self, partition: int, handle: ReplicatedOffsetsLog) -> None: ...

    def on_resign(self, partition: int) -> None: ...


class OffsetsTopicLeadership:
    """Keeps ``groups`` told of the offsets partitions led here (see the module
    docstring); ``on_image`` is a ``ClusterNode`` image listener."""

    def __init__(self, replicas: ReplicaManager, groups: Leadership) -> None:
        self.replicas = replicas
        self.groups = groups
        self.handles: dict[int, ReplicatedOffsetsLog] = {}
        self._warned_count: int | None = None

    def on_image(self, image: MetadataImage, _changes: MetadataDelta | None = None) -> None:
        topic = image.topic(OFFSETS_TOPIC)
        count = self.groups.partition_count
        if topic is not None and len(topic.partitions) != count != self._warned_count:
            self._warned_count = count
            log.warning(
                "%s has %d partitions but offsets_topic.partitions is %d: groups are "
                "routed by the configured count; use the same count on every broker",
                OFFSETS_TOPIC,
                len(topic.partitions),
                count,
            )
        for index in range(count):
            partition = self.replicas.get(OFFSETS_TOPIC, index)
            current = self.handles.get(index)
            if partition is not None and partition.leader is not None:
                if current is None or not current.leading or current.partition is not partition:
                    handle = ReplicatedOffsetsLog(self.replicas, partition)
                    self.handles[index] = handle
                    log.info(
                        "leading %s-%d in epoch %d: loading its groups",
                        OFFSETS_TOPIC,
                        index,
                        handle.leader_epoch,
                    )
                    self.groups.on_become_leader(index, handle)
            elif current is not None:
                del self.handles[index]
                self.groups.on_resign(index)
