"""KafkaConnection with an in-memory transport and a fake dispatcher: how a connection
ends (mid-frame, by the broker, with a request still waiting)."""

from __future__ import annotations

import asyncio
import inspect
import struct
from typing import Any

from broker.metrics.stats import BrokerStats
from broker.network.connection import KafkaConnection
from broker.server.context import RawBody, RequestContext
from broker.server.dispatch import Dispatched, ProtocolViolation


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closing = False
        self.lost = asyncio.Event()  # set once the protocol was told the connection is gone
        self.protocol: KafkaConnection | None = None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 5555) if name == "peername" else default

    def writelines(self, data: Any) -> None:
        self.written.extend(bytes(d) for d in data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            asyncio.get_running_loop().call_soon(self._report_lost)  # as a real transport

    def _report_lost(self) -> None:
        assert self.protocol is not None
        self.protocol.connection_lost(None)
        self.lost.set()

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class FakeDispatcher:
    """Answers every frame; frames starting with b"wait" get a reply that never comes
    by itself, frames starting with b"bad" are protocol violations."""

    def __init__(self) -> None:
        self.pending: list[Any] = []
        self.waiting = asyncio.Event()  # a b"wait" reply has started waiting

    def dispatch(self, frame: bytes, principal: str, client_address: str) -> Dispatched:
        if frame.startswith(b"bad"):
            raise ProtocolViolation("header", "bad frame")
        ctx = RequestContext(None, principal, client_address)  # type: ignore[arg-type]
        if frame.startswith(b"wait"):
            reply = self._wait_forever()
            self.pending.append(reply)
            return Dispatched(ctx, "join_group", reply)
        return Dispatched(ctx, "metadata", RawBody([b"ok"]))

    async def _wait_forever(self) -> RawBody:
        self.waiting.set()
        await asyncio.Event().wait()
        return RawBody([b"never"])

    def encode(self, dispatched: Dispatched, reply: Any) -> list[bytes]:
        return [b"answer"]


def _feed(connection: KafkaConnection, data: bytes) -> None:
    """Deliver ``data`` the way a transport does to a buffered protocol."""
    while data:
        buffer = connection.get_buffer(len(data))
        n = min(len(buffer), len(data))
        buffer[:n] = data[:n]
        connection.buffer_updated(n)
        data = data[n:]


def _frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


async def _until_closed(coroutine: Any, loop_turns: int = 100) -> None:
    """Let the loop run (turns, not time) until ``coroutine`` is closed."""
    for _ in range(loop_turns):
        if inspect.getcoroutinestate(coroutine) == inspect.CORO_CLOSED:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"still {inspect.getcoroutinestate(coroutine)} after {loop_turns} turns")


def _connect(stats: BrokerStats) -> tuple[KafkaConnection, FakeTransport, FakeDispatcher]:
    dispatcher = FakeDispatcher()
    connection = KafkaConnection(
        dispatcher,  # type: ignore[arg-type]
        stats,
        max_request_bytes=1024,
        max_inflight=8,
        on_close=lambda _: None,
    )
    transport = FakeTransport()
    transport.protocol = connection
    connection.connection_made(transport)
    return connection, transport, dispatcher


async def test_a_client_hanging_up_mid_frame_is_counted_as_truncated() -> None:
    stats = BrokerStats()
    connection, _, _ = _connect(stats)
    _feed(connection, _frame(b"hello") + struct.pack(">i", 100) + b"partial")
    connection.connection_lost(None)
    assert stats.malformed == {"truncated": 1}
    assert stats.connections_open == 0


async def test_a_client_hanging_up_between_frames_is_not_counted() -> None:
    stats = BrokerStats()
    connection, transport, _ = _connect(stats)
    _feed(connection, _frame(b"hello"))
    connection.connection_lost(None)
    assert stats.malformed == {}
    assert transport.written == [b"answer"]


async def test_a_connection_the_broker_closes_is_counted_once_with_its_reason() -> None:
    stats = BrokerStats()
    connection, transport, _ = _connect(stats)
    _feed(connection, _frame(b"bad") + struct.pack(">i", 100) + b"partial")
    await asyncio.wait_for(transport.lost.wait(), 30)  # the bound only stops a hang
    assert transport.closing
    assert stats.malformed == {"header": 1}


async def test_a_waiting_request_is_released_when_the_client_hangs_up_before_it_started() -> None:
    stats = BrokerStats()
    connection, _, dispatcher = _connect(stats)
    _feed(connection, _frame(b"wait"))
    connection.connection_lost(None)  # in the same loop turn: the handler never ran
    (reply,) = dispatcher.pending
    await _until_closed(reply)


async def test_a_waiting_request_is_cancelled_when_the_client_hangs_up() -> None:
    stats = BrokerStats()
    connection, _, dispatcher = _connect(stats)
    _feed(connection, _frame(b"wait"))
    await asyncio.wait_for(dispatcher.waiting.wait(), 30)
    connection.connection_lost(None)
    (reply,) = dispatcher.pending
    await _until_closed(reply)


async def test_a_client_hanging_up_in_the_middle_of_a_large_frame_is_counted_as_truncated() -> None:
    stats = BrokerStats()
    dispatcher = FakeDispatcher()
    connection = KafkaConnection(
        dispatcher,  # type: ignore[arg-type]
        stats,
        max_request_bytes=1 << 20,
        max_inflight=8,
        on_close=lambda _: None,
    )
    transport = FakeTransport()
    transport.protocol = connection
    connection.connection_made(transport)
    _feed(connection, struct.pack(">i", 500_000) + b"\x00" * 200_000)  # read in place
    connection.connection_lost(None)
    assert stats.malformed == {"truncated": 1}
