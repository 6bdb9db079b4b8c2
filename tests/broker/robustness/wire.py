"""A tiny raw Kafka client for robustness tests: builds request frames byte by byte (or
with kio for control-plane bodies), sends them over a plain socket, and decodes answers
with kio's response classes. It exists to send what no real client would: broken frames,
wrong magic, bad CRCs, absurd lengths. Well-formed traffic in these tests goes through
real clients (confluent-kafka, kafka-python).

Request frame: ``int32 size`` then the header (``api_key int16, api_version int16,
correlation_id int32, client_id int16-length string`` plus a tagged-fields byte for
flexible versions) then the body.
"""

from __future__ import annotations

import io
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

from kio.index import load_request_schema, load_response_schema
from kio.serial import entity_reader, entity_writer

__all__ = [
    "RawConnection",
    "encode_entity",
    "frame",
    "produce_body",
    "request_frame",
    "v1_message_set",
]

API_VERSIONS_KEY = 18
_SIZE = struct.Struct(">i")


def header(
    api_key: int, version: int, correlation_id: int, *, flexible: bool, client_id: str = "raw"
) -> bytes:
    raw_id = client_id.encode()
    out = struct.pack(">hhih", api_key, version, correlation_id, len(raw_id)) + raw_id
    if flexible:
        out += b"\x00"  # no tagged fields
    return out


def frame(payload: bytes) -> bytes:
    """``payload`` (header and body) with its int32 size prefix."""
    return _SIZE.pack(len(payload)) + payload


def encode_entity(entity: Any) -> bytes:
    buf = io.BytesIO()
    entity_writer(type(entity))(buf, entity)
    return buf.getvalue()


def request_frame(entity: Any, correlation_id: int, client_id: str = "raw") -> bytes:
    """A whole framed request for a kio request entity."""
    payload = header(
        int(entity.__api_key__),
        int(entity.__version__),
        correlation_id,
        flexible=bool(entity.__flexible__),
        client_id=client_id,
    )
    return frame(payload + encode_entity(entity))


def request_class(api_key: int, version: int) -> Any:
    return load_request_schema(api_key, version)


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def produce_body(
    version: int,
    topic: str,
    partitions: list[tuple[int, bytes | None]],
    *,
    acks: int = 1,
    timeout_ms: int = 5000,
    transactional_id: str | None = None,
) -> bytes:
    """A Produce request body (v3-8 classic, v9+ flexible), written field by field."""
    flexible = version >= 9
    name = topic.encode()
    out = bytearray()
    if flexible:
        # transactional_id: compact nullable string (length + 1, 0 for null)
        if transactional_id is None:
            out += _uvarint(0)
        else:
            tid = transactional_id.encode()
            out += _uvarint(len(tid) + 1) + tid
    elif version < 3:
        pass  # no transactional_id before v3
    elif transactional_id is None:
        out += struct.pack(">h", -1)  # transactional_id: null
    else:
        tid = transactional_id.encode()
        out += struct.pack(">h", len(tid)) + tid
    out += struct.pack(">hi", acks, timeout_ms)  # acks, timeout_ms
    if flexible:
        out += _uvarint(2)  # one topic (compact array: count + 1)
        out += _uvarint(len(name) + 1) + name  # topic name (compact string)
        out += _uvarint(len(partitions) + 1)  # partitions (compact array)
    else:
        out += struct.pack(">i", 1)  # one topic
        out += struct.pack(">h", len(name)) + name  # topic name
        out += struct.pack(">i", len(partitions))  # partitions
    for index, records in partitions:
        out += struct.pack(">i", index)  # partition index
        if flexible:
            out += _uvarint(0) if records is None else _uvarint(len(records) + 1)
        else:
            out += struct.pack(">i", -1 if records is None else len(records))
        out += records or b""
        if flexible:
            out += b"\x00"  # partition tags
    if flexible:
        out += b"\x00"  # topic tags
        out += b"\x00"  # request tags
    return bytes(out)


def produce_frame(version: int, correlation_id: int, body: bytes) -> bytes:
    return frame(header(0, version, correlation_id, flexible=version >= 9) + body)


