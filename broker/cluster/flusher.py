"""The flush policy: when appended data is fsynced, and what an acknowledgement means.

Two modes (broker config ``flush_policy``):

``interval`` (default)
    A produce is acknowledged once its batch is written to the page cache with
    ``pwrite``. A killed broker process loses nothing (the kernel still has the data);
    an OS crash or power loss can lose what was written since the last fsync, which a
    background round performs every ``flush_interval_ms`` (default 1000 ms) for every
    partition with unflushed data. That interval is the documented exposure window.

``durable``
    A produce (acks 1 or all) is acknowledged only after an fsync that covers it, and
    the high watermark (what consumers can read) advances only to flushed offsets.
    Concurrent produces share fsync rounds (group commit): a round fsyncs every
    partition appended to before it started, so the cost is one fsync per partition
    per round, not per request.

fsync runs on one dedicated thread so the event loop keeps serving during a flush.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum

from broker.cluster.partition import Partition
from broker.storage.errors import LogStorageError

__all__ = ["FlushPolicy", "Flusher"]

log = logging.getLogger(__name__)


class FlushPolicy(StrEnum):
    INTERVAL = "interval"
    DURABLE = "durable"


def _fsync_all(partitions: list[Partition]) -> list[tuple[Partition, int | BaseException]]:
    results: list[tuple[Partition, int | BaseException]] = []
    for partition in partitions:
        try:
            results.append((partition, partition.log.flush()))
        except (OSError, LogStorageError) as exc:
            results.append((partition, exc))
    return results


class Flusher:
    def __init__(
        self,
        policy: FlushPolicy,
        interval_ms: int,
        on_round: Callable[[float], None] | None = None,
    ) -> None:
        self.policy = policy
        self._on_round = on_round
        self.interval_ms = interval_ms
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fsync")
        self._dirty: dict[Partition, None] = {}
        self._next_round: asyncio.Future[dict[Partition, BaseException]] | None = None
        self._round_task: asyncio.Task[None] | None = None
        self._interval_task: asyncio.Task[None] | None = None
        self.rounds = 0
        self.failures = 0

    @property
    def durable(self) -> bool:
        return self.policy is FlushPolicy.DURABLE

    def start(self) -> None:
        if self.policy is FlushPolicy.INTERVAL:
            self._interval_task = asyncio.get_running_loop().create_task(self._interval_loop())

    def mark_dirty(self, partition: Partition) -> None:
        self._dirty[partition] = None

    async def wait_durable(self, partition: Partition) -> None:
        """Return once ``partition`` is fsynced up to its current log end; raises
        LogStorageError when its fsync fails."""
        self._dirty[partition] = None
        if self._next_round is None:
            self._next_round = asyncio.get_running_loop().create_future()
        future = self._next_round
        if self._round_task is None or self._round_task.done():
            self._round_task = asyncio.get_running_loop().create_task(self._run_rounds())
        failures = await asyncio.shield(future)
        error = failures.get(partition)
        if error is not None:
            raise LogStorageError(f"fsync failed: {error}")

    async def _run_rounds(self) -> None:
        loop = asyncio.get_running_loop()
        while self._next_round is not None:
            future, self._next_round = self._next_round, None
            future.set_result(await self._flush_dirty(loop))

    async def _flush_dirty(self, loop: asyncio.AbstractEventLoop) -> dict[Partition, BaseException]:
        dirty = list(self._dirty)
        self._dirty.clear()
        if not dirty:
            return {}
        started = time.perf_counter()
        results = await loop.run_in_executor(self._executor, _fsync_all, dirty)
        self.rounds += 1
        if self._on_round is not None:
            self._on_round(time.perf_counter() - started)
        failures: dict[Partition, BaseException] = {}
        for partition, result in results:
            if isinstance(result, BaseException):
                self.failures += 1
                log.error("fsync of %s-%d failed: %s", partition.topic, partition.index, result)
                failures[partition] = result
            elif self.durable:
                partition.on_flushed(result)
        return failures

    async def _interval_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.interval_ms / 1000)
            try:
                await self._flush_dirty(loop)
            except Exception:  # keep flushing whatever happens to one round
                log.exception("background flush round failed")

    async def close(self) -> None:
        for task in (self._interval_task, self._round_task):
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass
        self._executor.shutdown(wait=True)
