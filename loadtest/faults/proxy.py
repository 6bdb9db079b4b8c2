"""The fault proxy: one loopback TCP proxy for Kafka connections that injects network faults.

Put it between clients and a broker and advertise its address from the broker
(``--advertised``), so that the connections clients open after reading metadata go through
it too. It forwards Kafka frames both ways and, on demand:

- **latency**: every piece of a frame is delivered ``latency_seconds`` (plus up to
  ``jitter_seconds``, from a seeded generator) after it was read, in each direction, order
  kept; a round trip gains twice the latency, and frames read together are due together
  (they do not queue behind each other's delay);
- **dropped responses**: :meth:`FaultProxy.drop_responses` swallows the next N responses to
  requests of one API key (the broker did the work, the client never hears so), and by
  default closes that client connection right after, as a network failure would, so the
  client retries at once instead of waiting for its request timeout;
- **modes** (:data:`ProxyMode`): ``forward``; ``refuse`` closes new connections as soon as
  they are accepted and keeps open ones; ``reset`` aborts every open connection with a TCP
  RST and every new one too, as a crashed host or a rejecting firewall would;
  ``blackhole`` keeps connections open and loses every frame, as a network partition would
  (clients notice only through their timeouts), in one :data:`Direction` or both;
- :meth:`FaultProxy.reset_connections`: abort every open connection now (RST), mode kept;
- **isolated clients**: :meth:`FaultProxy.isolate_clients` blackholes, both ways, only the
  connections whose first request carries one of the given client ids (a broker's
  replica fetcher, say), while every other client is forwarded: a cut between brokers on
  a link their clients share;
- **TLS termination** with a server-side ``SSLContext``: a TLS listener in front of a
  plaintext broker;
- **request log**: ``on_request(api_key, api_version)`` is called for every request
  forwarded (on the proxy's loop), to see which versions clients negotiate.

Framing. The proxy reads Kafka's 4-byte size prefix and the header right after it
(requests: API key, version, correlation id; responses: correlation id; and the client
id of a connection's first request) and never the bodies; the rest of a frame is streamed
in chunks of at most 64 KiB, so a large fetch response is not buffered whole. Each
decision (forward, drop, blackhole) is taken once per frame, when its header arrives, so a
client only ever sees whole frames: a fault never cuts one in half, and the connection is
still well framed after :meth:`FaultProxy.restore`.

Partitions between brokers. TCP connections are two-way, so a directed partition is built
from one proxy per directed link (the connections broker A opens to broker B go through
the A->B proxy): ``reset`` and ``blackhole`` on that proxy cut A->B and leave B->A alone,
and a one-way blackhole (``requests`` or ``responses``) on one link gives an asymmetric
partition. Any number of proxies run side by side, on one event loop or each in its own
thread.

Concurrency. :class:`FaultProxy` runs on the caller's event loop: start, stop and every
control method run on that loop's thread. :class:`ThreadedFaultProxy` runs one on its own
loop in a daemon thread for synchronous callers; its methods may be called from any thread,
run on the proxy's loop and return once the change is in force.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import random
import socket
import ssl as ssl_module
import struct
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal, TypeVar

__all__ = ["Direction", "FaultProxy", "ProxyMode", "ProxyStats", "ThreadedFaultProxy"]

ProxyMode = Literal["forward", "refuse", "reset", "blackhole"]
Direction = Literal["requests", "responses", "both"]

_SIZE: Final = struct.Struct(">i")
_REQUEST_HEADER: Final = struct.Struct(">hhi")  # api key, api version, correlation id
_CLIENT_ID_SIZE: Final = struct.Struct(">h")  # request header v1+: nullable string length
_RESPONSE_HEADER: Final = struct.Struct(">i")  # correlation id
_CHUNK_BYTES: Final = 65_536
_LINGER_RESET: Final = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST
_T = TypeVar("_T")
RequestObserver = Callable[[int, int], None]  # (api key, api version)


@dataclass(slots=True)
class ProxyStats:
    """Counters since start. ``requests`` and ``dropped`` are keyed by API key."""

    accepted: int = 0
    refused: int = 0
    aborted: int = 0
    requests: dict[int, int] = field(default_factory=dict)
    dropped: dict[int, int] = field(default_factory=dict)  # by drop_responses
    frames_blackholed: int = 0
    bytes_forwarded: int = 0
    bytes_dropped: int = 0

    def snapshot(self) -> ProxyStats:
        return replace(self, requests=dict(self.requests), dropped=dict(self.dropped))


class _Verdict(enum.Enum):
    FORWARD = enum.auto()
    DROP = enum.auto()
    DROP_AND_CLOSE = enum.auto()


@dataclass(slots=True)
class _Drop:
    api_key: int
    remaining: int
    close: bool


def _abort(transport: asyncio.BaseTransport) -> None:
    """Close with a TCP RST (a plain abort sends FIN when nothing is left unread)."""
    if not transport.is_closing():  # a closed TLS transport has no socket left to ask
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    transport.abort()  # type: ignore[attr-defined]


class _Link:
    """One client connection and its upstream connection."""

    def __init__(self, client: asyncio.StreamWriter, upstream: asyncio.StreamWriter) -> None:
        self.writers = (client, upstream)
        self.inflight: dict[int, int] = {}  # correlation id -> api key
        self.client_id: str | None = None  # from the first request

    def close(self) -> None:
        for writer in self.writers:
            writer.close()

    def abort(self) -> None:
        for writer in self.writers:
            _abort(writer.transport)


class _Outbox:
    """Delivers one direction of one link in order, each chunk at its due time.

    The queue is unbounded: it holds the bytes "in flight", at most the read rate times the
    delay. Without a delay and with nothing queued, a chunk is written at once and the
    reader waits for the writer to drain (back-pressure from the receiving side).
    """

    def __init__(self, writer: asyncio.StreamWriter, link: _Link, proxy: FaultProxy) -> None:
        self._writer, self._link, self._stats = writer, link, proxy.stats
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        self._pending = 0
        self._broken = False
        self._task = proxy.spawn(self._deliver())

    async def send(self, data: bytes, delay_seconds: float) -> None:
        if delay_seconds <= 0 and self._pending == 0:
            await self._write(data)
            return
        self._pending += 1
        self._queue.put_nowait((self._loop.time() + delay_seconds, data))

    async def finish(self) -> None:
        """Deliver what is queued (unless the proxy is stopping), then return."""
        self._queue.put_nowait(None)
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _deliver(self) -> None:
        while (item := await self._queue.get()) is not None:
            due, data = item
            wait_seconds = due - self._loop.time()
            if wait_seconds > 0:
                await asyncio.sleep(wait_seconds)
            await self._write(data)
            self._pending -= 1

    async def _write(self, data: bytes) -> None:
        if self._broken:
            self._stats.bytes_dropped += len(data)
            return
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (ConnectionError, OSError):
            self._broken = True  # keep draining the queue so the reader never blocks
            self._link.close()
            return
        self._stats.bytes_forwarded += len(data)


class FaultProxy:
    """The proxy on the caller's event loop (see the module docstring for the faults).

    ``upstream`` may be set later with :meth:`set_upstream` (for example once a broker that
    advertises this proxy has bound its port); until then new connections are refused.
    """

    def __init__(
        self,
        upstream: tuple[str, int] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl: ssl_module.SSLContext | None = None,
        seed: int = 0,
        on_request: RequestObserver | None = None,
    ) -> None:
        self.upstream = upstream
        self.host = host
        self.port = port
        self.stats = ProxyStats()
        self._ssl = ssl
        self._on_request = on_request
        self._random = random.Random(seed)
        self._latency_seconds = 0.0
        self._jitter_seconds = 0.0
        self._mode: ProxyMode = "forward"
        self._blackholed: frozenset[str] = frozenset()
        self._drops: list[_Drop] = []
        self._isolated_clients: frozenset[str] = frozenset()
        self._links: set[_Link] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._accept, self.host, self.port, ssl=self._ssl)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        """Stop listening, abort every connection and wait for its tasks to end."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for link in list(self._links):
            link.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- control -------------------------------------------------------------------------
    @property
    def latency_seconds(self) -> float:
        return self._latency_seconds

    @property
    def jitter_seconds(self) -> float:
        return self._jitter_seconds

    @property
    def mode(self) -> ProxyMode:
        return self._mode

    @property
    def blackholed(self) -> frozenset[str]:
        """The directions whose frames are lost (``requests``, ``responses``)."""
        return self._blackholed

    @property
    def open_connections(self) -> int:
        return len(self._links)

    @property
    def drops_pending(self) -> int:
        return sum(d.remaining for d in self._drops)

    def set_upstream(self, host: str, port: int) -> None:
        self.upstream = (host, port)

    def set_latency(self, latency_seconds: float, jitter_seconds: float = 0.0) -> None:
        self._latency_seconds = max(0.0, latency_seconds)
        self._jitter_seconds = max(0.0, jitter_seconds)

    def set_mode(self, mode: ProxyMode, direction: Direction = "both") -> None:
        """Switch mode; ``direction`` says which way ``blackhole`` loses frames."""
        if direction != "both" and mode != "blackhole":
            raise ValueError(f"a direction applies to blackhole only, not to {mode}")
        self._mode = mode
        if mode != "blackhole":
            self._blackholed = frozenset()
        elif direction == "both":
            self._blackholed = frozenset({"requests", "responses"})
        else:
            self._blackholed = frozenset({direction})
        if mode == "reset":
            self.reset_connections()

    def reset_connections(self, client_ids: frozenset[str] | None = None) -> int:
        """Abort every open connection (only those of ``client_ids`` when given) with a
        RST; returns how many."""
        links = [x for x in self._links if client_ids is None or x.client_id in client_ids]
        for link in links:
            link.abort()
            self._links.discard(link)
        self.stats.aborted += len(links)
        return len(links)

    def drop_responses(self, api_key: int, count: int = 1, close: bool = True) -> None:
        """Swallow the next ``count`` responses to ``api_key`` requests, closing the
        client's connection after each when ``close``."""
        self._drops.append(_Drop(api_key, count, close))

    @property
    def isolated_clients(self) -> frozenset[str]:
        return self._isolated_clients

    def isolate_clients(self, client_ids: frozenset[str]) -> None:
        """Lose every frame, both ways, of the connections whose client id (that of
        their first request) is in ``client_ids``; others are untouched. Empty: none."""
        self._isolated_clients = frozenset(client_ids)

    def restore(self) -> None:
        """Plain forwarding again: no latency, mode ``forward``, no pending drops, no
        isolated clients."""
        self.set_latency(0.0)
        self.set_mode("forward")
        self._drops.clear()
        self._isolated_clients = frozenset()

    # --- forwarding ----------------------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._mode in ("reset", "refuse") or self.upstream is None:
            self.stats.refused += 1
            if self._mode == "refuse":
                writer.close()
            else:
                _abort(writer.transport)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            self.stats.refused += 1
            _abort(writer.transport)
            return
        self.stats.accepted += 1
        link = _Link(writer, up_writer)
        self._links.add(link)
        pumps = [
            self.spawn(self._pump(link, reader, up_writer, "requests")),
            self.spawn(self._pump(link, up_reader, writer, "responses")),
        ]
        await asyncio.gather(*pumps, return_exceptions=True)
        self._links.discard(link)

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """A task that :meth:`stop` cancels and waits for."""
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _pump(
        self,
        link: _Link,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        direction: Literal["requests", "responses"],
    ) -> None:
        """Read frames one way: size and header first, the verdict, then the rest in chunks."""
        outbox = _Outbox(writer, link, self)
        header_bytes = (_REQUEST_HEADER if direction == "requests" else _RESPONSE_HEADER).size
        try:
            while True:
                size_prefix = await reader.readexactly(_SIZE.size)
                (size,) = _SIZE.unpack(size_prefix)
                header = await reader.readexactly(min(max(size, 0), header_bytes))
                if direction == "requests" and link.client_id is None:
                    header += await self._read_client_id(link, reader, size - len(header))
                verdict = self._judge(link, direction, header)
                await self._pass(outbox, size_prefix + header, verdict)
                remaining = size - len(header)
                while remaining > 0:
                    chunk = await reader.read(min(remaining, _CHUNK_BYTES))
                    if not chunk:
                        return
                    remaining -= len(chunk)
                    await self._pass(outbox, chunk, verdict)
                if verdict is _Verdict.DROP_AND_CLOSE:
                    return
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            await outbox.finish()
            link.close()

    @staticmethod
    async def _read_client_id(link: _Link, reader: asyncio.StreamReader, left: int) -> bytes:
        """Read the client id after a request's fixed header; the bytes read, to forward."""
        if left < _CLIENT_ID_SIZE.size:
            link.client_id = ""
            return b""
        prefix = await reader.readexactly(_CLIENT_ID_SIZE.size)
        (length,) = _CLIENT_ID_SIZE.unpack(prefix)
        if length <= 0 or length > left - len(prefix):
            link.client_id = ""
            return prefix
        text = await reader.readexactly(length)
        link.client_id = text.decode(errors="replace")
        return prefix + text

    async def _pass(self, outbox: _Outbox, data: bytes, verdict: _Verdict) -> None:
        if verdict is not _Verdict.FORWARD:
            self.stats.bytes_dropped += len(data)
            return
        delay = self._latency_seconds
        if self._jitter_seconds:
            delay += self._random.uniform(0.0, self._jitter_seconds)
        await outbox.send(data, delay)

    def _judge(self, link: _Link, direction: str, header: bytes) -> _Verdict:
        if direction in self._blackholed or link.client_id in self._isolated_clients:
            self.stats.frames_blackholed += 1
            return _Verdict.DROP
        if direction == "requests":
            if len(header) >= _REQUEST_HEADER.size:
                api_key, version, correlation = _REQUEST_HEADER.unpack_from(header)
                link.inflight[correlation] = api_key
                self.stats.requests[api_key] = self.stats.requests.get(api_key, 0) + 1
                if self._on_request is not None:
                    self._on_request(api_key, version)
            return _Verdict.FORWARD
        if len(header) != _RESPONSE_HEADER.size:
            return _Verdict.FORWARD
        api_key = link.inflight.pop(_RESPONSE_HEADER.unpack(header)[0], None)
        for drop in self._drops:
            if drop.api_key == api_key and drop.remaining > 0:
                drop.remaining -= 1
                self._drops = [d for d in self._drops if d.remaining > 0]
                self.stats.dropped[api_key] = self.stats.dropped.get(api_key, 0) + 1
                return _Verdict.DROP_AND_CLOSE if drop.close else _Verdict.DROP
        return _Verdict.FORWARD


