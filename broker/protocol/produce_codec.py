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


@dataclass(frozen=True, slots=True)
class PartitionResult:
    index: int
    error_code: int
    base_offset: int = -1
    log_append_time: int = -1
    log_start_offset: int = -1
    error_message: str | None = None


class _Reader:
    __slots__ = ("buf", "flexible", "pos", "view")

    def __init__(self, buf: bytes | bytearray, pos: int, flexible: bool) -> None:
        self.buf = buf
        self.view = memoryview(buf)
        self.pos = pos
        self.flexible = flexible

    def _need(self, n: int) -> None:
        if n < 0 or self.pos + n > len(self.buf):
            raise ProduceDecodeError(f"field of {n} bytes runs past the end of the request")

    def int16(self) -> int:
        self._need(2)
        (v,) = _I16.unpack_from(self.buf, self.pos)
        self.pos += 2
        return int(v)

    def int32(self) -> int:
        self._need(4)
        (v,) = _I32.unpack_from(self.buf, self.pos)
        self.pos += 4
        return int(v)

    def _uvarint(self) -> int:
        pos = self.pos
        if pos < len(self.buf):
            first = self.buf[pos]
            if first < 0x80:  # one-byte varints are the common case
                self.pos = pos + 1
                return first
        try:
            value, self.pos = read_uvarint(self.buf, pos)
        except IndexError:
            raise ProduceDecodeError("varint runs past the end of the request") from None
        return value

    def length(self) -> int:
        """An array/bytes/string length; -1 means null."""
        if self.flexible:
            return self._uvarint() - 1
        return self.int32()

    def string_length(self) -> int:
        if self.flexible:
            return self._uvarint() - 1
        return self.int16()

    def nullable_string(self) -> str | None:
        n = self.string_length()
        if n < 0:
            return None
        self._need(n)
        value = self.buf[self.pos : self.pos + n].decode()
        self.pos += n
        return value

    def string(self) -> str:
        value = self.nullable_string()
        if value is None:
            raise ProduceDecodeError("topic name is null")
        return value

    def nullable_bytes(self) -> memoryview | None:
        n = self.length()
        if n < 0:
            return None
        self._need(n)
        value = self.view[self.pos : self.pos + n]
        self.pos += n
        return value

    def tags(self) -> None:
        if not self.flexible:
            return
        pos = self.pos
        if pos < len(self.buf) and self.buf[pos] == 0:  # no tagged fields: the usual case
            self.pos = pos + 1
            return
        for _ in range(self._uvarint()):
            self._uvarint()
            size = self._uvarint()
            self._need(size)
            self.pos += size

    def count(self, what: str) -> int:
        n = self.length()
        if n < 0 or n > len(self.buf):
            raise ProduceDecodeError(f"invalid {what} count {n}")
        return n


def decode_produce(frame: bytes | bytearray, offset: int, version: int) -> ProduceRequestData:
    """Decode a Produce request body of any version 0-13's classic/flexible shape."""
    r = _Reader(frame, offset, version >= FLEXIBLE_FROM)
    transactional_id = r.nullable_string() if version >= 3 else None
    r._need(6)
    acks, timeout_ms = _ACKS_TIMEOUT.unpack_from(frame, r.pos)
    r.pos += 6
    topics = []
    for _ in range(r.count("topic")):
        name = r.string()
        partitions = []
        for _ in range(r.count("partition")):
            index = r.int32()
            records = r.nullable_bytes()
            r.tags()
            partitions.append((index, records))
        r.tags()
        topics.append((name, partitions))
    r.tags()
    return ProduceRequestData(transactional_id, acks, timeout_ms, topics)


def encode_produce_response(version: int, topics: list[tuple[str, list[PartitionResult]]]) -> bytes:
    """Body of a ProduceResponse (no header)."""
    flexible = version >= FLEXIBLE_FROM
    out = bytearray()
    out += compact_len(len(topics)) if flexible else _I32.pack(len(topics))
    for name, partitions in topics:
        out += compact_string(name) if flexible else string(name)
        out += compact_len(len(partitions)) if flexible else _I32.pack(len(partitions))
        for p in partitions:
            if version >= 5:
                out += _PART_V5.pack(
                    p.index, p.error_code, p.base_offset, p.log_append_time, p.log_start_offset
                )
            elif version >= 2:
                out += _PART_V2.pack(p.index, p.error_code, p.base_offset, p.log_append_time)
            else:
                out += _PART_V0.pack(p.index, p.error_code, p.base_offset)
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
