"""GroupService: the coordinator state machine joined to time, the offsets topic and asyncio.

Routing, as Kafka: group ``g`` belongs to offsets-topic partition ``coordinator_for(g)``
(Kafka's hash of the group id modulo ``partition_count``), and this node coordinates
``g`` while it leads that partition. The partition's owner says so:

- ``on_become_leader(p, log)``: partition ``p`` is *loading* (requests for its groups
  answer COORDINATOR_LOAD_IN_PROGRESS) while its log is replayed into the coordinator
  and the replayed records are committed; then it is *loaded* and its groups served;
- ``on_resign(p)``: its groups are unloaded (members waiting for a JoinGroup or
  SyncGroup answer get NOT_COORDINATOR) and commits still waiting for their records
  answer NOT_COORDINATOR.

Both are idempotent; ``on_become_leader`` with another log than the current one
resigns and loads again from it (a new leader epoch). A request for a group whose
partition is neither loading nor loaded here answers NOT_COORDINATOR, and the client
looks the coordinator up again (FindCoordinator, through ``coordinator_for``).

Writes (commits, deletions) are validated, appended to the partition, waited for
(``OffsetsLog.wait_committed``) and only then applied to the coordinator and answered.
They are applied in log order whatever order their waits end in, and a write runs to
its end even when the client goes away meanwhile, so the coordinator's state is always
the replay of a prefix of the log. Errors: LogStorageError answers KAFKA_STORAGE_ERROR,
a fenced log or a resignation NOT_COORDINATOR, an unavailable log
COORDINATOR_NOT_AVAILABLE, a too large commit INVALID_COMMIT_OFFSET_SIZE.

Event-loop thread only: ``on_become_leader`` needs the running loop (loading runs as a
task that yields between chunks of the log).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, TypeVar

from broker.coordinator.coordinator import GroupCoordinator, JoinRequest, OffsetCommitPlan
from broker.coordinator.group import CommittedOffset, ConsumerGroup, JoinResult, SyncResult
from broker.coordinator.offsets_log import (
    OffsetsLog,
    OffsetsLogFencedError,
    OffsetsLogUnavailableError,
)
from broker.coordinator.offsets_partition import (
    DEFAULT_COMPACT_AFTER_RECORDS,
    OffsetsPartition,
    partition_of,
)
from broker.error_codes import KafkaError
from broker.storage.errors import LogStorageError, RecordTooLargeError
from contracts.clock import Clock

__all__ = ["GroupService", "PartitionPhase", "TopicPartitions"]

log = logging.getLogger(__name__)

TICK_INTERVAL_S = 0.1
LOAD_RETRY_S = 0.5  # a loading partition whose records cannot be committed yet
T = TypeVar("T")

_WRITE_ERRORS: dict[type[Exception], KafkaError] = {
    LogStorageError: KafkaError.KAFKA_STORAGE_ERROR,
    OffsetsLogFencedError: KafkaError.NOT_COORDINATOR,
    OffsetsLogUnavailableError: KafkaError.COORDINATOR_NOT_AVAILABLE,
    RecordTooLargeError: KafkaError.INVALID_COMMIT_OFFSET_SIZE,
}
_APPEND_FAILURES = tuple(_WRITE_ERRORS)
_LEADERSHIP_ERRORS = (OffsetsLogFencedError, OffsetsLogUnavailableError)


class TopicPartitions(Protocol):
    """Which topic partitions exist in the cluster (the ReplicaManager, from the metadata
    image): commits for others are refused with UNKNOWN_TOPIC_OR_PARTITION."""

    def exists(self, topic: str, index: int) -> bool: ...


class PartitionPhase(StrEnum):
    LOADING = "loading"
    LOADED = "loaded"


@dataclass(eq=False)
class _LedPartition:
    """An offsets partition led here, and the tasks working on it."""

    offsets: OffsetsPartition
    handle: OffsetsLog
    resigned: asyncio.Future[None]
    phase: PartitionPhase = PartitionPhase.LOADING
    loader: asyncio.Task[int] | None = None
    compactor: asyncio.Task[None] | None = None
    # The latest write's settling task: each write applies after the one before it.
    tail: asyncio.Task[KafkaError] | None = None
    writes: set[asyncio.Task[KafkaError]] = field(default_factory=set)


class GroupService:
    def __init__(
        self,
        coordinator: GroupCoordinator,
        replicas: TopicPartitions,
        clock: Clock,
        *,
        partition_count: int,
        compact_after_records: int = DEFAULT_COMPACT_AFTER_RECORDS,
    ) -> None:
        if partition_count < 1:
            raise ValueError(f"the offsets topic needs a partition, not {partition_count}")
        self.coordinator = coordinator
        self.replicas = replicas
        self.clock = clock
        self.partition_count = partition_count
        self.compact_after_records = compact_after_records
        self._led: dict[int, _LedPartition] = {}
        self._ticker: asyncio.Task[None] | None = None

    # -- routing and leadership ----------------------------------------------------------

    def coordinator_for(self, group_id: str) -> int:
        """The offsets partition of ``group_id``: its leader coordinates the group."""
        return partition_of(group_id, self.partition_count)

    def leads(self, partition: int) -> bool:
        """Whether this node leads ``partition`` (loaded or still loading)."""
        return partition in self._led

    def phase(self, partition: int) -> PartitionPhase | None:
        led = self._led.get(partition)
        return led.phase if led is not None else None

    def offsets_partition(self, partition: int) -> OffsetsPartition | None:
        led = self._led.get(partition)
        return led.offsets if led is not None else None

    def on_become_leader(self, partition: int, handle: OffsetsLog) -> None:
        """This node leads ``partition`` through ``handle`` from now on: load it."""
        if not 0 <= partition < self.partition_count:
            raise ValueError(f"no offsets partition {partition} among {self.partition_count}")
        current = self._led.get(partition)
        if current is not None:
            if current.handle is handle:
                return
            self.on_resign(partition)
        loop = asyncio.get_running_loop()
        offsets = OffsetsPartition(
            partition,
            handle,
            self.partition_count,
            self.clock.time_ms,
            compact_after_records=self.compact_after_records,
        )
        led = self._led[partition] = _LedPartition(offsets, handle, loop.create_future())
        led.loader = loop.create_task(self._load(led))

    def on_resign(self, partition: int) -> None:
        """This node no longer leads ``partition``: unload its groups."""
        led = self._led.pop(partition, None)
        if led is None:
            return
        led.resigned.set_result(None)
        for task in (led.loader, led.compactor):
            if task is not None and not task.done():
                task.cancel()
        groups = [g for g in self.coordinator.groups if self.coordinator_for(g) == partition]
        for group_id in groups:
            self.coordinator.unload(group_id)
        log.info("resigned offsets partition %d: %d groups unloaded", partition, len(groups))

    async def wait_loaded(self) -> int:
        """Wait for every partition being loaded; returns records they replayed."""
        loaders = [led.loader for led in self._led.values() if led.loader is not None]
        if loaders:
            await asyncio.wait(loaders)
        return sum(t.result() for t in loaders if not t.cancelled() and t.exception() is None)

    async def _load(self, led: _LedPartition) -> int:
        offsets = led.offsets
        try:
            while not offsets.replay_done:
                offsets.replay_step(self.coordinator)
                await asyncio.sleep(0)  # serve the other partitions' groups meanwhile
            end = offsets.log.log_end_offset
            if end > offsets.log.log_start_offset:
                error = await self._committed(led, end - 1)
                while error is KafkaError.COORDINATOR_NOT_AVAILABLE and not led.resigned.done():
                    # Too few in-sync replicas, or they are slow: try again, still loading.
                    log.warning(
                        "offsets partition %d: its records are not committed yet; retrying",
                        offsets.index,
                    )
                    await asyncio.wait([led.resigned], timeout=LOAD_RETRY_S)
                    error = await self._committed(led, end - 1)
                if error is not KafkaError.NONE:
                    level = logging.INFO if error is KafkaError.NOT_COORDINATOR else logging.ERROR
                    log.log(
                        level,
                        "offsets partition %d stays loading: its records are not committed (%s)",
                        offsets.index,
                        error.name,
                    )
                    return offsets.replayed_records
        except Exception:
            log.exception("loading offsets partition %d failed", offsets.index)
            return offsets.replayed_records
        led.phase = PartitionPhase.LOADED
        log.debug(
            "loaded offsets partition %d: %d records replayed, %d skipped",
            offsets.index,
            offsets.replayed_records,
            offsets.skipped_records,
        )
        return offsets.replayed_records

    def _status(self, group_id: str) -> KafkaError:
        led = self._led.get(self.coordinator_for(group_id))
        if led is None:
            return KafkaError.NOT_COORDINATOR
        if led.phase is PartitionPhase.LOADING:
            return KafkaError.COORDINATOR_LOAD_IN_PROGRESS
        return KafkaError.NONE

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self._ticker = asyncio.get_running_loop().create_task(self._tick_loop())

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(TICK_INTERVAL_S)
            try:
                self.coordinator.tick(self.clock.time_ms())
            except Exception:
                log.exception("group coordinator tick failed")

    async def close(self) -> None:
        """Stop the timer and resign every partition (the logs stay their owner's)."""
        tasks: list[asyncio.Task[object]] = []
        if self._ticker is not None:
            self._ticker.cancel()
            tasks.append(self._ticker)
        for partition, led in list(self._led.items()):
            tasks.extend(t for t in (led.loader, led.compactor) if t is not None)
            tasks.extend(led.writes)
            self.on_resign(partition)
        if tasks:
            await asyncio.wait(tasks)

    # -- membership ----------------------------------------------------------------------

    async def join(self, request: JoinRequest) -> JoinResult:
        error = self._status(request.group_id)
        if error is not KafkaError.NONE:
            return JoinResult(error, member_id=request.member_id)
        future: asyncio.Future[JoinResult] = asyncio.get_running_loop().create_future()
        self.coordinator.join(request, self.clock.time_ms(), _resolver(future))
        return await future

    async def sync(
        self, group_id: str, generation: int, member_id: str, assignments: dict[str, bytes]
    ) -> SyncResult:
        error = self._status(group_id)
        if error is not KafkaError.NONE:
            return SyncResult(error)
        future: asyncio.Future[SyncResult] = asyncio.get_running_loop().create_future()
        self.coordinator.sync(
            group_id, generation, member_id, assignments, self.clock.time_ms(), _resolver(future)
        )
        return await future

    def heartbeat(self, group_id: str, generation: int, member_id: str) -> KafkaError:
        error = self._status(group_id)
        if error is not KafkaError.NONE:
            return error
        return self.coordinator.heartbeat(group_id, generation, member_id, self.clock.time_ms())

    def leave(
        self, group_id: str, members: Iterable[tuple[str, str | None]]
    ) -> tuple[KafkaError, list[KafkaError]]:
        """(error for the whole request, error per member - empty when the first is set)."""
        error = self._status(group_id)
        if error is not KafkaError.NONE:
            return error, []
        return KafkaError.NONE, self.coordinator.leave(group_id, members, self.clock.time_ms())

    # -- reads ---------------------------------------------------------------------------

    def committed(self, group_id: str) -> tuple[KafkaError, dict[tuple[str, int], CommittedOffset]]:
        error = self._status(group_id)
        if error is not KafkaError.NONE:
            return error, {}
        return KafkaError.NONE, self.coordinator.committed(group_id)

    def describe(self, group_id: str) -> tuple[KafkaError, ConsumerGroup | None]:
        """The group (None when it does not exist), or why it cannot be described here."""
        error = self._status(group_id)
        if error is not KafkaError.NONE:
            return error, None
        return KafkaError.NONE, self.coordinator.groups.get(group_id)

    def list_groups(self) -> tuple[KafkaError, list[ConsumerGroup]]:
        """Groups of the loaded partitions; COORDINATOR_LOAD_IN_PROGRESS with them while
        another partition is still loading (as Kafka)."""
        loaded = {p for p, led in self._led.items() if led.phase is PartitionPhase.LOADED}
        groups = [
            g for g in self.coordinator.listed() if self.coordinator_for(g.group_id) in loaded
        ]
        loading = len(loaded) < len(self._led)
        return (KafkaError.COORDINATOR_LOAD_IN_PROGRESS if loading else KafkaError.NONE), groups

    # -- writes --------------------------------------------------------------------------

    async def commit(
        self,
        group_id: str,
        generation: int,
        member_id: str,
        offsets: Iterable[tuple[str, int, CommittedOffset]],
    ) -> dict[tuple[str, int], KafkaError]:
        """Validate, persist, wait for and apply a commit; errors per partition."""
        wanted = list(offsets)
        error = self._status(group_id)
        if error is KafkaError.NONE:
            error = self.coordinator.validate_commit(
                group_id, generation, member_id, self.clock.time_ms()
            )
        results: dict[tuple[str, int], KafkaError] = {}
        accepted = []
        for topic, partition, committed in wanted:
            if error is not KafkaError.NONE:
                results[(topic, partition)] = error
            elif not self.replicas.exists(topic, partition):
                results[(topic, partition)] = KafkaError.UNKNOWN_TOPIC_OR_PARTITION
            else:
                accepted.append((topic, partition, committed))
                results[(topic, partition)] = KafkaError.NONE
        if not accepted:
            return results
        plan = OffsetCommitPlan(group_id, tuple(accepted))
        led = self._led[self.coordinator_for(group_id)]
        error = await self._write(
            led, lambda: led.offsets.append_commit(plan), lambda: self._apply_commit(led, plan)
        )
        if error is not KafkaError.NONE:
            log.warning("commit of group %s not stored: %s", group_id, error.name)
            for topic, partition, _ in accepted:
                results[(topic, partition)] = error
        return results

    def _apply_commit(self, led: _LedPartition, plan: OffsetCommitPlan) -> None:
        self.coordinator.apply_offsets(plan)
        if (led.compactor is None or led.compactor.done()) and led.offsets.compaction_due:
            led.compactor = asyncio.get_running_loop().create_task(self._compact(led))

    async def delete(self, group_id: str) -> KafkaError:
        error = self._status(group_id)
        if error is KafkaError.NONE:
            error = self.coordinator.can_delete(group_id)
        if error is not KafkaError.NONE:
            return error
        led = self._led[self.coordinator_for(group_id)]
        return await self._write(
            led,
            lambda: led.offsets.append_delete(group_id),
            lambda: self.coordinator.apply_delete(group_id),
        )

    async def _write(
        self, led: _LedPartition, append: Callable[[], int], apply: Callable[[], None]
    ) -> KafkaError:
        try:
            last_offset = append()
        except _APPEND_FAILURES as exc:
            level = logging.WARNING if isinstance(exc, _LEADERSHIP_ERRORS) else logging.ERROR
            log.log(level, "offsets partition %d: append failed: %s", led.offsets.index, exc)
            return _write_error(exc)
        settle = asyncio.get_running_loop().create_task(
            self._settle(led, last_offset, led.tail, apply)
        )
        led.tail = settle
        led.writes.add(settle)
        settle.add_done_callback(led.writes.discard)
        # Shielded: a client that goes away does not stop its write from being applied.
        return await asyncio.shield(settle)

    async def _settle(
        self,
        led: _LedPartition,
        last_offset: int,
        previous: asyncio.Task[KafkaError] | None,
        apply: Callable[[], None],
    ) -> KafkaError:
        error = await self._committed(led, last_offset)
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        if error is KafkaError.NONE and led.resigned.done():
            error = KafkaError.NOT_COORDINATOR
        if error is KafkaError.NONE:
            apply()
        return error

    async def _committed(self, led: _LedPartition, last_offset: int) -> KafkaError:
        """Wait until ``last_offset`` is committed or this node resigns the partition."""
        waiting = asyncio.ensure_future(led.offsets.wait_committed(last_offset))
        # Whoever stops waiting first (a resignation cancels the caller), the wait's
        # own failure is taken here, never left to the loop's "never retrieved".
        waiting.add_done_callback(_consume_outcome)
        try:
            await asyncio.wait([waiting, led.resigned], return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not waiting.done():
                waiting.cancel()
        if not waiting.done() or waiting.cancelled():
            return KafkaError.NOT_COORDINATOR
        exc = waiting.exception()
        if exc is None:
            return KafkaError.NONE
        if isinstance(exc, _APPEND_FAILURES):
            # Losing leadership or the ISR is part of a cluster's life; the disk is not.
            level = logging.WARNING if isinstance(exc, _LEADERSHIP_ERRORS) else logging.ERROR
            log.log(level, "offsets partition %d: %s", led.offsets.index, exc)
            return _write_error(exc)
        log.error("offsets partition %d: waiting failed", led.offsets.index, exc_info=exc)
        return KafkaError.UNKNOWN_SERVER_ERROR

    async def _compact(self, led: _LedPartition) -> None:
        try:
            await led.offsets.compact()
        except _APPEND_FAILURES as exc:
            log.warning("offsets partition %d: compaction put off: %s", led.offsets.index, exc)


def _write_error(exc: Exception) -> KafkaError:
    for cls in type(exc).__mro__:
        if cls in _WRITE_ERRORS:
            return _WRITE_ERRORS[cls]
    return KafkaError.UNKNOWN_SERVER_ERROR


def _consume_outcome(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()


def _resolver(future: asyncio.Future[T]) -> Callable[[T], None]:
    def resolve(result: T) -> None:
        if not future.done():
            future.set_result(result)

    return resolve
