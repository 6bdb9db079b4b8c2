"""ReplicaManager: the partitions this node holds a replica of, and the operations on them.

What exists comes from the metadata log: ``apply_image`` takes each new committed
``MetadataImage``, works out what changed for this node (``broker.metadata.delta``) and
moves its replicas through the role changes the replication core plans
(``broker.replication``): opening or creating logs, becoming leader (stamping the new
leader epoch) or follower, deleting the logs of removed topics. Appends go to led
partitions only; they validate the batch, write it, advance high watermarks and wake
fetches. acks=all producers wait here for the high watermark. Handlers call it and map
the storage and replication errors to Kafka error codes. Event-loop thread only.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from broker.cluster.flusher import Flusher
from broker.cluster.partition import Partition
from broker.cluster.purgatory import FetchPurgatory, PartitionKey
from broker.error_codes import KafkaError
from broker.metadata.delta import MetadataDelta, delta
from broker.metadata.image import MetadataImage, TopicImage
from broker.metadata.topic_configs import min_insync_replicas
from broker.records.batch import BatchHeader, CorruptBatchError, check_batch, check_record_framing
from broker.replication import (
    IsrChangeRequest,
    LeaderConfig,
    LeaderUpdate,
    LocalReplicas,
    ReplicationError,
    StopReplica,
    WaiterOutcome,
    plan_role_changes,
)
from broker.replication.log_actions import apply_role_actions
from broker.replication.replica_set import DeleteLog
from broker.storage.errors import InvalidRecordError
from broker.storage.log import AppendInfo, DeletedSegment
from broker.storage.log_config import TOPIC_CONFIGS, InvalidConfigError, LogConfig
from broker.storage.manager import LogManager
from contracts.clock import Clock

__all__ = ["ReplicaManager", "ReplicationSettings", "validate_produce_records"]

log = logging.getLogger(__name__)

IsrSender = Callable[[Partition, IsrChangeRequest], None]


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


@dataclass(frozen=True, slots=True)
class ReplicationSettings:
    """Broker-wide replication settings (``broker.config``)."""

    replica_lag_time_max_ms: int = 10_000
    replica_fetch_backoff_ms: int = 1_000


class ReplicaManager:
    def __init__(
        self,
        log_manager: LogManager,
        flusher: Flusher,
        clock: Clock,
        node_id: int = 0,
        settings: ReplicationSettings | None = None,
    ) -> None:
        self.log_manager = log_manager
        self.flusher = flusher
        self.clock = clock
        self.node_id = node_id
        self.settings = settings or ReplicationSettings()
        self.purgatory = FetchPurgatory()
        self.partitions: dict[PartitionKey, Partition] = {}
        self.states = LocalReplicas(
            node_id, fetch_backoff_ms=self.settings.replica_fetch_backoff_ms
        )
        self.image = MetadataImage.empty("")
        self.isr_sender: IsrSender | None = None
        self._acks: dict[tuple[PartitionKey, int], asyncio.Future[ReplicationError]] = {}
        self._configs: dict[str, LogConfig] = {}
        self._retention_task: asyncio.Task[None] | None = None
        self._strays_removed = False
        self._reported: set[PartitionKey] = set()

    # -- metadata ----------------------------------------------------------------------

    def apply_image(self, image: MetadataImage) -> MetadataDelta:
        """Move this node's replicas to what ``image`` says (see the module docstring);
        returns the delta for the other listeners (the group coordinator)."""
        old, self.image = self.image, image
        changes = delta(old, image, self.node_id)
        for name in changes.configs_changed:
            self._reconfigure(name)
        now = self.clock.time_ms()
        for transition in plan_role_changes(changes, self.states.led_epochs()):
            if isinstance(transition, StopReplica):
                self._stop(transition, now)
            else:
                self._transition(transition, now)
        if not self._strays_removed:
            self._strays_removed = True
            mine = {
                (r.topic, r.partition_index) for r in image.partitions_replicated_on(self.node_id)
            }
            self.log_manager.delete_stray_logs(mine)
        return changes

    def _config_for(self, topic: TopicImage) -> LogConfig:
        config = self._configs.get(topic.name)
        if config is None:
            overrides = {k: v for k, v in topic.configs.items() if k in TOPIC_CONFIGS}
            try:
                config = self.log_manager.defaults.with_overrides(overrides)
            except InvalidConfigError as exc:  # the controller validated it; never expected
                log.error("topic %s: %s; using the broker defaults", topic.name, exc)
                config = self.log_manager.defaults
            self._configs[topic.name] = config
        return config

    def _reconfigure(self, name: str) -> None:
        self._configs.pop(name, None)
        topic = self.image.topic(name)
        if topic is None:
            return
        config = self._config_for(topic)
        for (t, _), partition in self.partitions.items():
            if t == name:
                partition.log.config = config

    def _leader_config(self, topic: TopicImage) -> LeaderConfig:
        return LeaderConfig(
            min_insync_replicas=min_insync_replicas(topic.configs),
            replica_lag_time_max_ms=self.settings.replica_lag_time_max_ms,
            durable=self.flusher.durable,
        )

    def _stop(self, transition: StopReplica, now_ms: int) -> None:
        key = transition.key
        outcome = self.states.apply(transition, None, now_ms, LeaderConfig())
        self._answer(key, outcome.completed)
        partition = self.partitions.pop(key, None)
        if partition is not None:
            partition.stop()
            self.purgatory.notify(key)  # fetches waiting on it answer at once
        if any(isinstance(a, DeleteLog) for a in outcome.log_actions):
            self.log_manager.delete_log(*key)
            self._configs.pop(key[0], None)

    def _transition(self, transition: object, now_ms: int) -> None:
        ref = transition.ref  # type: ignore[attr-defined]
        topic = self.image.topic_by_id(ref.topic_id)
        assert topic is not None, f"{ref} is in the image"
        key = (ref.topic, ref.partition_index)
        log_ = self.log_manager.ensure_log(
            ref.topic, ref.partition_index, ref.topic_id, self._config_for(topic)
        )
        self._report_recovery(key)
        partition = self.partitions.get(key)
        if partition is None or partition.log is not log_:
            partition = Partition(
                ref.topic,
                ref.topic_id,
                ref.partition_index,
                log_,
                durable=self.flusher.durable,
                on_high_watermark=self.purgatory.notify,
                clock_ms=self.clock.time_ms,
                on_update=self._on_update,
            )
            self.partitions[key] = partition
        checkpoint = self.log_manager.high_watermark_checkpoint(*key) or 0
        outcome = self.states.apply(
            transition,  # type: ignore[arg-type]
            log_,
            now_ms,
            self._leader_config(topic),
            checkpoint,
        )
        apply_role_actions(log_, outcome.log_actions)
        leader = self.states.leader(key)
        if leader is not None:
            partition.lead(leader, outcome.update)
        else:
            follower = self.states.follower(key)
            if follower is not None:
                partition.follow(follower)
        self._answer(key, outcome.completed)

    def _report_recovery(self, key: PartitionKey) -> None:
        """Once per opened log: say what its recovery cut off, if anything."""
        recovery = self.log_manager.recoveries.get(key)
        if recovery is None or key in self._reported or not recovery.truncated_bytes:
            return
        self._reported.add(key)
        log.warning(
            "partition %s-%d: dropped %d bytes of torn or corrupt tail (%s); "
            "log now ends at offset %d",
            key[0],
            key[1],
            recovery.truncated_bytes,
            recovery.reason,
            recovery.log_end_offset,
        )

    # -- lookups -----------------------------------------------------------------------

    def get(self, topic: str, index: int) -> Partition | None:
        """The local replica of the partition (leader or follower), if any."""
        return self.partitions.get((topic, index))

    def leader_of(self, topic: str, index: int) -> tuple[Partition | None, KafkaError]:
        """The partition when this node leads it; otherwise why not: the partition
        exists but is led elsewhere (NOT_LEADER_OR_FOLLOWER) or does not exist."""
        partition = self.partitions.get((topic, index))
        if partition is not None and partition.leader is not None:
            return partition, KafkaError.NONE
        if self.image.partition(topic, index) is not None:
            return None, KafkaError.NOT_LEADER_OR_FOLLOWER
        return None, KafkaError.UNKNOWN_TOPIC_OR_PARTITION

    def exists(self, topic: str, index: int) -> bool:
        """Whether the partition exists in the cluster (led here or not)."""
        return self.image.partition(topic, index) is not None

    def topic(self, name: str) -> TopicImage | None:
        return self.image.topic(name)

    def topic_by_id(self, topic_id: uuid.UUID) -> TopicImage | None:
        return self.image.topic_by_id(topic_id)

    def topic_names(self) -> tuple[str, ...]:
        return self.image.topic_names()

    # -- produce -----------------------------------------------------------------------

    def append(self, partition: Partition, records: memoryview | bytes) -> AppendInfo:
        """Validate and append one batch to a partition led here. In interval mode the
        data is visible at once (single replica); in durable mode the caller must
        ``await wait_durable`` before acknowledging."""
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

    def check_acks_all(self, partition: Partition) -> ReplicationError:
        """Before an acks=all append: NOT_ENOUGH_REPLICAS while the ISR is too small."""
        leader = partition.leader
        if leader is None:
            return ReplicationError.NOT_LEADER_OR_FOLLOWER
        return leader.can_accept_acks_all()

    async def wait_replicated(
        self, partition: Partition, last_offset: int, timeout_ms: int
    ) -> ReplicationError:
        """After an acks=all append: wait until the high watermark passes
        ``last_offset``; NOT_ENOUGH_REPLICAS_AFTER_APPEND, NOT_LEADER_OR_FOLLOWER or
        REQUEST_TIMED_OUT otherwise (``broker.replication.waiters``)."""
        leader = partition.leader
        if leader is None:
            return ReplicationError.NOT_LEADER_OR_FOLLOWER
        if partition.high_watermark > last_offset and not leader.under_min_isr:
            return ReplicationError.NONE
        now = self.clock.time_ms()
        waiter_id, completed = leader.register_acks_all(last_offset + 1, now + timeout_ms, now)
        future: asyncio.Future[ReplicationError] = asyncio.get_running_loop().create_future()
        self._acks[(partition.key, waiter_id)] = future
        self._answer(partition.key, completed)
        return await future

    def _on_update(self, partition: Partition, update: LeaderUpdate) -> None:
        self._answer(partition.key, update.completed)

    def _answer(self, key: PartitionKey, completed: Iterable[WaiterOutcome]) -> None:
        for outcome in completed:
            future = self._acks.pop((key, outcome.waiter_id), None)
            if future is not None and not future.done():
                future.set_result(outcome.error)

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

    # -- timers ------------------------------------------------------------------------

    def tick(self) -> None:
        """Time-driven leader duties: acks=all timeouts, ISR shrinks."""
        now = self.clock.time_ms()
        for partition in list(self.partitions.values()):
            leader = partition.leader
            if leader is None:
                continue
            self._answer(partition.key, leader.poll_waiters(now))
            change = leader.maybe_shrink_isr(now)
            if change is not None and self.isr_sender is not None:
                self.isr_sender(partition, change)

    # -- retention ---------------------------------------------------------------------

    def enforce_retention(self) -> list[RetentionResult]:
        limits = {key: p.high_watermark for key, p in self.partitions.items()}
        results = []
        for topic, index, segment in self.log_manager.enforce_retention(
            self.clock.time_ms(), limits
        ):
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

    def checkpoint_high_watermarks(self) -> None:
        """Write every partition's HW to the data directory's checkpoint."""
        self.log_manager.write_high_watermarks(
            {key: p.high_watermark for key, p in self.partitions.items()}
        )

    async def close(self) -> None:
        if self._retention_task is not None:
            self._retention_task.cancel()
            try:
                await self._retention_task
            except asyncio.CancelledError:
                pass
        await self.flusher.close()
        for key in list(self._acks):
            future = self._acks.pop(key)
            if not future.done():
                future.set_result(ReplicationError.NOT_LEADER_OR_FOLLOWER)
        try:
            self.checkpoint_high_watermarks()
        except Exception:
            log.exception("cannot checkpoint high watermarks at close")
        self.log_manager.close()


__all__ += ["CorruptBatchError", "RetentionResult", "UnsupportedMagicError"]
