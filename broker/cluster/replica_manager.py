"""ReplicaManager: the partitions this node leads, and the operations on them.

It joins storage (LogManager and logs) to the flush policy and the fetch purgatory:
appends validate the batch, write it, advance high watermarks and wake fetches; admin
operations keep the partition table in step with the LogManager. Handlers call it and
map the storage layer's exceptions to Kafka error codes. Event-loop thread only.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from broker.cluster.flusher import Flusher
from broker.cluster.partition import Partition
from broker.cluster.purgatory import FetchPurgatory, PartitionKey
from broker.records.batch import BatchHeader, CorruptBatchError, check_batch, check_record_framing
from broker.storage.errors import InvalidRecordError, UnknownTopicError
from broker.storage.log import AppendInfo, DeletedSegment
from broker.storage.manager import LogManager, TopicInfo
from contracts.clock import Clock

__all__ = ["ReplicaManager", "validate_produce_records"]

log = logging.getLogger(__name__)


class UnsupportedMagicError(InvalidRecordError):
    """Records in a pre-v2 message format."""


def validate_produce_records(records: memoryview | bytes) -> BatchHeader:
    """Check that ``records`` is exactly one well-formed v2 batch and return its header.

    Raises CorruptBatchError (bad CRC, truncated) or InvalidRecordError (wrong magic,
    several batches, empty or inconsistent record count).
    """
    if len(records) > 16 and records[16] != 2:
        raise UnsupportedMagicError(
            f"record format magic {records[16]} is not supported: only record batch v2 "
            f"(Kafka 0.11+ clients) is accepted"
        )
    header = check_batch(records)
    if header.size != len(records):
        raise InvalidRecordError(
            "a produce request must carry exactly one record batch per partition, "
            f"found {len(records) - header.size} bytes after the first batch"
        )
    if header.records_count <= 0 or header.records_count != header.last_offset_delta + 1:
        raise InvalidRecordError(
            f"record count {header.records_count} does not match the last offset delta "
            f"{header.last_offset_delta}"
        )
    if header.attributes & 0x07 == 0:
        check_record_framing(records, header)
    return header


@dataclass(frozen=True, slots=True)
class RetentionResult:
    topic: str
    partition: int
    segment: DeletedSegment


class ReplicaManager:
    def __init__(
        self,
        log_manager: LogManager,
        flusher: Flusher,
        clock: Clock,
        node_id: int = 0,
        default_partitions: int = 1,
    ) -> None:
        self.log_manager = log_manager
        self.flusher = flusher
        self.clock = clock
        self.node_id = node_id
        self.default_partitions = default_partitions
        self.purgatory = FetchPurgatory()
        self.partitions: dict[PartitionKey, Partition] = {}
        self._retention_task: asyncio.Task[None] | None = None

    def open(self) -> None:
        for info in self.log_manager.topics.values():
            self._add_partitions(info, 0)

    def _add_partitions(self, info: TopicInfo, start: int) -> None:
        for index in range(start, info.partitions):
            opened = self.log_manager.get_log(info.name, index)
            assert opened is not None
            self.partitions[(info.name, index)] = Partition(
                info.name,
                info.topic_id,
                index,
                opened,
                durable=self.flusher.durable,
                on_high_watermark=self.purgatory.notify,
            )

    # -- lookups -----------------------------------------------------------------------

    def get(self, topic: str, index: int) -> Partition | None:
        return self.partitions.get((topic, index))

    def topic(self, name: str) -> TopicInfo | None:
        return self.log_manager.topics.get(name)

    def topic_by_id(self, topic_id: uuid.UUID) -> TopicInfo | None:
        return self.log_manager.topic_by_id(topic_id)

    @property
    def topics(self) -> Mapping[str, TopicInfo]:
        return self.log_manager.topics

    # -- produce -----------------------------------------------------------------------

    def append(self, partition: Partition, records: memoryview | bytes) -> AppendInfo:
        """Validate and append one batch. In interval mode the data is visible at once;
        in durable mode the caller must ``await wait_durable`` before acknowledging."""
        header = validate_produce_records(records)
        info = partition.append(records, header)
        self.flusher.mark_dirty(partition)
        return info

    async def wait_durable(self, partitions: Iterable[Partition]) -> dict[Partition, Exception]:
        """fsync the given partitions (one group-commit round); errors per partition."""
        waits = list(partitions)
        results = await asyncio.gather(
            *(self.flusher.wait_durable(p) for p in waits), return_exceptions=True
        )
        return {p: r for p, r in zip(waits, results, strict=True) if isinstance(r, Exception)}

    # -- fetch -------------------------------------------------------------------------

    async def wait_for_data(self, keys: list[PartitionKey], timeout_s: float) -> None:
        """Wait until any of ``keys`` gets new data or the timeout passes."""
        if timeout_s <= 0:
            return
        future = self.purgatory.watch(keys)
        try:
            await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            pass
        finally:
            self.purgatory.unwatch(keys, future)

    # -- admin -------------------------------------------------------------------------

    def create_topic(
        self, name: str, partitions: int, configs: Mapping[str, str | None] | None = None
    ) -> TopicInfo:
        info = self.log_manager.create_topic(name, partitions, configs)
        self._add_partitions(info, 0)
        return info

    def delete_topic(self, name: str) -> TopicInfo:
        info = self.log_manager.delete_topic(name)
        for index in range(info.partitions):
            partition = self.partitions.pop((name, index), None)
            if partition is not None:
                # Wake fetches waiting on it so they answer UNKNOWN_TOPIC promptly.
                self.purgatory.notify(partition.key)
        return info

    def add_partitions(self, name: str, total: int) -> TopicInfo:
        before = self.log_manager.topics.get(name)
        if before is None:
            raise UnknownTopicError(f"topic {name!r} does not exist")
        info = self.log_manager.add_partitions(name, total)
        self._add_partitions(info, before.partitions)
        return info

    def auto_create(self, name: str) -> TopicInfo:
        return self.create_topic(name, self.default_partitions)

    # -- retention ---------------------------------------------------------------------

    def enforce_retention(self) -> list[RetentionResult]:
        results = []
        for topic, index, segment in self.log_manager.enforce_retention(self.clock.time_ms()):
            partition = self.partitions.get((topic, index))
            if partition is not None:
                partition.retention_deleted_bytes += segment.size_bytes
                partition.after_retention()
            results.append(RetentionResult(topic, index, segment))
        return results

    def start(self, retention_check_interval_ms: int) -> None:
        self.flusher.start()
        self._retention_task = asyncio.get_running_loop().create_task(
            self._retention_loop(retention_check_interval_ms)
        )

    async def _retention_loop(self, interval_ms: int) -> None:
        while True:
            await asyncio.sleep(interval_ms / 1000)
            try:
                self.enforce_retention()
            except Exception:
                log.exception("retention check failed; will retry")

    async def close(self) -> None:
        if self._retention_task is not None:
            self._retention_task.cancel()
            try:
                await self._retention_task
            except asyncio.CancelledError:
                pass
        await self.flusher.close()
        self.log_manager.close()


__all__ += ["CorruptBatchError", "RetentionResult", "UnsupportedMagicError"]
