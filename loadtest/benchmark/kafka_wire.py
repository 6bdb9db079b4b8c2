"""A minimal sans-I/O Kafka client codec for the benchmark's raw clients.

The small-request, memory and restart workloads need exact control over requests (one
record per Produce request, one request in flight per connection, a Metadata probe
every few milliseconds), which the librdkafka producer does not give. This module
builds those requests as bytes and reads the few response fields the benchmark checks.
It is written from the protocol specification, not from the broker's codec, so a bug
shared with the broker cannot hide here.

Request frames (non-flexible versions only, request header v1)::

    size            int32    bytes that follow
    api_key         int16
    api_version     int16
    correlation_id  int32    at byte 8 of the frame; patched per request
    client_id       nullable string
    body

Response frames: ``size int32``, ``correlation_id int32``, then the body (these versions
use response header v0).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import crc32c

__all__ = [
    "CORRELATION_OFFSET",
    "FrameSplitter",
    "ResponseReader",
    "fetch_frame",
    "fetch_partition_error",
    "metadata_frame",
    "metadata_topic_partitions",
    "produce_frame",
    "produce_partition_error",
    "record_batch",
    "set_correlation_id",
]

PRODUCE, FETCH, METADATA = 0, 1, 3
PRODUCE_VERSION = 7  # what kcat and aiokafka pick; non-flexible
FETCH_VERSION = 4
METADATA_VERSION = 1
CORRELATION_OFFSET = 8
CLIENT_ID = b"tidewatch-bench"

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_HEADER = struct.Struct(">ihhi")  # size, api_key, api_version, correlation_id


def _zigzag_varint(value: int) -> bytes:
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _string(value: bytes) -> bytes:
    return _I16.pack(len(value)) + value


def record_batch(value: bytes, timestamp_ms: int) -> bytes:
    """A v2 record batch holding one record with a null key and no headers."""
    record_body = (
        b"\x00"  # attributes
        + _zigzag_varint(0)  # timestamp delta
        + _zigzag_varint(0)  # offset delta
        + _zigzag_varint(-1)  # key length: null
        + _zigzag_varint(len(value))
        + value
        + _zigzag_varint(0)  # header count
    )
    record = _zigzag_varint(len(record_body)) + record_body
    after_crc = (
        struct.pack(">hi", 0, 0)  # attributes (no compression), last offset delta
        + struct.pack(">qq", timestamp_ms, timestamp_ms)  # base and max timestamp
        + struct.pack(">qhi", -1, -1, -1)  # producer id, epoch, base sequence: none
        + _I32.pack(1)  # record count
        + record
    )
    crc = crc32c.crc32c(after_crc)
    # batch length counts from the partition leader epoch to the end
    batch_length = 4 + 1 + 4 + len(after_crc)
    return struct.pack(">qiibI", 0, batch_length, -1, 2, crc) + after_crc


def _frame(api_key: int, version: int, body: bytes) -> bytearray:
    rest = _string(CLIENT_ID) + body
    return bytearray(_HEADER.pack(8 + len(rest), api_key, version, 0) + rest)


def set_correlation_id(frame: bytearray, correlation_id: int) -> None:
    _I32.pack_into(frame, CORRELATION_OFFSET, correlation_id)


def produce_frame(
    topic: str, partition: int, batch: bytes, *, acks: int = 1, timeout_ms: int = 30_000
) -> bytearray:
    """A Produce v7 request for one batch to one partition (correlation id 0)."""
    body = (
        _I16.pack(-1)  # transactional id: null
        + struct.pack(">hi", acks, timeout_ms)
        + _I32.pack(1)  # one topic
        + _string(topic.encode())
        + _I32.pack(1)  # one partition
        + _I32.pack(partition)
        + _I32.pack(len(batch))
        + batch
    )
    return _frame(PRODUCE, PRODUCE_VERSION, body)


def fetch_frame(
    topic: str, partition: int, offset: int, *, max_wait_ms: int, max_bytes: int
) -> bytearray:
    """A Fetch v4 request for one partition (read_uncommitted)."""
    body = (
        struct.pack(
            ">iiiib", -1, max_wait_ms, 1, max_bytes, 0
        )  # replica, wait, min, max, isolation
        + _I32.pack(1)
        + _string(topic.encode())
        + _I32.pack(1)
        + struct.pack(">iqi", partition, offset, max_bytes)
    )
    return _frame(FETCH, FETCH_VERSION, body)


def metadata_frame(topics: list[str]) -> bytearray:
    """A Metadata v1 request for the given topics."""
    body = _I32.pack(len(topics)) + b"".join(_string(t.encode()) for t in topics)
    return _frame(METADATA, METADATA_VERSION, body)


class FrameSplitter:
    """Feed bytes from a socket, get complete response frames (without the size)."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer
        buffer += data
        frames = []
        start = 0
        end = len(buffer)
        while end - start >= 4:
            (size,) = _I32.unpack_from(buffer, start)
            if size < 4:
                raise ValueError(f"response frame of {size} bytes is too short")
            if end - start - 4 < size:
                break
            frames.append(bytes(buffer[start + 4 : start + 4 + size]))
            start += 4 + size
        if start:
            del buffer[:start]
        return frames


