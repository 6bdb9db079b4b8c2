"""Hand-written Produce codec (hot path): request decoding without copying record
batches, and response encoding for every advertised version (0-9).

Request (v0-8 classic, v9+ flexible)::

    transactional_id  nullable string          (v3+)
    acks              int16
    timeout_ms        int32
    topics            array of
      name            string
      partitions      array of
        index         int32
        records       nullable bytes            (the record batches)
        [tags]                                  (v9+)
      [tags]                                    (v9+)
    [tags]                                      (v9+)

Response::

    responses         array of
      name            string
      partitions      array of
        index             int32
        error_code        int16
        base_offset       int64
        log_append_time   int64                 (v2+)
        log_start_offset  int64                 (v5+)
        record_errors     array (empty here)    (v8+)
        error_message     nullable string       (v8+)
        [tags]                                  (v9+)
      [tags]                                    (v9+)
    throttle_time_ms  int32                     (v1+)
    [tags]                                      (v9+)

Record batches come back as memoryviews into the request frame.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

from broker.protocol.primitives import (
    EMPTY_TAGS,
    compact_len,
    compact_nullable_string,
    compact_string,
    nullable_string,
    read_uvarint,
    string,
)

__all__ = ["PartitionResult", "ProduceRequestData", "decode_produce", "encode_produce_response"]

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_ACKS_TIMEOUT = struct.Struct(">hi")
_PART_V0 = struct.Struct(">ihq")
_PART_V2 = struct.Struct(">ihqq")
_PART_V5 = struct.Struct(">ihqqq")
FLEXIBLE_FROM = 9


class ProduceDecodeError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ProduceRequestData:
    transactional_id: str | None
    acks: int
    timeout_ms: int
    topics: list[tuple[str, list[tuple[int, memoryview | None]]]]


class PartitionResult(NamedTuple):
    partition: int
    error_code: int
    base_offset: int = -1
    log_append_time: int = -1
    log_start_offset: int = -1
    error_message: str | None = None


_I16_AT = _I16.unpack_from
_I32_AT = _I32.unpack_from


def _uvarint_at(buf: bytes | bytearray, pos: int) -> tuple[int, int]:
    first = buf[pos]
    if first < 0x80:  # one-byte varints are the common case
        return first, pos + 1
    return read_uvarint(buf, pos)


def _skip_tags(buf: bytes | bytearray, pos: int) -> int:
    if buf[pos] == 0:  # no tagged fields: the usual case
        return pos + 1
    count, pos = _uvarint_at(buf, pos)
    for _ in range(count):
        _, pos = _uvarint_at(buf, pos)
        size, pos = _uvarint_at(buf, pos)
        pos += size
    return pos


def decode_produce(frame: bytes | bytearray, offset: int, version: int) -> ProduceRequestData:
    """Decode a Produce request body of any version 0-13's classic/flexible shape.

    Written as one flat function because it runs for every produce request; raises
    ProduceDecodeError on anything that does not fit the frame.
    """
    buf = frame
    end = len(buf)
    view = memoryview(buf)
    flexible = version >= FLEXIBLE_FROM
    pos = offset
    try:
        transactional_id = None
        if version >= 3:
            if flexible:
                length, pos = _uvarint_at(buf, pos)
                length -= 1
            else:
                length = _I16_AT(buf, pos)[0]
                pos += 2
            if length >= 0:
                if pos + length > end:
                    raise ProduceDecodeError("transactional id runs past the end of the request")
                transactional_id = buf[pos : pos + length].decode()
                pos += length
        acks, timeout_ms = _ACKS_TIMEOUT.unpack_from(buf, pos)
        pos += 6
        if flexible:
            topic_count, pos = _uvarint_at(buf, pos)
            topic_count -= 1
        else:
            topic_count = _I32_AT(buf, pos)[0]
            pos += 4
        if not 0 <= topic_count <= end:
            raise ProduceDecodeError(f"invalid topic count {topic_count}")
        topics: list[tuple[str, list[tuple[int, memoryview | None]]]] = []
        for _ in range(topic_count):
            if flexible:
                length, pos = _uvarint_at(buf, pos)
                length -= 1
            else:
                length = _I16_AT(buf, pos)[0]
                pos += 2
            if length < 0 or pos + length > end:
                raise ProduceDecodeError(f"invalid topic name length {length}")
            name = buf[pos : pos + length].decode()
            pos += length
            if flexible:
                partition_count, pos = _uvarint_at(buf, pos)
                partition_count -= 1
            else:
                partition_count = _I32_AT(buf, pos)[0]
                pos += 4
            if not 0 <= partition_count <= end:
                raise ProduceDecodeError(f"invalid partition count {partition_count}")
            partitions: list[tuple[int, memoryview | None]] = []
            for _ in range(partition_count):
                index = _I32_AT(buf, pos)[0]
                pos += 4
                if flexible:
                    size, pos = _uvarint_at(buf, pos)
                    size -= 1
                else:
                    size = _I32_AT(buf, pos)[0]
                    pos += 4
                records = None
                if size >= 0:
                    if pos + size > end:
                        raise ProduceDecodeError(f"records of {size} bytes run past the end")
                    records = view[pos : pos + size]
                    pos += size
                if flexible:
                    pos = _skip_tags(buf, pos)
                partitions.append((index, records))
            if flexible:
                pos = _skip_tags(buf, pos)
            topics.append((name, partitions))
        if flexible:
            pos = _skip_tags(buf, pos)
    except (struct.error, IndexError, ValueError) as exc:
        if isinstance(exc, ProduceDecodeError):
            raise
        raise ProduceDecodeError(f"truncated or malformed produce request: {exc}") from None
    if pos > end:
        raise ProduceDecodeError("produce request runs past the end of the frame")
    return ProduceRequestData(transactional_id, acks, timeout_ms, topics)


_ONE_PARTITION_V9 = struct.Struct(">ihqqq")
_TAIL_OK_V9 = b"\x01\x00\x00" + b"\x00" + b"\x00\x00\x00\x00" + b"\x00"


def encode_produce_response(version: int, topics: list[tuple[str, list[PartitionResult]]]) -> bytes:
    """Body of a ProduceResponse (no header)."""
    if (
        version >= FLEXIBLE_FROM
        and len(topics) == 1
        and len(topics[0][1]) == 1
        and topics[0][1][0].error_message is None
    ):
        # The common case (one topic, one partition, no error text), in two operations:
        # counts, name, the partition's fields, then empty record errors, null message,
        # tags, tags, throttle time and tags.
        name, (p,) = topics[0]
        return (
            b"\x02"
            + compact_string(name)
            + b"\x02"
            + _ONE_PARTITION_V9.pack(
                p.partition, p.error_code, p.base_offset, p.log_append_time, p.log_start_offset
            )
            + _TAIL_OK_V9
        )
    flexible = version >= FLEXIBLE_FROM
    out = bytearray()
    out += compact_len(len(topics)) if flexible else _I32.pack(len(topics))
    for name, partitions in topics:
        out += compact_string(name) if flexible else string(name)
        out += compact_len(len(partitions)) if flexible else _I32.pack(len(partitions))
        for p in partitions:
            if version >= 5:
                out += _PART_V5.pack(
                    p.partition, p.error_code, p.base_offset, p.log_append_time, p.log_start_offset
                )
            elif version >= 2:
                out += _PART_V2.pack(p.partition, p.error_code, p.base_offset, p.log_append_time)
            else:
                out += _PART_V0.pack(p.partition, p.error_code, p.base_offset)
            if version >= 8:
                if flexible:
                    out += compact_len(0)
                    out += compact_nullable_string(p.error_message)
                    out += EMPTY_TAGS
                else:
                    out += _I32.pack(0)
                    out += nullable_string(p.error_message)
        if flexible:
            out += EMPTY_TAGS
    if version >= 1:
        out += _I32.pack(0)
    if flexible:
        out += EMPTY_TAGS
    return bytes(out)
