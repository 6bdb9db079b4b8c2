"""The Redis Streams peer: the same workloads as the broker's, against ``redis-server``.

Two clients are offered. ``raw`` (the default) pipelines pre-encoded RESP commands
over a plain socket and parses replies with hiredis, so the client costs almost
nothing and the figure is Redis's own; ``redis-py`` uses redis-py's pipeline and
``xrange``, whose per-command Python cost roughly halved Redis's XADD rate on the
planning machine (about 100k instead of 175-200k msg/s). Every reply is checked:
an error reply fails the workload, and the stream length is compared with the count.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import hiredis

from loadtest.benchmark import resp
from loadtest.benchmark.tidewatch_side import ThroughputResult, WorkloadError

__all__ = [
    "REDIS_CLIENTS",
    "RespConnection",
    "consume_raw",
    "consume_redis_py",
    "produce_raw",
    "produce_redis_py",
]

REDIS_CLIENTS = ("raw", "redis-py")
Progress = Callable[[float], None]


class RespConnection:
    """A blocking RESP connection: send bytes, read a known number of replies."""

    def __init__(self, port: int, timeout_s: float = 30.0) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reader = hiredis.Reader()

    def __enter__(self) -> RespConnection:
        return self

    def __exit__(self, *_: object) -> None:
        self._sock.close()

    def send(self, data: bytes) -> None:
        self._sock.sendall(data)

    def replies(self, count: int) -> list[Any]:
        out: list[Any] = []
        reader, recv = self._reader, self._sock.recv
        while len(out) < count:
            reply = reader.gets()
            if reply is False:
                data = recv(1 << 22)
                if not data:
                    raise WorkloadError("redis-server closed the connection")
                reader.feed(data)
                continue
            if isinstance(reply, hiredis.ReplyError):
                raise WorkloadError(f"redis replied with an error: {reply}")
            out.append(reply)
        return out

    def call(self, *args: bytes | str | int) -> Any:
        self.send(resp.command(*args))
        return self.replies(1)[0]


def _check_length(conn: RespConnection, stream: str, count: int) -> None:
    length = conn.call(b"XLEN", stream)
    if length != count:
        raise WorkloadError(f"stream {stream} holds {length} entries, {count} were added")


def produce_raw(
    port: int,
    stream: str,
    *,
    count: int,
    value: bytes,
    pipeline: int,
    deadline: float,
    progress: Progress | None = None,
) -> ThroughputResult:
    """XADD ``count`` entries in pipelined batches of ``pipeline`` commands."""
    command = resp.xadd(stream, value)
    full_batch = command * pipeline
    with RespConnection(port) as conn:
        conn.call(b"DEL", stream)
        sent = 0
        started = time.perf_counter()
        while sent < count:
            n = min(pipeline, count - sent)
            conn.send(full_batch if n == pipeline else command * n)
            conn.replies(n)
            sent += n
            if progress is not None:
                progress(sent / count)
            if time.perf_counter() > deadline:
                raise WorkloadError(f"XADD did not finish in time ({sent} of {count})")
        seconds = time.perf_counter() - started
        _check_length(conn, stream, count)
    return ThroughputResult(count, count * len(value), seconds)


def consume_raw(
    port: int,
    stream: str,
    *,
    count: int,
    page: int,
    deadline: float,
    progress: Progress | None = None,
) -> ThroughputResult:
    """XRANGE the whole stream, ``page`` entries per call, from just after the last id."""
    with RespConnection(port) as conn:
        received = payload = 0
        start = b"-"
        started = time.perf_counter()
        while received < count:
            entries = conn.call(b"XRANGE", stream, start, b"+", b"COUNT", page)
            if not entries:
                raise WorkloadError(f"stream {stream} ended after {received} of {count} entries")
            received += len(entries)
            payload += sum(len(fields[1]) for _, fields in entries)
            start = b"(" + entries[-1][0]
            if progress is not None:
                progress(received / count)
            if time.perf_counter() > deadline:
                raise WorkloadError(f"XRANGE did not finish in time ({received} of {count})")
        seconds = time.perf_counter() - started
    return ThroughputResult(received, payload, seconds)


def _redis_py(port: int) -> Any:
    import redis

    return redis.Redis(host="127.0.0.1", port=port)


def produce_redis_py(
    port: int,
    stream: str,
    *,
    count: int,
    value: bytes,
    pipeline: int,
    deadline: float,
    progress: Progress | None = None,
) -> ThroughputResult:
    client = _redis_py(port)
    try:
        client.delete(stream)
        sent = 0
        started = time.perf_counter()
        while sent < count:
            n = min(pipeline, count - sent)
            pipe = client.pipeline(transaction=False)
            for _ in range(n):
                pipe.xadd(stream, {resp.STREAM_FIELD: value})
            pipe.execute()  # raises on an error reply
            sent += n
            if progress is not None:
                progress(sent / count)
            if time.perf_counter() > deadline:
                raise WorkloadError(f"XADD did not finish in time ({sent} of {count})")
        seconds = time.perf_counter() - started
        if client.xlen(stream) != count:
            raise WorkloadError(f"stream {stream} does not hold the {count} entries added")
    finally:
        client.close()
    return ThroughputResult(count, count * len(value), seconds)


def consume_redis_py(
    port: int,
    stream: str,
    *,
    count: int,
    page: int,
    deadline: float,
    progress: Progress | None = None,
) -> ThroughputResult:
    client = _redis_py(port)
    try:
        received = payload = 0
        start: bytes | str = "-"
        started = time.perf_counter()
        while received < count:
            entries = client.xrange(stream, min=start, max="+", count=page)
            if not entries:
                raise WorkloadError(f"stream {stream} ended after {received} of {count} entries")
            received += len(entries)
            payload += sum(len(fields[resp.STREAM_FIELD]) for _, fields in entries)
            start = b"(" + entries[-1][0]
            if progress is not None:
                progress(received / count)
            if time.perf_counter() > deadline:
                raise WorkloadError(f"XRANGE did not finish in time ({received} of {count})")
        seconds = time.perf_counter() - started
    finally:
        client.close()
    return ThroughputResult(received, payload, seconds)


def delete_stream(port: int, stream: str) -> None:
    with RespConnection(port) as conn:
        conn.call(b"DEL", stream)


__all__ += ["delete_stream"]
