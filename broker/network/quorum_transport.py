"""``QuorumTransport``: TCP between the controller voters, and from brokers to the voters.

Topology. Every voter listens on its ``controller.listen`` address; every node dials
every voter but itself and keeps that connection up, reconnecting with capped
exponential backoff and jitter (from the injected ``random.Random``). Two voters thus
share two connections, one each way; a broker that is not a voter has one connection
to each voter and no listener. A frame for a node goes on our own outbound connection
to it when that is up, else on the newest connection it opened to us (how a voter
reaches a broker: Raft traffic to observers). An RPC response goes back on the
connection its request came on. Frames and the Hello: ``quorum_frames``; settings and
counters: ``quorum_config``; the RPC ends: ``quorum_rpc`` (``PeerUnavailable`` lives
there); one connection and the table of them: ``quorum_connection``.

Refusals. A connection is refused (closed, one log line with the reason and the peer
address, ``stats.refused_connections[reason]`` counted) when its first frame is not a
well-formed Hello (``no_hello``, ``malformed_hello``, ``unsupported_version``,
``handshake_timeout``), when the Hello names another cluster id (``cluster_id``),
another voter set (``voter_set``: a node that calls itself a voter we do not know is
refused here), our own node id (``own_node_id``), or, on a connection we dialled,
another node than the voter we dialled (``unexpected_node_id``); and later when the
framing breaks (``frame_too_large``, ``empty_frame``, ``unknown_frame_kind``,
``unexpected_hello``). A malformed Raft message or RPC only costs that frame:
``stats.refused_messages[reason]`` (``malformed_raft``, ``sender_mismatch``,
``wrong_receiver``, ``cluster_id``, ``unknown_raft_member``, ``malformed_rpc``,
``unknown_request_id``), with a warning at most once per reason per
``log_interval_s`` (repeats at DEBUG); the connection stays up.

Delivery. ``send_raft`` is fire and forget: it never blocks, and drops the message
(``stats.dropped_messages[reason]``: ``no_connection``, ``queue_full``, ``oversized``)
when it cannot be queued, which Raft tolerates. ``call`` sends an RPC and waits for its
response: ``PeerUnavailable`` when there is no connection or it is lost before the
answer, ``TimeoutError`` after ``timeout_s``; the answer is the request's response type
or ``ErrorResponse`` (``NOT_CONTROLLER`` from a node without ``on_rpc_request``,
``INVALID_REQUEST``, ``UNKNOWN_SERVER_ERROR`` when the handler raised).

Back-pressure. A connection's outgoing frames queue in its write buffer, bounded by
``max_queued_bytes_per_peer``: beyond it Raft messages are dropped and ``call`` waits
(within its timeout) until the buffer drains. At most ``max_inflight_requests`` RPCs
from one connection are served at once; past that, that connection is not read.

Peer callbacks. ``on_peer_connected(node_id)`` fires when the first connection with the
node (either direction) completes its Hello exchange, ``on_peer_disconnected(node_id)``
when the last such connection closes: a node counts as connected to us while any
connection with it is open after a valid Hello. A node that reconnects before its old
connection is noticed closed gets neither. None fires during or after ``stop``.

Concurrency: one event loop, one task per connection plus one per RPC being served;
callbacks (``on_raft_message`` and the peer callbacks are synchronous) run on the loop,
and an exception in one is logged without harming the transport.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

from broker.metadata.rpc import (
    ErrorResponse,
    RpcRequest,
    RpcResponse,
)
from broker.network.quorum_config import QuorumTransportConfig, QuorumTransportStats
from broker.network.quorum_connection import PeerLinks, QuorumConnection, RateLimitedLog
from broker.network.quorum_frames import (
    MAX_HELLO_BYTES,
    FrameError,
    FrameKind,
    Hello,
    check_hello,
    decode_hello,
    encode_hello,
    frame_header,
)
from broker.network.quorum_rpc import QuorumRpc, RpcHandler, fail_calls
from broker.quorum.codec import decode_message, encode_message
from broker.quorum.errors import QuorumMessageError
from broker.quorum.messages import Message
from contracts.clock import Clock, SystemClock
from contracts.fields import HostPort

__all__ = ["PeerHandler", "QuorumTransport", "RaftHandler"]

log = logging.getLogger(__name__)

R = TypeVar("R", bound=RpcResponse)
RaftHandler = Callable[[Message], None]
PeerHandler = Callable[[int], None]
_KINDS = frozenset(FrameKind)


class QuorumTransport:
    """See the module docstring. Build, set the callbacks, ``await start()``."""

    def __init__(
        self,
        config: QuorumTransportConfig,
        *,
        rng: random.Random,
        clock: Clock | None = None,
        on_raft_message: RaftHandler | None = None,
        on_rpc_request: RpcHandler | None = None,
        on_peer_connected: PeerHandler | None = None,
        on_peer_disconnected: PeerHandler | None = None,
    ) -> None:
        self._config = config
        self._rng = rng
        self.on_raft_message = on_raft_message
        self.on_peer_connected = on_peer_connected
        self.on_peer_disconnected = on_peer_disconnected
        self.stats = QuorumTransportStats()
        self._log = RateLimitedLog(log, (clock or SystemClock()).monotonic, config.log_interval_s)
        self._hello = encode_hello(
            Hello(config.cluster_id, config.node_id, frozenset(config.voters))
        )
        self._links = PeerLinks()
        self._connections: set[QuorumConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._listen_address: HostPort | None = None
        self._started = False
        self._stopping = False
        self._rpc = QuorumRpc(
            config.node_id,
            self.stats,
            route=self._links.route,
            send=self._send,
            spawn=self._spawn,
            refuse=self._refuse_message,
            max_frame_bytes=config.max_frame_bytes,
        )
        self._rpc.handler = on_rpc_request
        self._handlers = {
            FrameKind.HELLO: self._on_hello,
            FrameKind.RAFT: self._on_raft,
            FrameKind.RPC_REQUEST: self._rpc.on_request,
            FrameKind.RPC_RESPONSE: self._rpc.on_response,
        }

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def node_id(self) -> int:
        return self._config.node_id

    @property
    def on_rpc_request(self) -> RpcHandler | None:
        """Serves the RPC requests of other nodes (None: answer NOT_CONTROLLER)."""
        return self._rpc.handler

    @on_rpc_request.setter
    def on_rpc_request(self, handler: RpcHandler | None) -> None:
        self._rpc.handler = handler

    @property
    def listen_address(self) -> HostPort | None:
        """The bound address of this voter's listener once started (None otherwise)."""
        return self._listen_address

    @property
    def connected_peers(self) -> frozenset[int]:
        """Nodes with at least one open connection past the Hello."""
        return self._links.nodes

    async def start(self, listen_socket: socket.socket | None = None) -> None:
        """Listen (voters only; on ``listen_socket`` if given, already bound) and start
        dialling every other voter. Returns once listening; dialling goes on in tasks."""
        if self._started:
            raise RuntimeError("a QuorumTransport starts once")
        self._started = True
        address = self._config.listen_address
        if address is None and listen_socket is not None:
            raise ValueError(f"node {self.node_id} is not a voter and takes no listener")
        if address is not None:
            if listen_socket is not None:
                server = await asyncio.start_server(self._accepted, sock=listen_socket)
            else:
                try:
                    server = await asyncio.start_server(
                        self._accepted, address.host, address.port, reuse_address=True
                    )
                except OSError as exc:
                    reason = os.strerror(exc.errno) if exc.errno else str(exc)
                    raise OSError(
                        exc.errno,
                        f"node {self.node_id} cannot listen for the metadata quorum on "
                        f"{address}: {reason}; if another process runs node "
                        f"{self.node_id}, stop it (or check controller.voters and "
                        "controller.listen)",
                    ) from exc
            self._server = server
            host, port = server.sockets[0].getsockname()[:2]
            self._listen_address = HostPort(host, port)
            log.info("node %d listens for the quorum on %s", self.node_id, self._listen_address)
        for voter in sorted(self._config.voters):
            if voter != self.node_id:
                self._spawn(self._dial(voter))

    async def stop(self) -> None:
        """Close the listener and every connection, fail pending calls with
        PeerUnavailable, and wait for every task of this transport to end."""
        if self._stopping:
            return
        self._stopping = True
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.abort()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for connection in list(self._connections):
            await connection.wait_closed()
        if self._server is not None:
            await self._server.wait_closed()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        if self._stopping:
            coroutine.close()
            return
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- sending ----------------------------------------------------------------------

    def send_raft(self, message: Message) -> None:
        """Queue ``message`` for ``message.receiver``, or drop it (counted). Never blocks."""
        connection = self._links.route(message.receiver)
        if connection is None:
            self.stats.dropped_messages["no_connection"] += 1
            return
        if connection.queued_bytes >= self._config.max_queued_bytes_per_peer:
            self.stats.dropped_messages["queue_full"] += 1
            return
        frame = encode_message(message)
        if len(frame) + 1 > self._config.max_frame_bytes:
            self.stats.dropped_messages["oversized"] += 1
            self._log.warning(
                "oversized",
                "dropped a %s of %d bytes for node %d: over the frame limit of %d bytes",
                type(message).__name__,
                len(frame),
                message.receiver,
                self._config.max_frame_bytes,
            )
            return
        self._send(connection, FrameKind.RAFT, frame)

    async def call(
        self, node_id: int, request: RpcRequest[R], timeout_s: float
    ) -> R | ErrorResponse:
        """Send ``request`` to ``node_id`` and return its response: see ``QuorumRpc.call``."""
        return await self._rpc.call(node_id, request, timeout_s)

    def _send(self, connection: QuorumConnection, kind: FrameKind, *parts: bytes) -> None:
        size = sum(len(part) for part in parts)
        connection.write([frame_header(kind, size), *parts])
        self.stats.frames_out[kind.label] += 1
        self.stats.bytes_out[kind.label] += 5 + size

    # -- connections ------------------------------------------------------------------

    def _new_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, outbound: bool
    ) -> QuorumConnection:
        connection = QuorumConnection(
            reader,
            writer,
            outbound=outbound,
            max_queued_bytes=self._config.max_queued_bytes_per_peer,
            max_inflight_requests=self._config.max_inflight_requests,
        )
        self._connections.add(connection)
        return connection

    def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = self._new_connection(reader, writer, outbound=False)
        if self._stopping:
            connection.close()
            return
        self._spawn(self._serve_inbound(connection))

    async def _serve_inbound(self, connection: QuorumConnection) -> None:
        try:
            hello = await self._handshake(connection, expected=None)
            if hello is not None:
                self._send_hello(connection)
                await self._serve(connection)
        finally:
            await self._forget(connection)

    async def _dial(self, node_id: int) -> None:
        """Keep a connection to voter ``node_id`` up until stopped."""
        failures = 0
        was_connected = False
        while True:
            connection = await self._open(node_id)
            if connection is None:
                failures += 1
            else:
                if was_connected:
                    self.stats.reconnects += 1
                was_connected, failures = True, 1
                try:
                    await self._serve(connection)
                finally:
                    await self._forget(connection)
            await asyncio.sleep(self._config.reconnect_delay_s(failures, self._rng))

    async def _open(self, node_id: int) -> QuorumConnection | None:
        address = self._config.voters[node_id]
        self.stats.connection_attempts += 1
        try:
            async with asyncio.timeout(self._config.connect_timeout_s):
                reader, writer = await asyncio.open_connection(address.host, address.port)
        except (OSError, TimeoutError) as exc:
            log.debug("voter %d at %s is unreachable: %s", node_id, address, exc)
            return None
        connection = self._new_connection(reader, writer, outbound=True)
        self._send_hello(connection)
        if await self._handshake(connection, expected=node_id) is None:
            await self._forget(connection)
            return None
        return connection

    def _send_hello(self, connection: QuorumConnection) -> None:
        self._send(connection, FrameKind.HELLO, self._hello)

    async def _handshake(self, connection: QuorumConnection, expected: int | None) -> Hello | None:
        """Read and check the peer's Hello; None (connection refused or gone) otherwise."""
        timeout_s = self._config.handshake_timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                frame = await self._receive(connection, MAX_HELLO_BYTES)
            if frame is None:
                log.debug("%s closed the connection before its Hello", connection.describe())
                if expected is not None:
                    self._log.warning(
                        "closed_in_handshake",
                        "voter %d at %s closed the connection during the handshake "
                        "(it refused our Hello: its log says why)",
                        expected,
                        connection.peer_address,
                    )
                return None
            hello = decode_hello(*frame)
            check_hello(
                hello,
                cluster_id=self._config.cluster_id,
                voters=frozenset(self._config.voters),
                own_node_id=self.node_id,
                expected_node_id=expected,
            )
        except FrameError as exc:
            self._refuse(connection, exc.reason, str(exc))
            return None
        except TimeoutError:
            self._refuse(connection, "handshake_timeout", f"no Hello within {timeout_s} s")
            return None
        except OSError as exc:
            log.debug("%s failed during the handshake: %s", connection.describe(), exc)
            return None
        connection.node_id = hello.node_id
        return hello

    def _refuse(self, connection: QuorumConnection, reason: str, message: str) -> None:
        self.stats.refused_connections[reason] += 1
        direction = "to" if connection.outbound else "from"
        self._log.warning(
            reason,
            "refused the quorum connection %s %s (%s): %s",
            direction,
            connection.describe(),
            reason,
            message,
        )
        connection.close()

    async def _forget(self, connection: QuorumConnection) -> None:
        """Close and wait until the socket is closed: a peer that does not read what is
        still buffered gets ``handshake_timeout_s`` before the connection is aborted."""
        connection.close()
        try:
            async with asyncio.timeout(self._config.handshake_timeout_s):
                await connection.wait_closed()
        except TimeoutError:
            connection.abort()
            await connection.wait_closed()
        self._connections.discard(connection)

    # -- an established connection ----------------------------------------------------

    async def _serve(self, connection: QuorumConnection) -> None:
        """Read frames until the connection ends, counted as a link to its node."""
        node_id = cast(int, connection.node_id)
        if self._links.add(node_id, connection):
            log.info("node %d is connected to node %d", self.node_id, node_id)
            self._notify(self.on_peer_connected, node_id)
        try:
            while True:
                frame = await self._receive(connection, self._config.max_frame_bytes)
                if frame is None:
                    return
                kind, body = frame
                handler = self._handlers.get(cast(FrameKind, kind))
                if handler is None:
                    raise FrameError("unknown_frame_kind", f"unknown frame kind {kind}")
                await handler(connection, body)
        except FrameError as exc:
            self._refuse(connection, exc.reason, str(exc))
        except OSError as exc:
            log.debug("the connection with %s failed: %s", connection.describe(), exc)
        except Exception:
            log.exception("closing the connection with %s after a bug", connection.describe())
        finally:
            self._unlink(connection, node_id)

    def _unlink(self, connection: QuorumConnection, node_id: int) -> None:
        connection.close()
        fail_calls(connection, node_id)
        if self._links.remove(node_id, connection) and not self._stopping:
            log.info("node %d lost its last connection to node %d", self.node_id, node_id)
            self._notify(self.on_peer_disconnected, node_id)

    async def _receive(
        self, connection: QuorumConnection, max_frame_bytes: int
    ) -> tuple[int, memoryview] | None:
        frame = await connection.read_frame(max_frame_bytes)
        if frame is not None and frame[0] in _KINDS:
            label = FrameKind(frame[0]).label
            self.stats.frames_in[label] += 1
            self.stats.bytes_in[label] += 5 + len(frame[1])
        return frame

    def _notify(self, callback: PeerHandler | None, node_id: int) -> None:
        if callback is None or self._stopping:
            return
        try:
            callback(node_id)
        except Exception:
            log.exception("a quorum peer callback failed for node %d", node_id)

    def _refuse_message(self, connection: QuorumConnection, reason: str, message: str) -> None:
        self.stats.refused_messages[reason] += 1
        self._log.warning(
            reason, "refused a frame from %s (%s): %s", connection.describe(), reason, message
        )

    async def _on_hello(self, connection: QuorumConnection, body: memoryview) -> None:
        raise FrameError("unexpected_hello", "a second Hello on an established connection")

    async def _on_raft(self, connection: QuorumConnection, body: memoryview) -> None:
        try:
            message = decode_message(body)
        except QuorumMessageError as exc:
            self._refuse_message(connection, "malformed_raft", str(exc))
            return
        refusal = self._config.raft_refusal(message, cast(int, connection.node_id))
        if refusal is not None:
            self._refuse_message(connection, *refusal)
            return
        if self.on_raft_message is not None:
            try:
                self.on_raft_message(message)
            except Exception:
                log.exception("the Raft message handler failed on %s", type(message).__name__)
