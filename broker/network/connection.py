"""One client connection: framing, in-order processing, back-pressure.

Requests on a connection are answered in the order they arrived, as Kafka clients
require. Handlers that finish at once (most) are answered inline from
``data_received``; a handler that must wait (a long-polling fetch, a durable produce)
parks the connection until it completes, and later frames queue behind it. Reading
pauses when more than ``max_inflight`` frames are queued or when the transport's
write buffer is full, so a slow or hostile client cannot make the broker buffer
without bound.

A protocol violation (bad frame size, malformed header or body, unknown API or
version) closes only this connection, with the reason logged and counted. A client that
hangs up in the middle of a frame is logged and counted too (reason ``truncated``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
import time
from collections import deque
from collections.abc import Callable

from broker.metrics.stats import BrokerStats
from broker.protocol.framing import FrameError, FrameReader
from broker.server.authorizer import ANONYMOUS
from broker.server.context import Reply
from broker.server.dispatch import Dispatched, Dispatcher, ProtocolViolation, is_pending

__all__ = ["KafkaConnection"]

log = logging.getLogger(__name__)


class KafkaConnection(asyncio.BufferedProtocol):
    def __init__(
        self,
        dispatcher: Dispatcher,
        stats: BrokerStats,
        *,
        max_request_bytes: int,
        max_inflight: int,
        on_close: Callable[[KafkaConnection], None],
        request_metrics: bool = True,
    ) -> None:
        self._request_metrics = request_metrics
        self._dispatcher = dispatcher
        self._stats = stats
        self._reader = FrameReader(max_request_bytes)
        self._max_inflight = max_inflight
        self._on_close = on_close
        self._queue: deque[tuple[bytes | bytearray, float]] = deque()
        self._transport: asyncio.Transport | None = None
        self._busy_task: asyncio.Task[None] | None = None
        # The awaitable reply the busy task waits for, until the task has started.
        self._busy_reply: object | None = None
        self._reading_paused = False
        self._writing_paused = False
        self._closed = False
        # Set once the broker decided to close (violation, error, shutdown).
        self._closing = False
        self.peer = "?"
        self.principal = ANONYMOUS

    # -- asyncio callbacks ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self._stats.connections_open += 1
        self._stats.connections_accepted += 1

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._reader.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        if self._closed:
            return
        try:
            frames = self._reader.buffer_updated(nbytes)
        except FrameError as exc:
            self._violation("frame_size", str(exc))
            return
        if frames:
            now = time.perf_counter()
            queue = self._queue
            for frame in frames:
                queue.append((frame, now))
            self._drain()

    def eof_received(self) -> bool:
        return False

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._drain()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._closed:
            self._closed = True
            self._stats.connections_open -= 1
            pending = self._reader.buffered_bytes
            if pending and not self._closing:
                self._stats.count_malformed("truncated")
                log.warning(
                    "connection from %s: the client closed the connection in the middle of "
                    "a request (%d bytes of an incomplete frame discarded)",
                    self.peer,
                    pending,
                )
        if self._busy_task is not None and not self._busy_task.done():
            self._busy_task.cancel()
            if inspect.iscoroutine(self._busy_reply):
                # The task never ran, so nothing awaits the handler: close it here (a
                # cancelled-before-start task would leave it "never awaited").
                self._busy_reply.close()
        self._busy_reply = None
        self._queue.clear()
        self._on_close(self)

    # -- processing --------------------------------------------------------------------

    def _drain(self) -> None:
        queue = self._queue
        while queue and self._busy_task is None and not self._writing_paused and not self._closed:
            frame, arrived = queue.popleft()
            started = time.perf_counter()
            try:
                dispatched = self._dispatcher.dispatch(frame, self.principal, self.peer)
            except ProtocolViolation as exc:
                self._violation(exc.reason, str(exc))
                return
            except Exception:
                log.exception("request from %s failed; closing the connection", self.peer)
                self.close()
                return
            if is_pending(dispatched.reply):
                self._busy_reply = dispatched.reply
                self._busy_task = asyncio.get_running_loop().create_task(
                    self._complete(dispatched, arrived, started)
                )
                break
            self._send(dispatched, dispatched.reply, arrived, started)  # type: ignore[arg-type]
        self._apply_backpressure()

    async def _complete(self, dispatched: Dispatched, arrived: float, started: float) -> None:
        self._busy_reply = None  # started: cancelling this task now cancels the handler
        try:
            reply: Reply = await dispatched.reply  # type: ignore[misc]
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("request from %s failed; closing the connection", self.peer)
            self.close()
            return
        finally:
            self._busy_task = None
        self._send(dispatched, reply, arrived, started)
        self._drain()

    def _send(self, dispatched: Dispatched, reply: Reply, arrived: float, started: float) -> None:
        if self._closed or self._transport is None:
            return
        buffers = self._dispatcher.encode(dispatched, reply)
        if buffers is not None:
            if len(buffers) == 2 and len(buffers[1]) < 4096:
                # Small responses: one contiguous write is cheaper than a vectored one.
                self._transport.write(b"".join(buffers))
            else:
                self._transport.writelines(buffers)
        if self._request_metrics:
            now = time.perf_counter()
            self._stats.request(dispatched.api).record(
                dispatched.ctx.error, started - arrived, now - arrived, dispatched.ctx.trace_id
            )

    def _apply_backpressure(self) -> None:
        if self._transport is None or self._closed:
            return
        backlog = len(self._queue) >= self._max_inflight
        if backlog and not self._reading_paused:
            self._transport.pause_reading()
            self._reading_paused = True
        elif not backlog and self._reading_paused:
            self._transport.resume_reading()
            self._reading_paused = False

    def _violation(self, reason: str, message: str) -> None:
        self._stats.count_malformed(reason)
        log.warning("closing connection from %s: %s", self.peer, message)
        self.close()

    def close(self) -> None:
        self._closing = True
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()
