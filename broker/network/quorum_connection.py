"""One quorum connection (a TCP stream speaking ``quorum_frames``), the table of
established connections by node, and the rate-limited log line the quorum transport uses
for refusals. Used by ``quorum_transport`` only."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from broker.metadata.rpc import RpcResponse
from broker.network.quorum_frames import FRAME_LENGTH, check_frame_length

__all__ = ["PeerLinks", "QuorumConnection", "RateLimitedLog"]


class QuorumConnection:
    """A stream with a peer: frames in, frames out, and the RPC calls awaiting an answer
    on it. ``node_id`` is None until the Hello exchange names the peer.

    Outgoing frames queue in the asyncio transport's write buffer; its high-water mark is
    ``max_queued_bytes``, so ``writable()`` waits while more than that is queued.
    ``rpc_slots`` bounds the requests from this peer being served at once.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        outbound: bool,
        max_queued_bytes: int,
        max_inflight_requests: int,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.outbound = outbound
        self.node_id: int | None = None
        self.calls: dict[int, asyncio.Future[RpcResponse]] = {}
        self.rpc_slots = asyncio.Semaphore(max_inflight_requests)
        self.closed = False
        # Awaiting the stream's close waiter from a task that gets cancelled would cancel
        # the waiter itself for everyone; a task of our own, awaited through a shield,
        # keeps it intact.
        self._closed_waiter = asyncio.ensure_future(writer.wait_closed())
        self._closed_waiter.add_done_callback(_retrieve)
        peer = writer.get_extra_info("peername")
        self.peer_address = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        writer.transport.set_write_buffer_limits(high=max_queued_bytes)
        sock = writer.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def describe(self) -> str:
        """``node 2 at 127.0.0.1:40112`` (or ``127.0.0.1:40112`` before the Hello)."""
        who = f"node {self.node_id} at " if self.node_id is not None else ""
        return f"{who}{self.peer_address}"

    @property
    def queued_bytes(self) -> int:
        return self.writer.transport.get_write_buffer_size()

    async def read_frame(self, max_frame_bytes: int) -> tuple[int, memoryview] | None:
        """The next frame's (kind, body); None at end of stream (also in the middle of a
        frame: the peer is gone either way). Raises FrameError on a bad length."""
        try:
            prefix = await self.reader.readexactly(FRAME_LENGTH.size)
            (length,) = FRAME_LENGTH.unpack(prefix)
            check_frame_length(length, max_frame_bytes)
            data = await self.reader.readexactly(length)
        except asyncio.IncompleteReadError:
            return None
        return data[0], memoryview(data)[1:]

    def write(self, parts: Sequence[bytes]) -> None:
        """Queue ``parts``; dropped when the connection is closed or already lost (the
        peer went away before the reader noticed: Raft and RPC callers cope with a lost
        frame, and the transport closed under us must not raise)."""
        if not self.closed and not self.writer.is_closing():
            self.writer.writelines(parts)

    async def writable(self) -> None:
        """Wait until the write buffer is below its high-water mark; ConnectionError if
        the connection is lost meanwhile."""
        await self.writer.drain()

    def close(self) -> None:
        """Close once what is buffered is sent (``wait_closed`` waits for that)."""
        if not self.closed:
            self.closed = True
            self.writer.close()

    def abort(self) -> None:
        """Close now, discarding what is buffered."""
        self.closed = True
        self.writer.transport.abort()

    async def wait_closed(self) -> None:
        """Wait until the socket is closed (safe to cancel; call close or abort first)."""
        try:
            await asyncio.shield(self._closed_waiter)
        except OSError:
            pass  # the peer reset it: it is closed either way


def _retrieve(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()  # a reset connection is not worth an "exception never retrieved"


class PeerLinks:
    """The connections past their Hello exchange, by peer node id. A node is connected
    while it has at least one."""

    def __init__(self) -> None:
        self._by_node: dict[int, list[QuorumConnection]] = {}

    @property
    def nodes(self) -> frozenset[int]:
        return frozenset(self._by_node)

    def add(self, node_id: int, connection: QuorumConnection) -> bool:
        """Link ``connection``; True when it is the node's first."""
        links = self._by_node.setdefault(node_id, [])
        links.append(connection)
        return len(links) == 1

    def remove(self, node_id: int, connection: QuorumConnection) -> bool:
        """Unlink ``connection``; True when it was the node's last."""
        links = self._by_node.get(node_id, [])
        if connection in links:
            links.remove(connection)
        if links:
            return False
        return self._by_node.pop(node_id, None) is not None

    def route(self, node_id: int) -> QuorumConnection | None:
        """The newest open connection we dialled to the node, else its newest open
        connection to us."""
        best = None
        for connection in self._by_node.get(node_id, ()):
            if not connection.closed and (best is None or connection.outbound or not best.outbound):
                best = connection
        return best


class RateLimitedLog:
    """Logs a warning once per reason per ``interval_s``; repeats within the interval go
    to DEBUG, and the next warning says how many there were. Reasons are a small fixed
    set (refusal keys), so the memory is bounded."""

    def __init__(
        self, logger: logging.Logger, clock: Callable[[], float], interval_s: float
    ) -> None:
        self._logger = logger
        self._clock = clock
        self._interval_s = interval_s
        self._next_warning: dict[str, float] = {}
        self._suppressed: Counter[str] = Counter()

    def warning(self, reason: str, message: str, *args: Any) -> None:
        now = self._clock()
        if now >= self._next_warning.get(reason, float("-inf")):
            suppressed = self._suppressed.pop(reason, 0)
            if suppressed:
                message += f" ({suppressed} more like it since the last warning)"
            self._logger.warning(message, *args)
            self._next_warning[reason] = now + self._interval_s
        else:
            self._suppressed[reason] += 1
            self._logger.debug(message, *args)
