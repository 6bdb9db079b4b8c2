"""ControllerChannel: how this broker reaches the active controller.

Every broker-to-controller request (registration, heartbeats, ISR changes, topic
administration, producer id blocks) goes through ``call``: to this node's own
``ControllerService`` when it is the active controller (no network), otherwise over the
quorum transport to the node the metadata log names as leader. NOT_CONTROLLER answers,
unreachable peers and timeouts are retried, against the leader as it is then known,
until the deadline; what still fails then comes back as an ``ErrorResponse``
(NOT_CONTROLLER or REQUEST_TIMED_OUT) for the caller to report.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol, TypeVar

from broker.error_codes import KafkaError
from broker.metadata.rpc import ErrorResponse, RpcRequest, RpcResponse
from broker.node.controller_service import ControllerService
from broker.node.metadata_log import MetadataLog

__all__ = ["ControllerChannel", "RpcTransport"]

log = logging.getLogger(__name__)

R = TypeVar("R", bound=RpcResponse)
_RETRY_S = 0.1


class RpcTransport(Protocol):
    async def call(
        self, node_id: int, request: RpcRequest[R], timeout_s: float
    ) -> R | ErrorResponse: ...


class ControllerChannel:
    def __init__(
        self,
        node_id: int,
        metadata_log: MetadataLog,
        service: ControllerService | None,
        transport: RpcTransport | None,
    ) -> None:
        self.node_id = node_id
        self.metadata_log = metadata_log
        self.service = service
        self.transport = transport

    async def call(self, request: RpcRequest[R], timeout_s: float = 30.0) -> R | ErrorResponse:
        """The response of the active controller, retrying until ``timeout_s`` passed."""
        deadline = time.monotonic() + timeout_s
        last: ErrorResponse | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return last or ErrorResponse(
                    KafkaError.REQUEST_TIMED_OUT,
                    f"no active controller answered within {timeout_s:g} s",
                )
            response: R | ErrorResponse = await self._once(request, remaining)
            if not isinstance(response, ErrorResponse) or response.error not in (
                KafkaError.NOT_CONTROLLER,
                KafkaError.REQUEST_TIMED_OUT,
            ):
                return response
            last = response
            await asyncio.sleep(min(_RETRY_S, max(0.0, deadline - time.monotonic())))

    async def _once(self, request: RpcRequest[Any], timeout_s: float) -> Any:
        leader = self.metadata_log.leader_id
        if leader is None:
            return ErrorResponse(KafkaError.NOT_CONTROLLER, "no controller is elected yet")
        if leader == self.node_id:
            if self.service is None:
                return ErrorResponse(KafkaError.NOT_CONTROLLER, "this node runs no controller")
            return await self.service.handle(request)
        if self.transport is None:
            return ErrorResponse(KafkaError.NOT_CONTROLLER, f"node {leader} is out of reach")
        try:
            return await self.transport.call(leader, request, min(timeout_s, 10.0))
        except TimeoutError:
            return ErrorResponse(
                KafkaError.REQUEST_TIMED_OUT, f"the controller (node {leader}) did not answer"
            )
        except ConnectionError as exc:
            return ErrorResponse(
                KafkaError.NOT_CONTROLLER, f"the controller (node {leader}) is unreachable: {exc}"
            )
