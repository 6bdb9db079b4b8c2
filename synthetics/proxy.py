"""A loopback TCP proxy for Kafka connections that injects faults on demand.

Put it between clients and a broker (advertise the proxy's address from the broker so
that clients stay on it after bootstrap) and then, while traffic flows:

- :meth:`FaultProxy.drop_responses`: swallow the next N responses to requests of one
  Kafka API (for example Produce: the broker wrote the batch, the client never hears
  so), optionally closing the client's connection right after, as a network failure
  would, so the client retries at once instead of waiting for its request timeout;
- ``latency_seconds``: delay every frame in both directions by that much (order kept);
- ``refuse``: close new connections as soon as they are accepted;
- :meth:`FaultProxy.reset_connections`: close every open connection.

With ``ssl`` (a server-side ``SSLContext``) the proxy also terminates TLS, which puts a
TLS listener in front of a plaintext broker (how the probe's TLS settings are tested).

The proxy reads Kafka's framing (a 4-byte size before each request and response) and,
to know which API a response answers, the request header (API key, version and
correlation id); it never decodes bodies. It is used by the probe tests and meant for
load-test faults as well.

Concurrency: one asyncio task per direction per connection, all on the caller's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl as ssl_module
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["FaultProxy", "ProxyStats"]

Upstream = tuple[str, int] | Callable[[], tuple[str, int]]


@dataclass(slots=True)
class ProxyStats:
    connections: int = 0
    refused: int = 0
    requests: dict[int, int] = field(default_factory=dict)  # api key -> requests seen
    dropped: dict[int, int] = field(default_factory=dict)  # api key -> responses dropped


@dataclass(slots=True)
class _Drop:
    api_key: int
    remaining: int
    close: bool


class _Link:
    """One client connection and its upstream connection."""

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        self.inflight: dict[int, int] = {}  # correlation id -> api key
        self.writers: list[asyncio.StreamWriter] = []
        self.closed = asyncio.Event()

    def close(self) -> None:
        for writer in self.writers:
            writer.close()
        self.closed.set()


class FaultProxy:
    def __init__(
        self,
        upstream: Upstream,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        self._upstream = upstream
        self._ssl = ssl
        self.host = host
        self.port = port
        self.latency_seconds = 0.0
        self.refuse = False
        self.stats = ProxyStats()
        self._drops: list[_Drop] = []
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._accept, self.host, self.port, ssl=self._ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.reset_connections()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def drop_responses(self, api_key: int, count: int = 1, close: bool = True) -> None:
        """Swallow the next ``count`` responses to ``api_key`` requests (then close the
        client connection when ``close``)."""
        self._drops.append(_Drop(api_key, count, close))

    @property
    def drops_pending(self) -> int:
        return sum(d.remaining for d in self._drops)

    def reset_connections(self) -> None:
        for link in list(self._links):
            link.close()

    # -- plumbing ------------------------------------------------------------------------
    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refuse:
            self.stats.refused += 1
            writer.close()
            return
        upstream = self._upstream() if callable(self._upstream) else self._upstream
        try:
            up_reader, up_writer = await asyncio.open_connection(*upstream)
        except OSError:
            writer.close()
            return
        self.stats.connections += 1
        link = _Link(self)
        link.writers = [writer, up_writer]
        self._links.add(link)
        self._spawn(self._pump(link, reader, up_writer, requests=True))
        self._spawn(self._pump(link, up_reader, writer, requests=False))
        await link.closed.wait()
        self._links.discard(link)

    async def _pump(
        self,
        link: _Link,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        requests: bool,
    ) -> None:
        """Read frames as they come (stamping their arrival) while a writer task sends
        each one ``latency_seconds`` after its arrival, in order."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        sender = asyncio.ensure_future(self._send(link, queue, writer))
        try:
            while True:
                head = await reader.readexactly(4)
                (size,) = struct.unpack(">i", head)
                body = await reader.readexactly(size)
                if requests:
                    self._note_request(link, body)
                elif self._should_drop(link, body):
                    continue
                queue.put_nowait((loop.time(), head + body))
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            link.close()

    async def _send(
        self,
        link: _Link,
        queue: asyncio.Queue[tuple[float, bytes] | None],
        writer: asyncio.StreamWriter,
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            while (item := await queue.get()) is not None:
                arrived, frame = item
                delay = arrived + self.latency_seconds - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                writer.write(frame)
                await writer.drain()
        except (ConnectionError, OSError):
            link.close()

    def _note_request(self, link: _Link, body: bytes) -> None:
        if len(body) < 8:
            return
        api_key, _version, correlation = struct.unpack(">hhi", body[:8])
        link.inflight[correlation] = api_key
        self.stats.requests[api_key] = self.stats.requests.get(api_key, 0) + 1

    def _should_drop(self, link: _Link, body: bytes) -> bool:
        if len(body) < 4:
            return False
        (correlation,) = struct.unpack(">i", body[:4])
        api_key = link.inflight.pop(correlation, None)
        for drop in self._drops:
            if drop.api_key == api_key and drop.remaining > 0:
                drop.remaining -= 1
                self.stats.dropped[api_key] = self.stats.dropped.get(api_key, 0) + 1
                if drop.close:
                    link.close()
                self._drops = [d for d in self._drops if d.remaining > 0]
                return True
        return False
