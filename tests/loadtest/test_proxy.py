"""The fault proxy in front of a small Kafka-framed echo server on 127.0.0.1: frames pass
intact and in order; latency, dropped responses, refused, reset and blackholed connections
(both ways or one), TLS termination; the threaded runner controlled from other threads, and
the network faults undone through it.

No test measures speed: latency is checked with lower bounds only (plus one upper bound
an order of magnitude away from the behaviour it excludes), and "nothing arrives" is shown
by what arrives next, not by waiting for a timeout."""

from __future__ import annotations

import asyncio
import socketserver
import ssl
import struct
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from loadtest.faults.faults import ProxyDrop, ProxyLatency
from loadtest.faults.proxy import FaultProxy, ThreadedFaultProxy
from tests.support.tls import self_signed_certificate

PRODUCE, METADATA = 0, 3
_SIZE = struct.Struct(">i")


class _FrameEcho(socketserver.BaseRequestHandler):
    """Answers each request frame with a response frame: its correlation id, then the
    whole request; counts the requests it read."""

    server: _EchoServer

    def handle(self) -> None:
        try:
            while head := self._read(4):
                body = self._read(_SIZE.unpack(head)[0])
                with self.server.lock:
                    self.server.requests += 1
                response = body[4:8] + body
                self.request.sendall(_SIZE.pack(len(response)) + response)
        except OSError:
            pass

    def _read(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.request.recv(size - len(data))
            if not chunk:
                return b""
            data += chunk
        return data


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _FrameEcho)
        self.lock = threading.Lock()
        self.requests = 0


@pytest.fixture
def echo() -> Iterator[_EchoServer]:
    server = _EchoServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def proxy(echo: _EchoServer) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(("127.0.0.1", echo.server_address[1])) as p:
        yield p


def _request(api_key: int, correlation: int, payload: bytes = b"") -> bytes:
    body = struct.pack(">hhi", api_key, 0, correlation) + payload
    return _SIZE.pack(len(body)) + body


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(correlation id, the request echoed back) of the next response."""
    (size,) = _SIZE.unpack(await reader.readexactly(4))
    body = await reader.readexactly(size)
    return int(struct.unpack(">i", body[:4])[0]), body[4:]


async def _correlation(reader: asyncio.StreamReader) -> int:
    return (await _response(reader))[0]


async def _until(condition: Callable[[], bool], what: str) -> None:
    """Wait for a state; the deadline only bounds a hang."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.01)


