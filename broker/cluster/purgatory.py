"""Where fetches wait for data (Kafka's delayed-fetch purgatory).

A fetch that has not gathered ``min_bytes`` registers one future under every partition
it reads; the first ``notify`` of any of those partitions completes it, and the fetch
re-reads. What a notify means is the owner's choice: the replica manager keeps one
purgatory notified when high watermarks advance (consumers) and one when leaders
append (followers). Event-loop thread only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

__all__ = ["FetchPurgatory", "PartitionKey"]

PartitionKey = tuple[str, int]


class FetchPurgatory:
    def __init__(self) -> None:
        self._waiters: dict[PartitionKey, set[asyncio.Future[None]]] = {}

    def watch(self, keys: Iterable[PartitionKey]) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for key in keys:
            self._waiters.setdefault(key, set()).add(future)
        return future

    def unwatch(self, keys: Iterable[PartitionKey], future: asyncio.Future[None]) -> None:
        for key in keys:
            waiters = self._waiters.get(key)
            if waiters is not None:
                waiters.discard(future)
                if not waiters:
                    del self._waiters[key]

    def notify(self, key: PartitionKey) -> None:
        waiters = self._waiters.pop(key, None)
        if waiters:
            for future in waiters:
                if not future.done():
                    future.set_result(None)

    async def wait(self, keys: list[PartitionKey], timeout_s: float) -> None:
        """Until any of ``keys`` is notified or ``timeout_s`` passes."""
        if timeout_s <= 0:
            return
        future = self.watch(keys)
        try:
            await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            pass
        finally:
            self.unwatch(keys, future)

    @property
    def waiting(self) -> int:
        """Fetches still waiting. A future completed through one partition stays listed
        under its others until the fetch unwatches; it no longer counts."""
        return len({f for waiters in self._waiters.values() for f in waiters if not f.done()})
