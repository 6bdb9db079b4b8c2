"""A TCP proxy on loopback for network faults (asyncio, in its own thread).

Clients connect to the proxy; the broker advertises the proxy's address (its
``--advertised`` flag) so that every connection, including the ones clients open after
reading metadata, goes through it. The proxy forwards bytes both ways and can:

- add latency: every chunk is delivered ``latency`` (plus up to ``jitter``) after it was
  read, in each direction, in order (so a round trip gains twice the latency);
- ``reset``: abort every open connection (RST) and close new ones at once, as a broker
  that crashed or a firewall that rejects would;
- ``blackhole``: keep connections open but deliver nothing, as a network partition
  would (clients notice only through their timeouts);
- ``restore``: back to plain forwarding.

Thread-safety: the control methods may be called from any thread; they hand over to the
proxy's event loop. Only the proxy's own sockets are touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["ProxyMode", "ProxyStats", "TcpProxy"]

ProxyMode = Literal["forward", "reset", "blackhole"]
_CHUNK = 65_536


@dataclass
class ProxyStats:
    accepted: int = 0
    refused: int = 0
    aborted: int = 0
    bytes_forwarded: int = 0
    bytes_dropped: int = 0


@dataclass(eq=False)
class _Link:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def abort(self) -> None:
        for writer in (self.client, self.upstream):
            writer.transport.abort()
        for task in self.tasks:
            task.cancel()


class TcpProxy:
    def __init__(self, listen_host: str = "127.0.0.1", seed: int = 0) -> None:
        self.listen_host = listen_host
        self.port = 0
        self.upstream: tuple[str, int] | None = None
        self.latency_seconds = 0.0
        self.jitter_seconds = 0.0
        self.mode: ProxyMode = "forward"
        self.stats = ProxyStats()
        self._random = random.Random(seed)
        self._links: set[_Link] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def address(self) -> str:
        return f"{self.listen_host}:{self.port}"

    # --- lifecycle (any thread) ----------------------------------------------------------
    def start(self, timeout_seconds: float = 10.0) -> TcpProxy:
        self._thread = threading.Thread(target=self._run, name="tidewatch-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_seconds):
            raise RuntimeError("the proxy did not start")
        if self._error is not None:
            raise RuntimeError(f"the proxy did not start: {self._error}")
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(self._accept, self.listen_host, 0)
            )
            self.port = int(self._server.sockets[0].getsockname()[1])
        except OSError as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown())
            loop.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for link in list(self._links):
            link.abort()
        self._links.clear()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def close(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._thread = None

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- control (any thread) ------------------------------------------------------------
    def set_upstream(self, host: str, port: int) -> None:
        self.upstream = (host, port)

    def set_latency(self, latency_seconds: float, jitter_seconds: float = 0.0) -> None:
        self.latency_seconds = max(0.0, latency_seconds)
        self.jitter_seconds = max(0.0, jitter_seconds)

    def set_mode(self, mode: ProxyMode) -> None:
        self.mode = mode
        if mode == "reset" and self._loop is not None:
            done = threading.Event()

            def abort_all() -> None:
                for link in list(self._links):
                    link.abort()
                    self.stats.aborted += 1
                self._links.clear()
                done.set()

            self._loop.call_soon_threadsafe(abort_all)
            done.wait(5)

    def restore(self) -> None:
        self.set_latency(0.0)
        self.set_mode("forward")

    @property
    def open_connections(self) -> int:
        return len(self._links)

    # --- forwarding (proxy thread) -------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "reset" or self.upstream is None:
            self.stats.refused += 1
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            self.stats.refused += 1
            writer.transport.abort()
            return
        self.stats.accepted += 1
        link = _Link(writer, up_writer)
        self._links.add(link)
        link.tasks = [
            asyncio.create_task(self._pipe(reader, up_writer, link)),
            asyncio.create_task(self._pipe(up_reader, writer, link)),
        ]
        await asyncio.gather(*link.tasks, return_exceptions=True)
        self._links.discard(link)
        for w in (writer, up_writer):
            with contextlib.suppress(Exception):
                w.close()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link
    ) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        sender = asyncio.create_task(self._deliver(queue, writer))
        try:
            while True:
                data = await reader.read(_CHUNK)
                if not data:
                    break
                if self.mode == "blackhole":
                    self.stats.bytes_dropped += len(data)
                    continue
                delay = self.latency_seconds
                if self.jitter_seconds:
                    delay += self._random.uniform(0, self.jitter_seconds)
                await queue.put((time.monotonic() + delay, data))
        except (ConnectionError, OSError):
            pass
        finally:
            await queue.put((0.0, b""))
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                await sender
            link.abort()

    async def _deliver(
        self, queue: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter
    ) -> None:
        while True:
            due, data = await queue.get()
            if not data:
                return
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if self.mode == "blackhole":
                self.stats.bytes_dropped += len(data)
                continue
            writer.write(data)
            self.stats.bytes_forwarded += len(data)
            await writer.drain()