def v1_message_set(value: bytes, timestamp_ms: int = 1_700_000_000_000) -> bytes:
    """One message in the legacy v1 format (magic 1) as a message set (pre-0.11 clients)."""
    import zlib

    body = struct.pack(">bbq", 1, 0, timestamp_ms)  # magic 1, attributes, timestamp
    body += struct.pack(">i", -1)  # key: null
    body += struct.pack(">i", len(value)) + value
    crc = zlib.crc32(body) & 0xFFFFFFFF  # message v0/v1 use CRC-32 (not C)
    message = struct.pack(">I", crc) + body
    return struct.pack(">qi", 0, len(message)) + message  # offset, message size


@dataclass(frozen=True)
class Answer:
    """A decoded response: correlation id and the kio entity."""

    correlation_id: int
    body: Any


def decode_response(api_key: int, version: int, payload: bytes) -> Answer:
    """Decode a response payload (after the size prefix) with kio."""
    (correlation_id,) = struct.unpack_from(">i", payload, 0)
    cls = load_response_schema(api_key, version)
    pos = 4
    if cls.__flexible__ and api_key != API_VERSIONS_KEY:
        pos += 1  # response header v1: tagged fields (ApiVersions always uses v0)
    entity, size = entity_reader(cls)(payload, pos)
    assert pos + size == len(payload), "response has trailing bytes"
    return Answer(correlation_id, entity)