@dataclass(slots=True)
class ResponseReader:
    """Reads big-endian fields from a response frame (after the size prefix)."""

    data: bytes
    pos: int = 0

    def int8(self) -> int:
        self.pos += 1
        return self.data[self.pos - 1]

    def int16(self) -> int:
        (v,) = _I16.unpack_from(self.data, self.pos)
        self.pos += 2
        return int(v)

    def int32(self) -> int:
        (v,) = _I32.unpack_from(self.data, self.pos)
        self.pos += 4
        return int(v)

    def skip(self, n: int) -> None:
        self.pos += n

    def string(self) -> str | None:
        n = self.int16()
        if n < 0:
            return None
        self.pos += n
        return self.data[self.pos - n : self.pos].decode()

    def int32_array(self) -> list[int]:
        return [self.int32() for _ in range(self.int32())]


def _first_partition_error(response: bytes, skip_before_topics: int) -> int:
    """Error code of the first partition of the first topic of a Produce or Fetch
    response: ``[prefix] topics: [name, partitions: [index int32, error int16 ...]]``."""
    reader = ResponseReader(response, 4 + skip_before_topics)  # after the correlation id
    if reader.int32() < 1:
        raise ValueError("response has no topics")
    reader.string()
    if reader.int32() < 1:
        raise ValueError("response has no partitions")
    reader.skip(4)  # partition index
    return reader.int16()


def produce_partition_error(response: bytes) -> int:
    """Produce v7 response: ``responses`` come first, throttle time last."""
    return _first_partition_error(response, 0)


def fetch_partition_error(response: bytes) -> int:
    """Fetch v4 response: ``throttle_time_ms`` comes before ``responses``."""
    return _first_partition_error(response, 4)


def metadata_topic_partitions(response: bytes) -> dict[str, tuple[int, int]]:
    """Metadata v1 response: topic name -> (error code, partition count)."""
    reader = ResponseReader(response, 4)
    for _ in range(reader.int32()):  # brokers: node id, host, port, rack
        reader.skip(4)
        reader.string()
        reader.skip(4)
        reader.string()
    reader.skip(4)  # controller id
    topics = {}
    for _ in range(reader.int32()):
        error = reader.int16()
        name = reader.string() or ""
        reader.skip(1)  # is_internal
        count = reader.int32()
        for _ in range(count):  # error, index, leader, replicas, isr
            reader.skip(2 + 4 + 4)
            reader.int32_array()
            reader.int32_array()
        topics[name] = (error, count)
    return topics


def correlation_id(response: bytes) -> int:
    (value,) = _I32.unpack_from(response, 0)
    return int(value)


__all__ += ["correlation_id"]