class ThreadedFaultProxy:
    """A :class:`FaultProxy` on its own event loop in a daemon thread, for sync callers.

    Every method may be called from any thread: changes run on the proxy's loop and are in
    force when the call returns. Reading a property is a plain read of the live proxy.
    """

    def __init__(
        self,
        upstream: tuple[str, int] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl: ssl_module.SSLContext | None = None,
        seed: int = 0,
        on_request: RequestObserver | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        self._proxy = FaultProxy(upstream, host, port, ssl, seed, on_request)
        self._timeout_seconds = timeout_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle (any thread) ----------------------------------------------------------
    def start(self) -> ThreadedFaultProxy:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        try:
            self._run(self._proxy.start())
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            self._run(self._proxy.stop())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(self._timeout_seconds)
            if not thread.is_alive():
                loop.close()
            self._loop = self._thread = None

    def __enter__(self) -> ThreadedFaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, coroutine: Coroutine[Any, Any, object]) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(self._timeout_seconds)

    def _call(self, action: Callable[[], _T]) -> _T:
        """Run ``action`` on the proxy's loop and return its result."""
        loop = self._loop
        if loop is None or threading.current_thread() is self._thread:
            return action()

        async def on_loop() -> _T:
            return action()

        return asyncio.run_coroutine_threadsafe(on_loop(), loop).result(self._timeout_seconds)

    # --- state (any thread) --------------------------------------------------------------
    @property
    def address(self) -> str:
        return self._proxy.address

    @property
    def port(self) -> int:
        return self._proxy.port

    @property
    def stats(self) -> ProxyStats:
        """A consistent copy of the counters."""
        return self._call(self._proxy.stats.snapshot)

    @property
    def latency_seconds(self) -> float:
        return self._proxy.latency_seconds

    @property
    def jitter_seconds(self) -> float:
        return self._proxy.jitter_seconds

    @property
    def mode(self) -> ProxyMode:
        return self._proxy.mode

    @property
    def blackholed(self) -> frozenset[str]:
        return self._proxy.blackholed

    @property
    def open_connections(self) -> int:
        return self._proxy.open_connections

    @property
    def drops_pending(self) -> int:
        return self._proxy.drops_pending

    # --- control (any thread) ------------------------------------------------------------
    def set_upstream(self, host: str, port: int) -> None:
        self._call(lambda: self._proxy.set_upstream(host, port))

    def set_latency(self, latency_seconds: float, jitter_seconds: float = 0.0) -> None:
        self._call(lambda: self._proxy.set_latency(latency_seconds, jitter_seconds))

    def set_mode(self, mode: ProxyMode, direction: Direction = "both") -> None:
        self._call(lambda: self._proxy.set_mode(mode, direction))

    def reset_connections(self, client_ids: frozenset[str] | None = None) -> int:
        return self._call(lambda: self._proxy.reset_connections(client_ids))

    def drop_responses(self, api_key: int, count: int = 1, close: bool = True) -> None:
        self._call(lambda: self._proxy.drop_responses(api_key, count, close))

    @property
    def isolated_clients(self) -> frozenset[str]:
        return self._proxy.isolated_clients

    def isolate_clients(self, client_ids: frozenset[str]) -> None:
        self._call(lambda: self._proxy.isolate_clients(client_ids))

    def restore(self) -> None:
        self._call(self._proxy.restore)