async def _connect(p: FaultProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", p.port)


async def test_frames_pass_through_intact_and_in_order_even_when_larger_than_a_chunk(
    proxy: FaultProxy,
) -> None:
    reader, writer = await _connect(proxy)
    payloads = [bytes([i]) * (i * 7_919) for i in range(40)]  # up to ~300 KiB
    writer.write(b"".join(_request(METADATA, i, p) for i, p in enumerate(payloads)))
    for i, payload in enumerate(payloads):
        correlation, echoed = await _response(reader)
        assert correlation == i
        assert echoed[8:] == payload
    assert proxy.stats.requests == {METADATA: 40}
    assert proxy.stats.accepted == 1
    writer.close()


async def test_the_request_log_sees_each_requests_api_key_and_version(
    echo: _EchoServer,
) -> None:
    seen: list[tuple[int, int]] = []
    upstream = ("127.0.0.1", echo.server_address[1])
    async with FaultProxy(upstream, on_request=lambda *key: seen.append(key)) as p:
        reader, writer = await _connect(p)
        writer.write(_request(METADATA, 1) + struct.pack(">ihhi", 8, PRODUCE, 9, 2))
        assert [await _correlation(reader), await _correlation(reader)] == [1, 2]
        writer.close()
    assert seen == [(METADATA, 0), (PRODUCE, 9)]


async def test_dropped_responses_are_only_those_of_the_chosen_api_then_the_link_closes(
    proxy: FaultProxy,
) -> None:
    reader, writer = await _connect(proxy)
    proxy.drop_responses(PRODUCE, count=1, close=False)
    writer.write(_request(METADATA, 1) + _request(PRODUCE, 2) + _request(METADATA, 3))
    assert [await _correlation(reader), await _correlation(reader)] == [1, 3]
    assert proxy.stats.dropped == {PRODUCE: 1}
    proxy.drop_responses(PRODUCE, count=1, close=True)
    writer.write(_request(PRODUCE, 4))
    assert await reader.read() == b""  # dropped, and the connection closed
    assert proxy.drops_pending == 0
    writer.close()


async def test_latency_delays_each_direction_and_frames_read_together_are_due_together(
    proxy: FaultProxy,
) -> None:
    latency_seconds, frames = 0.5, 64
    proxy.set_latency(latency_seconds)
    reader, writer = await _connect(proxy)
    started = time.monotonic()
    writer.write(b"".join(_request(METADATA, i) for i in range(frames)))
    assert [await _correlation(reader) for _ in range(frames)] == list(range(frames))
    elapsed = time.monotonic() - started
    assert elapsed >= 2 * latency_seconds, "once each way"
    # Delays queued one behind the other would take frames x latency (32 s) each way.
    assert elapsed < frames * latency_seconds
    proxy.set_latency(0.0)
    writer.close()


async def test_jitter_comes_on_top_of_the_latency_and_keeps_the_order(
    proxy: FaultProxy,
) -> None:
    proxy.set_latency(0.05, jitter_seconds=0.1)
    reader, writer = await _connect(proxy)
    started = time.monotonic()
    writer.write(b"".join(_request(METADATA, i) for i in range(20)))
    assert [await _correlation(reader) for _ in range(20)] == list(range(20))
    assert time.monotonic() - started >= 0.1
    writer.close()


async def test_refuse_closes_new_connections_and_keeps_open_ones(proxy: FaultProxy) -> None:
    reader, writer = await _connect(proxy)
    proxy.set_mode("refuse")
    refused_reader, refused_writer = await _connect(proxy)
    assert await refused_reader.read() == b""
    assert proxy.stats.refused == 1
    writer.write(_request(METADATA, 1))
    assert await _correlation(reader) == 1
    for w in (writer, refused_writer):
        w.close()


async def test_reset_aborts_open_connections_with_a_rst_and_new_ones_until_restored(
    proxy: FaultProxy,
) -> None:
    reader, writer = await _connect(proxy)
    writer.write(_request(METADATA, 1))
    assert await _correlation(reader) == 1
    proxy.set_mode("reset")
    with pytest.raises(ConnectionResetError):
        await reader.read()
    again_reader, again_writer = await _connect(proxy)
    with pytest.raises(ConnectionResetError):
        await again_reader.read()
    assert (proxy.stats.aborted, proxy.stats.refused) == (1, 1)
    proxy.restore()
    fresh_reader, fresh_writer = await _connect(proxy)
    fresh_writer.write(_request(METADATA, 2))
    assert await _correlation(fresh_reader) == 2
    for w in (writer, again_writer, fresh_writer):
        w.close()


async def test_reset_connections_aborts_the_open_ones_and_accepts_new_ones(
    proxy: FaultProxy,
) -> None:
    reader, writer = await _connect(proxy)
    writer.write(_request(METADATA, 1))
    assert await _correlation(reader) == 1
    assert proxy.reset_connections() == 1
    with pytest.raises(ConnectionResetError):
        await reader.read()
    fresh_reader, fresh_writer = await _connect(proxy)
    fresh_writer.write(_request(METADATA, 2))
    assert await _correlation(fresh_reader) == 2
    for w in (writer, fresh_writer):
        w.close()


@pytest.mark.parametrize(
    ("direction", "upstream_reads_it"),
    [("both", False), ("requests", False), ("responses", True)],
    ids=[
        "a blackhole both ways loses the request",
        "a blackhole on requests loses the request",
        "a blackhole on responses lets the request through and loses its answer",
    ],
)
async def test_a_blackhole_loses_whole_frames_and_the_connection_stays_well_framed(
    proxy: FaultProxy, echo: _EchoServer, direction: str, upstream_reads_it: bool
) -> None:
    reader, writer = await _connect(proxy)
    writer.write(_request(METADATA, 1))
    assert await _correlation(reader) == 1
    proxy.set_mode("blackhole", direction)  # type: ignore[arg-type]
    writer.write(_request(METADATA, 2, b"lost" * 30_000))
    await _until(lambda: proxy.stats.frames_blackholed == 1, "one frame blackholed")
    assert echo.requests == (2 if upstream_reads_it else 1)
    proxy.restore()
    writer.write(_request(METADATA, 3))
    assert await _correlation(reader) == 3, "the next answer is the next request's"
    assert proxy.stats.bytes_dropped >= 120_000
    writer.close()


def _with_client_id(api_key: int, correlation: int, client_id: str) -> bytes:
    name = client_id.encode()
    return _request(api_key, correlation, struct.pack(">h", len(name)) + name)


async def test_isolated_clients_lose_their_frames_while_other_clients_are_forwarded(
    proxy: FaultProxy, echo: _EchoServer
) -> None:
    fetcher_reader, fetcher = await _connect(proxy)
    client_reader, client = await _connect(proxy)
    fetcher.write(_with_client_id(METADATA, 1, "tidewatch-replica-fetcher-2"))
    client.write(_with_client_id(METADATA, 1, "rdkafka"))
    assert await _correlation(fetcher_reader) == await _correlation(client_reader) == 1
    proxy.isolate_clients(frozenset({"tidewatch-replica-fetcher-2"}))
    fetcher.write(_request(METADATA, 2))
    await _until(lambda: proxy.stats.frames_blackholed == 1, "the fetcher's frame lost")
    client.write(_request(METADATA, 2))
    assert await _correlation(client_reader) == 2
    assert echo.requests == 3
    proxy.restore()
    fetcher.write(_request(METADATA, 3))
    assert await _correlation(fetcher_reader) == 3, "the next answer is the next request's"
    fetcher.close()
    client.close()


def test_a_direction_is_refused_for_modes_other_than_blackhole() -> None:
    with pytest.raises(ValueError, match="blackhole only"):
        FaultProxy().set_mode("reset", "requests")


async def test_connections_are_refused_until_an_upstream_is_set(echo: _EchoServer) -> None:
    async with FaultProxy() as p:
        reader, writer = await _connect(p)
        with pytest.raises(ConnectionResetError):
            await reader.read()
        writer.close()
        p.set_upstream("127.0.0.1", echo.server_address[1])
        reader, writer = await _connect(p)
        writer.write(_request(METADATA, 1))
        assert await _correlation(reader) == 1
        writer.close()


async def test_the_proxy_terminates_tls_in_front_of_a_plaintext_server(
    echo: _EchoServer, tmp_path: Path
) -> None:
    cert, key = self_signed_certificate(tmp_path)
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    client_side = ssl.create_default_context(cafile=str(cert))
    async with FaultProxy(("127.0.0.1", echo.server_address[1]), ssl=server_side) as p:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", p.port, ssl=client_side, server_hostname="localhost"
        )
        writer.write(_request(METADATA, 7, b"secret"))
        correlation, echoed = await _response(reader)
        assert (correlation, echoed[8:]) == (7, b"secret")
        writer.close()


