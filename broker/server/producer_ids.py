"""ProducerIdBlocks: producer ids for this broker's InitProducerId answers.

Ids are unique across the cluster because the controller hands them out in blocks
(``ProducerIds`` metadata records, never handed out twice); this broker serves ids from
its current block and asks for the next one when it runs out. Event-loop thread only;
concurrent requests share one outstanding block request.
"""

from __future__ import annotations

import asyncio

from broker.error_codes import KafkaError
from broker.metadata.rpc import AllocateProducerIdsRequest, ErrorResponse
from broker.server.context import ClusterAccess

__all__ = ["ProducerIdBlocks", "ProducerIdUnavailable"]


class ProducerIdUnavailable(Exception):
    """No block could be obtained; ``error`` is retriable for the client."""

    def __init__(self, error: KafkaError, message: str) -> None:
        super().__init__(message)
        self.error = error


class ProducerIdBlocks:
    def __init__(self, cluster: ClusterAccess, node_id: int) -> None:
        self.cluster = cluster
        self.node_id = node_id
        self._next = 0
        self._end = 0
        self._refill: asyncio.Future[None] | None = None

    async def allocate(self) -> int:
        while self._next >= self._end:
            if self._refill is None:
                self._refill = asyncio.ensure_future(self._fetch_block())
            refill = self._refill
            try:
                await asyncio.shield(refill)
            finally:
                if self._refill is refill and refill.done():
                    self._refill = None
        producer_id = self._next
        self._next += 1
        return producer_id

    async def _fetch_block(self) -> None:
        response = await self.cluster.call_controller(
            AllocateProducerIdsRequest(self.node_id, max(self.cluster.broker_epoch, 0)),
            timeout_s=10.0,
        )
        if isinstance(response, ErrorResponse):
            raise ProducerIdUnavailable(KafkaError.COORDINATOR_NOT_AVAILABLE, response.message)
        reply = response.reply
        if reply.error is not KafkaError.NONE or reply.count <= 0:
            raise ProducerIdUnavailable(
                KafkaError.COORDINATOR_NOT_AVAILABLE,
                reply.message or f"no producer ids: {reply.error.name}",
            )
        self._next, self._end = reply.first_producer_id, reply.first_producer_id + reply.count
