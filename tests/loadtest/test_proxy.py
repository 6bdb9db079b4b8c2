"""The loopback TCP proxy: forwards both ways, adds latency, drops connections, and
forwards again when restored (a real echo server on 127.0.0.1)."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from loadtest.faults.faults import ProxyDrop, ProxyLatency
from loadtest.faults.proxy import TcpProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    server = _Server(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    p = TcpProxy().start()
    p.set_upstream("127.0.0.1", server.server_address[1])
    try:
        yield p
    finally:
        p.close()
        server.shutdown()
        server.server_close()


def connect(p: TcpProxy) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def round_trip(s: socket.socket, payload: bytes = b"ping") -> float:
    started = time.monotonic()
    s.sendall(payload)
    received = b""
    while len(received) < len(payload):
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        received += chunk
    assert received == payload
    return time.monotonic() - started


def test_bytes_go_through_unchanged(proxy: TcpProxy) -> None:
    with connect(proxy) as s:
        round_trip(s, bytes(range(256)) * 1000)


def test_latency_is_added_in_each_direction_and_removed_by_undo(proxy: TcpProxy) -> None:
    with connect(proxy) as s:
        base = round_trip(s)
        with ProxyLatency(proxy, latency_ms=100):
            slow = round_trip(s)
        after = round_trip(s)
    assert slow >= 0.2, "100 ms each way is at least 200 ms per round trip"
    assert base < 0.1
    assert after < 0.1


def test_reset_aborts_open_connections_and_refuses_new_ones_until_undone(proxy: TcpProxy) -> None:
    s = connect(proxy)
    round_trip(s)
    with ProxyDrop(proxy, "reset"):
        with pytest.raises(OSError):
            round_trip(s)
        with pytest.raises(OSError), connect(proxy) as again:
            round_trip(again)
    s.close()
    with connect(proxy) as fresh:
        round_trip(fresh)
    assert proxy.stats.aborted >= 1
    assert proxy.stats.refused >= 1


def test_blackhole_keeps_connections_open_but_delivers_nothing(proxy: TcpProxy) -> None:
    with connect(proxy) as s:
        s.settimeout(0.5)
        with ProxyDrop(proxy, "blackhole"):
            s.sendall(b"lost")
            with pytest.raises(TimeoutError):
                s.recv(10)
        s.settimeout(5)
        round_trip(s)
    assert proxy.stats.bytes_dropped >= 4