# --- the threaded runner -------------------------------------------------------------------


@pytest.fixture
def threaded(echo: _EchoServer) -> Iterator[ThreadedFaultProxy]:
    with ThreadedFaultProxy(("127.0.0.1", echo.server_address[1])) as p:
        yield p


async def test_the_threaded_proxy_switches_modes_from_any_thread(
    threaded: ThreadedFaultProxy,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", threaded.port)
    writer.write(_request(METADATA, 1))
    assert await _correlation(reader) == 1
    await asyncio.to_thread(threaded.set_mode, "reset")
    with pytest.raises(ConnectionResetError):
        await reader.read()
    assert threaded.stats.aborted == 1
    await asyncio.to_thread(threaded.restore)
    reader, writer = await asyncio.open_connection("127.0.0.1", threaded.port)
    writer.write(_request(METADATA, 2))
    assert await _correlation(reader) == 2
    writer.close()


async def test_proxies_side_by_side_fail_independently(echo: _EchoServer) -> None:
    upstream = ("127.0.0.1", echo.server_address[1])
    with ThreadedFaultProxy(upstream) as cut, ThreadedFaultProxy(upstream) as healthy:
        cut.set_mode("blackhole")
        cut_reader, cut_writer = await asyncio.open_connection("127.0.0.1", cut.port)
        reader, writer = await asyncio.open_connection("127.0.0.1", healthy.port)
        cut_writer.write(_request(METADATA, 1))
        writer.write(_request(METADATA, 2))
        assert await _correlation(reader) == 2
        await _until(lambda: cut.stats.frames_blackholed == 1, "the cut link lost the frame")
        assert healthy.stats.frames_blackholed == 0
        for w in (cut_writer, writer):
            w.close()


async def test_network_faults_set_the_proxy_and_are_undone(
    threaded: ThreadedFaultProxy,
) -> None:
    with ProxyLatency(threaded, latency_ms=100, jitter_ms=10):
        assert (threaded.latency_seconds, threaded.jitter_seconds) == (0.1, 0.01)
        reader, writer = await asyncio.open_connection("127.0.0.1", threaded.port)
        started = time.monotonic()
        writer.write(_request(METADATA, 1))
        assert await _correlation(reader) == 1
        assert time.monotonic() - started >= 0.2, "100 ms each way"
    assert threaded.latency_seconds == 0
    with ProxyDrop(threaded, "blackhole", "responses") as drop:
        assert drop.describe() == "network-drop (blackhole responses)"
        assert threaded.blackholed == {"responses"}
    assert (threaded.mode, threaded.blackholed) == ("forward", frozenset())
    writer.close()