class RawConnection:
    """A blocking socket to the broker that sends raw bytes and reads raw frames."""

    def __init__(self, host: str, port: int, timeout_s: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = bytearray()
        self._correlation = 0

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def next_correlation_id(self) -> int:
        self._correlation += 1
        return self._correlation

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_frame(self, timeout_s: float = 10.0) -> bytes | None:
        """The next response payload, or None when the broker closed the connection."""
        deadline = time.monotonic() + timeout_s
        while True:
            if len(self._buf) >= 4:
                (size,) = _SIZE.unpack_from(self._buf, 0)
                if len(self._buf) >= 4 + size:
                    payload = bytes(self._buf[4 : 4 + size])
                    del self._buf[: 4 + size]
                    return payload
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no complete response frame in time")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            self._buf += chunk

    def closed_by_peer(self, timeout_s: float = 10.0) -> bool:
        """True when the broker closes the connection (EOF or reset) within the timeout
        without sending anything."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return True
            except TimeoutError:
                return False
            if not chunk:
                return True
            self._buf += chunk
            return False
        return False

    def call(self, entity: Any) -> Any:
        """Send a kio request entity and return the decoded response entity."""
        correlation_id = self.next_correlation_id()
        self.send(request_frame(entity, correlation_id))
        payload = self.read_frame()
        assert payload is not None, "the broker closed the connection"
        answer = decode_response(int(entity.__api_key__), int(entity.__version__), payload)
        assert answer.correlation_id == correlation_id
        return answer.body

    def produce(
        self,
        version: int,
        topic: str,
        partitions: list[tuple[int, bytes | None]],
        **kwargs: Any,
    ) -> Any:
        """Send a Produce request built by ``produce_body``; returns the kio response."""
        correlation_id = self.next_correlation_id()
        self.send(
            produce_frame(
                version, correlation_id, produce_body(version, topic, partitions, **kwargs)
            )
        )
        payload = self.read_frame()
        assert payload is not None, "the broker closed the connection"
        answer = (
            decode_produce_v0_2(payload) if version < 3 else decode_response(0, version, payload)
        )
        assert answer.correlation_id == correlation_id
        return answer.body


def decode_produce_v0_2(payload: bytes) -> Answer:
    """ProduceResponse v0-2 (kio has no classes for them), shaped like kio's."""
    from types import SimpleNamespace

    from kio.schema.errors import ErrorCode

    correlation_id, topics = struct.unpack_from(">ii", payload, 0)
    pos = 8
    responses = []
    for _ in range(topics):
        (name_len,) = struct.unpack_from(">h", payload, pos)
        name = payload[pos + 2 : pos + 2 + name_len].decode()
        pos += 2 + name_len
        (count,) = struct.unpack_from(">i", payload, pos)
        pos += 4
        partitions = []
        for _ in range(count):
            # index, error_code, base_offset, log_append_time (v2)
            index, error, base_offset, _ = struct.unpack_from(">ihqq", payload, pos)
            pos += 22
            partitions.append(
                SimpleNamespace(index=index, error_code=ErrorCode(error), base_offset=base_offset)
            )
        responses.append(SimpleNamespace(name=name, partition_responses=partitions))
    pos += 4  # throttle_time_ms
    assert pos == len(payload), "ProduceResponse v2 has trailing bytes"
    return Answer(correlation_id, SimpleNamespace(responses=responses))


# -- typed helpers over kio request classes ---------------------------------------------

EARLIEST = -2
LATEST = -1


def _cls(module: str, name: str) -> Any:
    import importlib

    return getattr(importlib.import_module(f"kio.schema.{module}"), name)


def fetch_v4(topic: str, partition: int, offset: int, max_bytes: int = 1 << 20) -> Any:
    """A Fetch request that answers at once (max wait 0, min bytes 0)."""
    return fetch_request(4, topic, partition, offset, max_bytes)


def fetch_request(version: int, topic: str, partition: int, offset: int, max_bytes: int) -> Any:
    """Fetch v4 or v5 (v5 adds log start offsets) that answers at once."""
    import datetime

    module = f"fetch.v{version}.request"
    partition_cls = _cls(module, "FetchPartition")
    topic_cls = _cls(module, "FetchTopic")
    request_cls = _cls(module, "FetchRequest")
    return request_cls(
        max_wait=datetime.timedelta(0),
        min_bytes=0,
        max_bytes=max_bytes,
        topics=(
            topic_cls(
                topic=topic,
                partitions=(
                    partition_cls(
                        partition=partition, fetch_offset=offset, partition_max_bytes=max_bytes
                    ),
                ),
            ),
        ),
    )


@dataclass(frozen=True)
class FetchedPartition:
    error_code: int
    high_watermark: int
    log_start_offset: int
    records: bytes


def fetch(
    conn: RawConnection, topic: str, partition: int, offset: int, max_bytes: int = 1 << 20
) -> FetchedPartition:
    response = conn.call(fetch_request(5, topic, partition, offset, max_bytes))
    (answer,) = response.responses[0].partitions
    return FetchedPartition(
        int(answer.error_code.value),
        int(answer.high_watermark),
        int(answer.log_start_offset),
        bytes(answer.records or b""),
    )


def fetch_all(conn: RawConnection, topic: str, partition: int, start: int, end: int) -> bytes:
    """Every stored batch byte from ``start`` (a batch boundary) to ``end`` (the log end),
    read with repeated Fetch v4 calls and concatenated."""
    out = bytearray()
    offset = start
    for _ in range(100_000):
        if offset >= end:
            return bytes(out)
        got = fetch(conn, topic, partition, offset)
        assert got.error_code == 0, f"fetch at {offset} failed with error {got.error_code}"
        assert got.records, f"empty fetch at {offset} below the log end {end}"
        out += got.records
        pos = 0
        while pos + 61 <= len(got.records):
            base, length = struct.unpack_from(">qi", got.records, pos)
            (delta,) = struct.unpack_from(">i", got.records, pos + 23)
            offset = base + delta + 1
            pos += length + 12
    raise AssertionError("fetch_all did not reach the log end")


def list_offset(conn: RawConnection, topic: str, partition: int, timestamp: int) -> tuple[int, int]:
    """(error code, offset) from ListOffsets v1 for EARLIEST, LATEST or a timestamp."""
    partition_cls = _cls("list_offsets.v1.request", "ListOffsetsPartition")
    topic_cls = _cls("list_offsets.v1.request", "ListOffsetsTopic")
    request_cls = _cls("list_offsets.v1.request", "ListOffsetsRequest")
    response = conn.call(
        request_cls(
            replica_id=-1,
            topics=(
                topic_cls(
                    name=topic,
                    partitions=(partition_cls(partition_index=partition, timestamp=timestamp),),
                ),
            ),
        )
    )
    (answer,) = response.topics[0].partitions
    return int(answer.error_code.value), int(answer.offset)


def api_versions_v3() -> Any:
    return _cls("api_versions.v3.request", "ApiVersionsRequest")(
        client_software_name="robustness", client_software_version="1"
    )


def metadata_v1(topics: list[str] | None) -> Any:
    topic_cls = _cls("metadata.v1.request", "MetadataRequestTopic")
    request_cls = _cls("metadata.v1.request", "MetadataRequest")
    return request_cls(topics=None if topics is None else tuple(topic_cls(name=t) for t in topics))


# -- record batches, written independently of broker.records ----------------------------


def _zigzag(value: int) -> bytes:
    return _uvarint((value << 1) ^ (value >> 63))


def make_batch(
    values: list[bytes],
    *,
    timestamp_ms: int = 1_700_000_000_000,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    attributes: int = 0,
) -> bytes:
    """An uncompressed v2 record batch of ``values`` (null keys, no headers)."""
    records = bytearray()
    for delta, value in enumerate(values):
        body = b"\x00"  # record attributes
        body += _zigzag(0)  # timestamp delta
        body += _zigzag(delta)  # offset delta
        body += _zigzag(-1)  # key: null
        body += _zigzag(len(value)) + value  # value
        body += _zigzag(0)  # no headers
        records += _zigzag(len(body)) + body
    after_crc = struct.pack(
        ">hiqqqhii",
        attributes,  # attributes
        len(values) - 1,  # last offset delta
        timestamp_ms,  # base timestamp
        timestamp_ms,  # max timestamp
        producer_id,
        producer_epoch,
        base_sequence,
        len(values),  # records count
    ) + bytes(records)
    crc = crc32c_of(after_crc)
    # base offset, batch length (bytes after this field), leader epoch, magic, crc
    return struct.pack(">qiibI", 0, 4 + 1 + 4 + len(after_crc), -1, 2, crc) + after_crc


def crc32c_of(data: bytes) -> int:
    import crc32c

    return int(crc32c.crc32c(data))


def with_fixed_crc(batch: bytes) -> bytes:
    """``batch`` with its CRC recomputed (for batches edited inside the CRC range)."""
    return batch[:17] + struct.pack(">I", crc32c_of(batch[21:])) + batch[21:]


def batch_values(data: bytes) -> list[tuple[int, bytes | None]]:
    """(offset, value) of every record in uncompressed v2 batches ``data``."""
    out: list[tuple[int, bytes | None]] = []
    pos = 0
    while pos + 61 <= len(data):
        base, length = struct.unpack_from(">qi", data, pos)
        (attributes,) = struct.unpack_from(">h", data, pos + 21)
        assert attributes & 0x07 == 0, "compressed batch"
        (count,) = struct.unpack_from(">i", data, pos + 57)
        cursor = pos + 61
        for _ in range(count):
            _, cursor = _read_zigzag(data, cursor)  # record length
            cursor += 1  # attributes
            _, cursor = _read_zigzag(data, cursor)  # timestamp delta
            delta, cursor = _read_zigzag(data, cursor)
            key_len, cursor = _read_zigzag(data, cursor)
            cursor += max(key_len, 0)
            value_len, cursor = _read_zigzag(data, cursor)
            value = None if value_len < 0 else data[cursor : cursor + value_len]
            cursor += max(value_len, 0)
            headers, cursor = _read_zigzag(data, cursor)
            for _ in range(headers):
                n, cursor = _read_zigzag(data, cursor)
                cursor += n
                n, cursor = _read_zigzag(data, cursor)
                cursor += max(n, 0)
            out.append((base + delta, value))
        pos += length + 12
    return out


def _read_zigzag(data: bytes, pos: int) -> tuple[int, int]:
    shift = 0
    raw = 0
    while True:
        byte = data[pos]
        pos += 1
        raw |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
    return (raw >> 1) ^ -(raw & 1), pos
