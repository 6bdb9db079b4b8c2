"""A TCP proxy in front of the broker that records the API key and version of every
request passing through, to see which versions each client actually negotiates.

Clients learn broker addresses from Metadata, so the broker must advertise the proxy
(``--advertised``): start the proxy, start the broker advertising ``proxy.address``,
then ``proxy.forward_to(broker port)``. Bytes are forwarded untouched; the recorder
only reads request headers. Threads are daemons; ``close`` shuts every socket.
"""

from __future__ import annotations

import socket
import struct
import threading

__all__ = ["RecordingProxy"]

_HEADER = struct.Struct(">ihh")  # frame size, api key, api version


class RecordingProxy:
    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._target: tuple[str, int] | None = None
        self._lock = threading.Lock()
        self._seen: list[tuple[int, int]] = []
        self._sockets: list[socket.socket] = []
        self._closed = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def forward_to(self, port: int) -> None:
        self._target = ("127.0.0.1", port)

    def take(self) -> list[tuple[int, int]]:
        """The (api key, version) of every request since the last call, in order of
        arrival per connection."""
        with self._lock:
            seen, self._seen = self._seen, []
        return seen

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
        self._acceptor.join(2)

    # -- plumbing ----------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            if self._target is None:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, requests: bool) -> None:
        pending = bytearray()
        try:
            while True:
                chunk = source.recv(1 << 16)
                if not chunk:
                    break
                if requests:
                    pending += chunk
                    self._record(pending)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _record(self, pending: bytearray) -> None:
        while len(pending) >= _HEADER.size:
            size, api_key, version = _HEADER.unpack_from(pending, 0)
            if len(pending) < 4 + size:
                return
            with self._lock:
                self._seen.append((api_key, version))
            del pending[: 4 + size]
