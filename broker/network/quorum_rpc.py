"""Both ends of the broker-to-controller RPCs on quorum connections.

A call sends an ``rpc request`` frame (a fresh u64 request id, then the request's
``broker.metadata.rpc`` bytes) on the connection the transport routes to the node, and
waits for the ``rpc response`` frame with the same id on that connection. Each served
request runs in its own task; its answer goes back on the connection it came on.

Owned by ``QuorumTransport``, which hands it the routing, the frame writer, its task
spawner and its way of refusing a malformed frame (counted, rate-limited log line).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar, cast

from broker.error_codes import KafkaError
from broker.metadata.errors import RpcError
from broker.metadata.rpc import (
    ROUTES,
    ErrorResponse,
    RpcRequest,
    RpcResponse,
    decode_request,
    decode_response,
    encode_rpc,
)
from broker.network.quorum_config import QuorumTransportStats
from broker.network.quorum_connection import QuorumConnection
from broker.network.quorum_frames import REQUEST_ID, FrameError, FrameKind, split_rpc_body

__all__ = ["PeerUnavailable", "QuorumRpc", "RpcHandler", "fail_calls"]

log = logging.getLogger(__name__)

R = TypeVar("R", bound=RpcResponse)
RpcHandler = Callable[[int, RpcRequest[Any]], Awaitable[RpcResponse]]
_MAX_ERROR_CHARS = 4096


class PeerUnavailable(ConnectionError):
    """No connection to the node, or it was lost before the RPC was answered."""


def fail_calls(connection: QuorumConnection, node_id: int) -> None:
    """Fail every call still waiting on ``connection`` (it closed)."""
    for future in connection.calls.values():
        if not future.done():
            future.set_exception(PeerUnavailable(f"the connection to node {node_id} was lost"))


class QuorumRpc:
    """RPC client (``call``) and server (``on_request``, answering with ``handler``)."""

    def __init__(
        self,
        node_id: int,
        stats: QuorumTransportStats,
        *,
        route: Callable[[int], QuorumConnection | None],
        send: Callable[..., None],
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        refuse: Callable[[QuorumConnection, str, str], None],
        max_frame_bytes: int,
    ) -> None:
        self.handler: RpcHandler | None = None
        self._node_id = node_id
        self._stats = stats
        self._route = route
        self._send = send
        self._spawn = spawn
        self._refuse = refuse
        self._max_frame_bytes = max_frame_bytes
        self._request_ids = itertools.count(1)

    async def call(
        self, node_id: int, request: RpcRequest[R], timeout_s: float
    ) -> R | ErrorResponse:
        """Send ``request`` to ``node_id`` and return its response: the request's
        response type, or ``ErrorResponse`` (``NOT_CONTROLLER`` from a node without a
        handler, ``INVALID_REQUEST``, ``UNKNOWN_SERVER_ERROR`` when its handler raised).
        Raises PeerUnavailable (no connection, or lost before the answer), TimeoutError
        after ``timeout_s`` (waiting for room in a full send queue included), RpcError
        when the answer is malformed or answers another request type."""
        body = encode_rpc(request)
        if len(body) + REQUEST_ID.size + 1 > self._max_frame_bytes:
            raise ValueError(f"a {request.KIND} of {len(body)} bytes exceeds the frame limit")
        async with asyncio.timeout(timeout_s):
            connection = self._connection_for_call(node_id)
            try:
                await connection.writable()
            except ConnectionError:
                raise PeerUnavailable(f"the connection to node {node_id} was lost") from None
            if connection.closed:
                raise PeerUnavailable(f"the connection to node {node_id} was lost")
            request_id = next(self._request_ids)
            future = asyncio.get_running_loop().create_future()
            connection.calls[request_id] = future
            try:
                self._send(connection, FrameKind.RPC_REQUEST, REQUEST_ID.pack(request_id), body)
                response = await future
            finally:
                connection.calls.pop(request_id, None)
        expected = ROUTES[type(request)].response
        if not isinstance(response, (expected, ErrorResponse)):
            raise RpcError(f"node {node_id} answered {request.KIND} with {response.KIND}")
        return cast("R | ErrorResponse", response)

    def _connection_for_call(self, node_id: int) -> QuorumConnection:
        connection = self._route(node_id)
        if connection is None:
            raise PeerUnavailable(f"node {self._node_id} has no connection to node {node_id}")
        return connection

    async def on_request(self, connection: QuorumConnection, body: memoryview) -> None:
        try:
            request_id, payload = split_rpc_body(body)
        except FrameError as exc:
            self._refuse(connection, exc.reason, str(exc))
            return
        try:
            request = decode_request(payload)
        except RpcError as exc:
            self._refuse(connection, "malformed_rpc", str(exc))
            error = ErrorResponse(KafkaError.INVALID_REQUEST, str(exc)[:_MAX_ERROR_CHARS])
            self._send(
                connection, FrameKind.RPC_RESPONSE, REQUEST_ID.pack(request_id), encode_rpc(error)
            )
            return
        await connection.rpc_slots.acquire()
        self._spawn(self._answer(connection, request_id, request))

    async def _answer(
        self, connection: QuorumConnection, request_id: int, request: RpcRequest[Any]
    ) -> None:
        """Serve one request and send its response; the request's in-flight slot is held
        until the response is queued, so a peer that does not read its responses stops
        being read once it has ``max_inflight_requests`` of them pending."""
        try:
            payload = await self._respond(cast(int, connection.node_id), request)
            try:
                await connection.writable()
            except ConnectionError:
                pass
            if connection.closed:
                self._stats.dropped_messages["no_connection"] += 1
                return
            self._send(connection, FrameKind.RPC_RESPONSE, REQUEST_ID.pack(request_id), payload)
        finally:
            connection.rpc_slots.release()

    async def _respond(self, node_id: int, request: RpcRequest[Any]) -> bytes:
        handler = self.handler
        if handler is None:
            message = f"node {self._node_id} serves no controller requests"
            return encode_rpc(ErrorResponse(KafkaError.NOT_CONTROLLER, message))
        try:
            return encode_rpc(await handler(node_id, request))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("serving %s from node %d failed", request.KIND, node_id)
            message = f"{request.KIND} failed on node {self._node_id}: {type(exc).__name__}"
            return encode_rpc(ErrorResponse(KafkaError.UNKNOWN_SERVER_ERROR, message))

    async def on_response(self, connection: QuorumConnection, body: memoryview) -> None:
        try:
            request_id, payload = split_rpc_body(body)
        except FrameError as exc:
            self._refuse(connection, exc.reason, str(exc))
            return
        future = connection.calls.pop(request_id, None)
        if future is None or future.done():
            reason = f"a response to request {request_id}, which nobody awaits (timed out?)"
            self._refuse(connection, "unknown_request_id", reason)
            return
        try:
            future.set_result(decode_response(payload))
        except RpcError as exc:
            self._refuse(connection, "malformed_rpc", str(exc))
            future.set_exception(exc)
