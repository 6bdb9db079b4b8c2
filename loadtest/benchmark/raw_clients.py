"""Raw protocol clients for the workloads librdkafka and redis-py cannot shape.

* ``closed_loop``: N connections, each with exactly one request in flight, sending the
  next request from the callback that received the previous reply. Used for the
  small-request workload with the same driver for both systems, so neither side pays
  for a different client. Requests are pre-encoded; only the Kafka correlation id is
  patched per request.
* ``mixed_load``: many connections producing and fetching at a low, paced rate
  (the memory workload).
* ``wait_for_metadata`` / ``wait_for_produce``: poll a (re)starting broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import hiredis

from loadtest.benchmark import kafka_wire, resp

__all__ = [
    "ClosedLoopResult",
    "KafkaProduceCodec",
    "MixedLoadResult",
    "RedisXaddCodec",
    "ReplyFailed",
    "closed_loop",
    "mixed_load",
    "run_async",
    "wait_for_metadata",
    "wait_for_produce",
    "wait_for_produce_on_any",
]

T = TypeVar("T")


class ReplyFailed(RuntimeError):
    """The server answered a request with an error."""


class RequestCodec(Protocol):
    def request(self) -> bytes | bytearray: ...

    def feed(self, data: bytes) -> int:
        """Consume received bytes; the number of complete successful replies.
        Raises ReplyFailed on an error reply."""
        ...


class KafkaProduceCodec:
    """Produce requests of one prebuilt batch to one partition, acks=1."""

    def __init__(self, topic: str, partition: int, value: bytes) -> None:
        batch = kafka_wire.record_batch(value, int(time.time() * 1000))
        self._frame = kafka_wire.produce_frame(topic, partition, batch, acks=1)
        self._splitter = kafka_wire.FrameSplitter()
        self._next_id = 0
        self._expected: list[int] = []

    def request(self) -> bytearray:
        self._next_id += 1
        kafka_wire.set_correlation_id(self._frame, self._next_id)
        self._expected.append(self._next_id)
        return self._frame

    def feed(self, data: bytes) -> int:
        frames = self._splitter.feed(data)
        for frame in frames:
            expected = self._expected.pop(0)
            got = kafka_wire.correlation_id(frame)
            if got != expected:
                raise ReplyFailed(f"correlation id {got} answered, {expected} expected")
            error = kafka_wire.produce_partition_error(frame)
            if error != 0:
                raise ReplyFailed(f"produce failed with Kafka error code {error}")
        return len(frames)


class RedisXaddCodec:
    """``XADD stream * v value`` requests, one round trip each."""

    def __init__(self, stream: str, value: bytes) -> None:
        self._command = resp.xadd(stream, value)
        self._reader = hiredis.Reader()

    def request(self) -> bytes:
        return self._command

    def feed(self, data: bytes) -> int:
        self._reader.feed(data)
        count = 0
        while (reply := self._reader.gets()) is not False:
            if isinstance(reply, hiredis.ReplyError):
                raise ReplyFailed(f"XADD failed: {reply}")
            count += 1
        return count


@dataclass
class _Counter:
    completed: int = 0
    stopping: bool = False
    error: str | None = None


class _ClosedLoopConnection(asyncio.Protocol):
    def __init__(self, codec: RequestCodec, counter: _Counter, done: asyncio.Future[None]) -> None:
        self._codec = codec
        self._counter = counter
        self._done = done
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._transport.write(self._codec.request())  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        counter = self._counter
        try:
            replies = self._codec.feed(data)
        except (ReplyFailed, ValueError) as exc:
            counter.error = counter.error or str(exc)
            self._finish()
            return
        if replies:
            counter.completed += replies
            if counter.stopping:
                self._finish()
            else:
                self._transport.write(self._codec.request())  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._counter.stopping and self._counter.error is None:
            self._counter.error = f"connection closed by the server ({exc or 'EOF'})"
        if not self._done.done():
            self._done.set_result(None)

    def _finish(self) -> None:
        if self._transport is not None:
            self._transport.close()
        if not self._done.done():
            self._done.set_result(None)


@dataclass(frozen=True, slots=True)
class ClosedLoopResult:
    requests: int
    seconds: float
    error: str | None

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds


async def closed_loop(
    port: int,
    codec_factory: Callable[[], RequestCodec],
    *,
    connections: int,
    warmup_s: float,
    duration_s: float,
    progress: Callable[[float], None] | None = None,
) -> ClosedLoopResult:
    """Count replies completed between ``warmup_s`` and ``warmup_s + duration_s``."""
    loop = asyncio.get_running_loop()
    counter = _Counter()
    done: list[asyncio.Future[None]] = []
    for _ in range(connections):
        finished: asyncio.Future[None] = loop.create_future()
        done.append(finished)
        codec = codec_factory()
        await loop.create_connection(
            lambda c=codec, f=finished: _ClosedLoopConnection(c, counter, f),  # type: ignore[misc]
            "127.0.0.1",
            port,
        )
    await asyncio.sleep(warmup_s)
    start_count, start = counter.completed, time.perf_counter()
    end = start + duration_s
    while (now := time.perf_counter()) < end and counter.error is None:
        if progress is not None:
            progress((now - start) / duration_s)
        await asyncio.sleep(min(0.1, end - now))
    count, elapsed = counter.completed - start_count, time.perf_counter() - start
    counter.stopping = True
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*done), 10.0)
    return ClosedLoopResult(count, elapsed, counter.error)


@dataclass(frozen=True, slots=True)
class MixedLoadResult:
    produced: int
    fetched: int
    seconds: float


async def _kafka_call(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, frame: bytearray, cid: int
) -> bytes:
    kafka_wire.set_correlation_id(frame, cid)
    writer.write(frame)
    size = int.from_bytes(await reader.readexactly(4), "big", signed=True)
    response = await reader.readexactly(size)
    if kafka_wire.correlation_id(response) != cid:
        raise ReplyFailed("response correlation id does not match the request")
    return response


async def mixed_load(
    port: int,
    topic: str,
    *,
    partitions: int,
    connections: int,
    requests_per_second: float,
    duration_s: float,
    value: bytes,
    deadline: float,
) -> MixedLoadResult:
    """Each connection owns partitions ``i, i+C, ...``: it first writes one record to
    each of them, then alternates Produce and Fetch (from offset 0) at a paced rate."""
    batch = kafka_wire.record_batch(value, int(time.time() * 1000))
    totals = {"produced": 0, "fetched": 0}
    interval_s = 2 * connections / requests_per_second  # one produce + one fetch per tick
    steady_end = time.monotonic() + duration_s

    async def one(index: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        owned = list(range(index, partitions, connections)) or [index % partitions]
        cid = 0
        try:
            for p in owned:  # touch every partition once
                cid += 1
                _check(
                    await _kafka_call(
                        reader, writer, kafka_wire.produce_frame(topic, p, batch), cid
                    )
                )
                totals["produced"] += 1
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        "memory workload: writing one record per partition took too long"
                    )
            tick = 0
            while time.monotonic() < min(steady_end, deadline):
                p = owned[tick % len(owned)]
                tick += 1
                cid += 1
                _check(
                    await _kafka_call(
                        reader, writer, kafka_wire.produce_frame(topic, p, batch), cid
                    )
                )
                fetch = kafka_wire.fetch_frame(topic, p, 0, max_wait_ms=0, max_bytes=64 * 1024)
                cid += 1
                response = await _kafka_call(reader, writer, fetch, cid)
                error = kafka_wire.fetch_partition_error(response)
                if error != 0:
                    raise ReplyFailed(f"fetch failed with Kafka error code {error}")
                totals["produced"] += 1
                totals["fetched"] += 1
                await asyncio.sleep(interval_s)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    started = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(connections)))
    return MixedLoadResult(totals["produced"], totals["fetched"], time.monotonic() - started)


def _check(produce_response: bytes) -> None:
    error = kafka_wire.produce_partition_error(produce_response)
    if error != 0:
        raise ReplyFailed(f"produce failed with Kafka error code {error}")


def _call_blocking(port: int, frame: bytearray, timeout_s: float) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        kafka_wire.set_correlation_id(frame, 1)
        sock.sendall(frame)
        splitter = kafka_wire.FrameSplitter()
        while True:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("closed before answering")
            frames = splitter.feed(data)
            if frames:
                return frames[0]


def _poll_until(
    attempt: Callable[[], bool], started: float, deadline: float, poll_s: float, what: str
) -> float:
    """Seconds from ``started`` (a ``time.perf_counter()``) to the first ``attempt()``
    that returns True; connection errors count as 'not yet'."""
    while time.perf_counter() < deadline:
        try:
            if attempt():
                return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(poll_s)
    raise TimeoutError(f"the broker did not {what} before the deadline")


def wait_for_metadata(
    port: int, topics: list[str], started: float, deadline: float, poll_s: float = 0.005
) -> float:
    """Until a Metadata request lists every topic in ``topics`` without error."""
    frame = kafka_wire.metadata_frame(topics)

    def attempt() -> bool:
        listed = kafka_wire.metadata_topic_partitions(_call_blocking(port, frame, 1.0))
        return all(listed.get(t, (-1, 0))[0] == 0 for t in topics)

    return _poll_until(attempt, started, deadline, poll_s, "answer Metadata")


def wait_for_produce(
    port: int, topic: str, started: float, deadline: float, poll_s: float = 0.005
) -> float:
    """Until one record produced to partition 0 of ``topic`` is acknowledged."""
    seconds, _ = wait_for_produce_on_any([port], topic, started, deadline, acks=1, poll_s=poll_s)
    return seconds


def wait_for_produce_on_any(
    ports: Sequence[int],
    topic: str,
    started: float,
    deadline: float,
    *,
    acks: int,
    partition: int = 0,
    poll_s: float = 0.005,
    request_timeout_ms: int = 4000,
) -> tuple[float, int]:
    """Until one record produced to ``partition`` of ``topic`` through one of ``ports`` is
    acknowledged: seconds from ``started`` and the port that acknowledged. Each round
    asks every port in turn (a broker that does not lead the partition answers
    NOT_LEADER_OR_FOLLOWER at once; one that is down refuses the connection)."""
    batch = kafka_wire.record_batch(b"produce probe", int(time.time() * 1000))
    frame = kafka_wire.produce_frame(
        topic, partition, batch, acks=acks, timeout_ms=request_timeout_ms
    )
    socket_timeout_s = request_timeout_ms / 1000 + 1.0
    acknowledged: list[int] = []

    def attempt() -> bool:
        for port in ports:
            try:
                answer = _call_blocking(port, frame, socket_timeout_s)
            except OSError:
                continue
            if kafka_wire.produce_partition_error(answer) == 0:
                acknowledged.append(port)
                return True
        return False

    seconds = _poll_until(attempt, started, deadline, poll_s, "acknowledge a produce")
    return seconds, acknowledged[0]


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on uvloop when it is installed (as the broker does), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)
