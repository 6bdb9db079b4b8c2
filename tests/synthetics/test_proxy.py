"""The fault proxy on its own, in front of a tiny frame-echo server: frames pass through
intact and in order; dropped responses, latency, refused and reset connections."""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import AsyncIterator

import pytest

from synthetics.proxy import FaultProxy

PRODUCE, METADATA = 0, 3


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer each request frame with a response frame: correlation id + the request body."""
    try:
        while True:
            (size,) = struct.unpack(">i", await reader.readexactly(4))
            body = await reader.readexactly(size)
            response = body[4:8] + body
            writer.write(struct.pack(">i", len(response)) + response)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


@pytest.fixture
async def proxy() -> AsyncIterator[FaultProxy]:
    server = await asyncio.start_server(_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with FaultProxy(("127.0.0.1", port)) as p:
        yield p
    server.close()
    await server.wait_closed()


def _request(api_key: int, correlation: int, payload: bytes = b"") -> bytes:
    body = struct.pack(">hhi", api_key, 0, correlation) + payload
    return struct.pack(">i", len(body)) + body


async def _response(reader: asyncio.StreamReader) -> int:
    (size,) = struct.unpack(">i", await reader.readexactly(4))
    body = await reader.readexactly(size)
    return int(struct.unpack(">i", body[:4])[0])


async def test_frames_pass_through_intact_and_in_order(proxy: FaultProxy) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"".join(_request(METADATA, i, b"x" * i) for i in range(50)))
    assert [await _response(reader) for _ in range(50)] == list(range(50))
    assert proxy.stats.requests == {METADATA: 50}
    writer.close()


async def test_dropped_responses_are_only_those_of_the_chosen_api_then_the_link_closes(
    proxy: FaultProxy,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    proxy.drop_responses(PRODUCE, count=1, close=False)
    writer.write(_request(METADATA, 1) + _request(PRODUCE, 2) + _request(METADATA, 3))
    assert [await _response(reader), await _response(reader)] == [1, 3]
    assert proxy.stats.dropped == {PRODUCE: 1}
    proxy.drop_responses(PRODUCE, count=1, close=True)
    writer.write(_request(PRODUCE, 4))
    assert await reader.read() == b""  # dropped, and the connection closed
    assert proxy.drops_pending == 0
    writer.close()


async def test_latency_delays_each_frame_without_queueing_behind_the_previous(
    proxy: FaultProxy,
) -> None:
    proxy.latency_seconds = 0.2
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    started = time.monotonic()
    writer.write(b"".join(_request(METADATA, i) for i in range(5)))
    for i in range(5):
        assert await _response(reader) == i
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 1.6  # each way once (0.4 s), not five times over (2 s)
    writer.close()


async def test_refused_and_reset_connections_are_closed(proxy: FaultProxy) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(_request(METADATA, 1))
    assert await _response(reader) == 1
    proxy.reset_connections()
    assert await reader.read() == b""
    writer.close()
    proxy.refuse = True
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    assert await reader.read() == b""
    assert proxy.stats.refused == 1
    writer.close()
