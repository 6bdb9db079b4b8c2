"""Hand-made requests the real clients never send: a produce to a partition that does
not exist, a request with bytes after its body, and garbage. Encoded with kio's own
writers (third-party code), sent over a plain socket."""

from __future__ import annotations

import datetime
import io
import socket
import struct
from typing import Any

from kio.schema.metadata.v4.request import MetadataRequest
from kio.schema.produce.v7.request import PartitionProduceData, ProduceRequest, TopicProduceData
from kio.schema.request_header.v1.header import RequestHeader
from kio.serial import entity_writer
from kio.static.primitive import Records, i16, i32, i32Timedelta

from broker.records.record import Record, build_batch

__all__ = ["send_garbage", "send_metadata_with_trailing_bytes", "send_produce_to_partition"]


def _frame(request: Any, correlation_id: int, trailing: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    header = RequestHeader(
        request_api_key=i16(request.__api_key__),
        request_api_version=i16(request.__version__),
        correlation_id=i32(correlation_id),
        client_id="raw",
    )
    entity_writer(RequestHeader)(buffer, header)
    entity_writer(type(request))(buffer, request)
    body = buffer.getvalue() + trailing
    return struct.pack(">i", len(body)) + body


def _exchange(bootstrap: str, frame: bytes) -> bytes:
    """Send one frame; return the response frame (empty if the broker hung up)."""
    host, port = bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(frame)
        head = _read(sock, 4)
        if len(head) < 4:
            return b""
        (size,) = struct.unpack(">i", head)
        return _read(sock, size)


def _read(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def send_produce_to_partition(bootstrap: str, topic: str, partition: int) -> bytes:
    batch = build_batch([Record(b"nowhere", timestamp_ms=0)])
    request = ProduceRequest(
        transactional_id=None,
        acks=i16(1),
        timeout=i32Timedelta.parse(datetime.timedelta(seconds=5)),
        topic_data=(
            TopicProduceData(
                name=topic,  # type: ignore[arg-type]
                partition_data=(
                    PartitionProduceData(index=i32(partition), records=Records(batch)),
                ),
            ),
        ),
    )
    return _exchange(bootstrap, _frame(request, 7))


def send_metadata_with_trailing_bytes(bootstrap: str) -> bytes:
    request = MetadataRequest(topics=None, allow_auto_topic_creation=False)
    return _exchange(bootstrap, _frame(request, 8, trailing=b"\x00\x00\x00"))


def send_garbage(bootstrap: str) -> bytes:
    """A frame whose header names API key 999: the broker closes the connection."""
    body = struct.pack(">hhi", 999, 0, 9) + b"\xff\xff" + b"garbage"
    return _exchange(bootstrap, struct.pack(">i", len(body)) + body)
