"""ReplicaManager: the partitions this node holds a replica of, and the operations on them.

What exists comes from the metadata log: ``apply_image`` takes each new committed
``MetadataImage``, works out what changed for this node (``broker.metadata.delta``) and
moves its replicas through the role changes the replication core plans
(``broker.replication``): opening or creating logs, becoming leader (stamping the new
leader epoch) or follower, deleting the logs of removed topics. Appends go to led
partitions only; they validate the batch, write it, advance high watermarks and wake
fetches. acks=all producers wait here for the high watermark. Handlers call it and map
the storage and replication errors to Kafka error codes.

Replication's edges meet here: follower fetches served by the fetch handler go through
``on_follower_fetch`` (the leader's decision, its ISR change sent on with
``isr_sender``); the replica fetcher (``broker.network.replica_fetcher``) drives each
``FollowerReplicaState`` of ``followed_from(leader)`` and hands the actions of every
answer to ``apply_follower_actions``. Timers (``start``): ``tick`` for acks=all
timeouts and ISR shrinks, and the high watermark checkpoint every few seconds.

Two purgatories: consumer fetches wait for a high watermark to move (``purgatory``),
follower fetches for a leader's log end to move (``replica_purgatory``). Event-loop
thread only.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from broker.cluster.flusher import Flusher
from broker.cluster.partition import Partition
from broker.cluster.periodic import run_every
from broker.cluster.produce_validation import validate_produce_records
from broker.cluster.purgatory import FetchPurgatory, PartitionKey
from broker.error_codes import KafkaError
from broker.metadata.delta import MetadataDelta, delta
from broker.metadata.image import MetadataImage, TopicImage
from broker.metadata.topic_configs import min_insync_replicas
from broker.records.batch import CorruptBatchError
from broker.replication import (
    FetchDecision,
    FollowerAction,
    FollowerReplicaState,
    IsrChangeRequest,
    LeaderConfig,
    LeaderUpdate,
    LocalReplicas,
    StopReplica,
    WaiterOutcome,
    plan_role_changes,
)
from broker.replication.log_actions import apply_follower_actions, apply_role_actions
from broker.replication.replica_set import DeleteLog
from broker.storage.errors import LogStorageError, StorageError
from broker.storage.log import AppendInfo, DeletedSegment
from broker.storage.log_config import TOPIC_CONFIGS, InvalidConfigError, LogConfig
from broker.storage.manager import LogManager
from contracts.clock import Clock

__all__ = ["ReplicaManager", "ReplicationSettings", "RetentionResult"]

log = logging.getLogger(__name__)

IsrSender = Callable[[Partition, IsrChangeRequest], None]


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
    high_watermark_checkpoint_interval_ms: int = 5_000
    tick_interval_ms: int = 100  # acks=all timeouts; ISR shrinks every lag / 2


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
        self.replica_purgatory = FetchPurgatory()
        self.partitions: dict[PartitionKey, Partition] = {}
        self.states = LocalReplicas(
            node_id, fetch_backoff_ms=self.settings.replica_fetch_backoff_ms
        )
        self.image = MetadataImage.empty("")
        self.isr_sender: IsrSender | None = None
        self._acks: dict[tuple[PartitionKey, int], asyncio.Future[KafkaError]] = {}
        self._configs: dict[str, LogConfig] = {}
        self._timer_tasks: list[asyncio.Task[None]] = []
        self._strays_removed = False
        self._next_shrink_ms = 0
        self._checkpointed: dict[PartitionKey, int] = {}
        # Replica fetches refused, by error name (logged once per replica, partition
        # and error; counted every time).
        self.replica_fetch_refusals: dict[str, int] = {}
        self._refusals_logged: set[tuple[int, PartitionKey, str]] = set()
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
            self._wake_fetches(key)  # fetches waiting on it answer at once
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
                on_log_end=self.replica_purgatory.notify,
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
        self._wake_fetches(key)  # a fetch waiting on the old role answers now

    def _wake_fetches(self, key: PartitionKey) -> None:
        self.purgatory.notify(key)
        self.replica_purgatory.notify(key)

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

    def check_acks_all(self, partition: Partition) -> KafkaError:
        """Before an acks=all append: NOT_ENOUGH_REPLICAS while the ISR is too small."""
        leader = partition.leader
        if leader is None:
            return KafkaError.NOT_LEADER_OR_FOLLOWER
        return leader.can_accept_acks_all()

    async def wait_replicated(
        self, partition: Partition, last_offset: int, timeout_ms: int
    ) -> KafkaError:
        """After an acks=all append: wait until the high watermark passes
        ``last_offset``; NOT_ENOUGH_REPLICAS_AFTER_APPEND, NOT_LEADER_OR_FOLLOWER or
        REQUEST_TIMED_OUT otherwise (``broker.replication.waiters``)."""
        leader = partition.leader
        if leader is None:
            return KafkaError.NOT_LEADER_OR_FOLLOWER
        if partition.high_watermark > last_offset and not leader.under_min_isr:
            return KafkaError.NONE
        now = self.clock.time_ms()
        waiter_id, completed = leader.register_acks_all(last_offset + 1, now + timeout_ms, now)
        future: asyncio.Future[KafkaError] = asyncio.get_running_loop().create_future()
        self._acks[(partition.key, waiter_id)] = future
        self._answer(partition.key, completed)
        return await future

    @property
    def acks_waiting(self) -> int:
        """acks=all appends waiting for their high watermark (for tests and status)."""
        return len(self._acks)

    def _on_update(self, partition: Partition, update: LeaderUpdate) -> None:
        self._answer(partition.key, update.completed)

    def _answer(self, key: PartitionKey, completed: Iterable[WaiterOutcome]) -> None:
        for outcome in completed:
            future = self._acks.pop((key, outcome.waiter_id), None)
            if future is not None and not future.done():
                future.set_result(outcome.error)

    # -- fetch -------------------------------------------------------------------------

    async def wait_for_data(self, keys: list[PartitionKey], timeout_s: float) -> None:
        """Wait until any of ``keys`` gets a higher high watermark (or stops here), or
        the timeout passes (consumer fetches)."""
        await self.purgatory.wait(keys, timeout_s)

    async def wait_for_log_end(self, keys: list[PartitionKey], timeout_s: float) -> None:
        """Wait until the leader appends to any of ``keys`` (or stops leading it), or
        the timeout passes (follower fetches)."""
        await self.replica_purgatory.wait(keys, timeout_s)

    # -- leader side of replication ----------------------------------------------------

    def on_follower_fetch(
        self,
        partition: Partition,
        replica_id: int,
        fetch_offset: int,
        current_leader_epoch: int,
        last_fetched_epoch: int,
    ) -> FetchDecision | None:
        """A fetch from follower ``replica_id`` of a partition led here (None: not led
        here). The decision's HW and waiters are applied and its ISR change sent; a
        refusal is counted and logged with its reason."""
        leader = partition.leader
        if leader is None:
            return None
        decision = leader.on_follower_fetch(
            replica_id,
            fetch_offset,
            self.clock.time_ms(),
            partition.log,
            current_leader_epoch=current_leader_epoch,
            last_fetched_epoch=last_fetched_epoch,
        )
        partition.apply(decision.update)
        if decision.isr_change is not None:
            self.send_isr_change(partition, decision.isr_change)
        if decision.error is not KafkaError.NONE:
            self._count_refusal(replica_id, partition.key, decision)
        return decision

    def _count_refusal(self, replica_id: int, key: PartitionKey, decision: FetchDecision) -> None:
        """Count a refused fetch and log it (once per replica, partition and error).
        OFFSET_OUT_OF_RANGE is no refusal: the follower learns where to restart."""
        name = decision.error.name
        out_of_range = decision.error is KafkaError.OFFSET_OUT_OF_RANGE
        if not out_of_range:
            self.replica_fetch_refusals[name] = self.replica_fetch_refusals.get(name, 0) + 1
        if (replica_id, key, name) in self._refusals_logged:
            return
        self._refusals_logged.add((replica_id, key, name))
        log.log(
            logging.INFO if out_of_range else logging.WARNING,
            "%s a replica fetch from broker %d: %s: %s",
            "answered" if out_of_range else "refused",
            replica_id,
            name,
            decision.reason,
        )

    def send_isr_change(self, partition: Partition, change: IsrChangeRequest) -> None:
        if self.isr_sender is None:
            log.debug("%s-%d: no ISR sender; change %s dropped", *partition.key, change)
            return
        self.isr_sender(partition, change)

    # -- follower side of replication --------------------------------------------------

    def followed_from(self, leader_id: int) -> list[Partition]:
        """The partitions this node follows from broker ``leader_id``."""
        return [
            p
            for p in self.partitions.values()
            if p.follower is not None and p.follower.leader_id == leader_id
        ]

    def followed_leaders(self) -> set[int]:
        """The brokers this node follows some partition from (a live leader)."""
        return {
            p.follower.leader_id
            for p in self.partitions.values()
            if p.follower is not None and p.follower.leader_id >= 0
        }

    def apply_follower_actions(
        self,
        partition: Partition,
        state: FollowerReplicaState,
        actions: tuple[FollowerAction, ...],
    ) -> bool:
        """Execute a follower's actions on its log when ``state`` still owns the
        partition here (False otherwise: a role change replaced it, and nothing is
        done). A storage error is logged; the next fetch starts from the log end."""
        if partition.follower is not state or self.partitions.get(partition.key) is not partition:
            return False
        if actions:
            log_end = partition.log_end_offset
            try:
                apply_follower_actions(partition.log, actions)
            except (StorageError, CorruptBatchError) as exc:
                log.error("%s-%d: cannot apply replicated data: %s", *partition.key, exc)
            self.flusher.mark_dirty(partition)
            if partition.log_end_offset < log_end:
                log.info(
                    "%s-%d: truncated from %d to %d to match leader %d (epoch %d)",
                    *partition.key,
                    log_end,
                    partition.log_end_offset,
                    state.leader_id,
                    state.leader_epoch,
                )
        partition.set_follower_high_watermark()
        return True

    # -- timers ------------------------------------------------------------------------

    def tick(self) -> None:
        """Time-driven leader duties: acks=all timeouts, ISR shrinks (every
        replica_lag_time_max_ms / 2, as Kafka)."""
        now = self.clock.time_ms()
        shrink = now >= self._next_shrink_ms
        if shrink:
            self._next_shrink_ms = now + self.settings.replica_lag_time_max_ms // 2
        for partition in list(self.partitions.values()):
            leader = partition.leader
            if leader is None:
                continue
            self._answer(partition.key, leader.poll_waiters(now))
            change = leader.maybe_shrink_isr(now) if shrink else None
            if change is not None:
                self.send_isr_change(partition, change)

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
        loop = asyncio.get_running_loop()
        duties = (
            (retention_check_interval_ms, self.enforce_retention),
            (self.settings.tick_interval_ms, self.tick),
            (self.settings.high_watermark_checkpoint_interval_ms, self._checkpoint_if_changed),
        )
        self._timer_tasks = [loop.create_task(run_every(ms, duty)) for ms, duty in duties]

    async def _checkpoint_if_changed(self) -> None:
        """The periodic HW checkpoint, written off the event loop, skipped when no HW
        moved since the last one."""
        high_watermarks = {key: p.high_watermark for key, p in self.partitions.items()}
        if high_watermarks != self._checkpointed:
            write = self.log_manager.write_high_watermarks
            await asyncio.get_running_loop().run_in_executor(None, write, high_watermarks)
            self._checkpointed = high_watermarks

    def checkpoint_high_watermarks(self) -> None:
        """Write every partition's HW to the data directory's checkpoint (at close)."""
        self._checkpointed = {key: p.high_watermark for key, p in self.partitions.items()}
        self.log_manager.write_high_watermarks(self._checkpointed)

    async def close(self) -> None:
        for task in self._timer_tasks:
            task.cancel()
        for task in self._timer_tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._timer_tasks = []
        await self.flusher.close()
        for key in list(self._acks):
            future = self._acks.pop(key)
            if not future.done():
                future.set_result(KafkaError.NOT_LEADER_OR_FOLLOWER)
        try:
            self.checkpoint_high_watermarks()
        except LogStorageError as exc:  # a full or failed disk: say so, keep closing
            log.error(
                "cannot checkpoint high watermarks at close (%s); the next start takes them "
                "from the previous checkpoint and the replicas",
                exc,
            )
        except Exception:
            log.exception("cannot checkpoint high watermarks at close")
        self.log_manager.close()
