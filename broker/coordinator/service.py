"""GroupService: the coordinator state machine joined to time, storage and asyncio.

Handlers call it; it turns the coordinator's callbacks into awaitables, persists
commits through the OffsetStore (waiting for the fsync under the durable flush
policy), and runs the timer that expires sessions and completes rebalances.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import TypeVar

from broker.cluster.flusher import Flusher
from broker.cluster.replica_manager import ReplicaManager
from broker.coordinator.coordinator import GroupCoordinator, JoinRequest, OffsetCommitPlan
from broker.coordinator.group import CommittedOffset, JoinResult, SyncResult
from broker.coordinator.offset_store import OffsetStore
from broker.error_codes import KafkaError
from broker.storage.errors import LogStorageError
from contracts.clock import Clock

__all__ = ["GroupService"]

log = logging.getLogger(__name__)

TICK_INTERVAL_S = 0.1
T = TypeVar("T")


class GroupService:
    def __init__(
        self,
        coordinator: GroupCoordinator,
        store: OffsetStore,
        flusher: Flusher,
        replicas: ReplicaManager,
        clock: Clock,
    ) -> None:
        self.coordinator = coordinator
        self.store = store
        self.flusher = flusher
        self.replicas = replicas
        self.clock = clock
        self._ticker: asyncio.Task[None] | None = None

    def open(self) -> int:
        return self.store.open(self.coordinator)

    def start(self) -> None:
        self._ticker = asyncio.get_running_loop().create_task(self._tick_loop())

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(TICK_INTERVAL_S)
            try:
                self.coordinator.tick(self.clock.time_ms())
            except Exception:
                log.exception("group coordinator tick failed")

    async def join(self, request: JoinRequest) -> JoinResult:
        future: asyncio.Future[JoinResult] = asyncio.get_running_loop().create_future()
        self.coordinator.join(request, self.clock.time_ms(), _resolver(future))
        return await future

    async def sync(
        self, group_id: str, generation: int, member_id: str, assignments: dict[str, bytes]
    ) -> SyncResult:
        future: asyncio.Future[SyncResult] = asyncio.get_running_loop().create_future()
        self.coordinator.sync(
            group_id, generation, member_id, assignments, self.clock.time_ms(), _resolver(future)
        )
        return await future

    async def commit(
        self,
        group_id: str,
        generation: int,
        member_id: str,
        offsets: Iterable[tuple[str, int, CommittedOffset]],
    ) -> dict[tuple[str, int], KafkaError]:
        """Validate, persist and apply a commit; errors per partition."""
        wanted = list(offsets)
        error = self.coordinator.validate_commit(
            group_id, generation, member_id, self.clock.time_ms()
        )
        results: dict[tuple[str, int], KafkaError] = {}
        accepted = []
        for topic, partition, committed in wanted:
            if error is not KafkaError.NONE:
                results[(topic, partition)] = error
            elif self.replicas.image.partition(topic, partition) is None:
                results[(topic, partition)] = KafkaError.UNKNOWN_TOPIC_OR_PARTITION
            else:
                accepted.append((topic, partition, committed))
                results[(topic, partition)] = KafkaError.NONE
        if not accepted:
            return results
        plan = OffsetCommitPlan(group_id, tuple(accepted))
        try:
            self.store.append_commit(plan)
            if self.flusher.durable and self.store.partition is not None:
                await self.flusher.wait_durable(self.store.partition)
        except LogStorageError as exc:
            log.error("cannot persist offsets of group %s: %s", group_id, exc)
            for topic, partition, _ in accepted:
                results[(topic, partition)] = KafkaError.KAFKA_STORAGE_ERROR
            return results
        self.coordinator.apply_offsets(plan)
        self.store.maybe_compact(self.coordinator)
        return results

    def delete(self, group_id: str) -> KafkaError:
        error = self.coordinator.can_delete(group_id)
        if error is not KafkaError.NONE:
            return error
        try:
            self.store.append_delete(group_id)
        except LogStorageError:
            return KafkaError.KAFKA_STORAGE_ERROR
        self.coordinator.apply_delete(group_id)
        return KafkaError.NONE

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            try:
                await self._ticker
            except asyncio.CancelledError:
                pass
        self.store.close()


def _resolver(future: asyncio.Future[T]) -> Callable[[T], None]:
    def resolve(result: T) -> None:
        if not future.done():
            future.set_result(result)

    return resolve
