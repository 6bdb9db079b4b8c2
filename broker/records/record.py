"""Records inside a v2 batch: decoding for reads that need record detail, and a
builder used by tests, probes and benchmarks.

Record layout (varints are zig-zag)::

    length            varint   bytes that follow
    attributes        int8     unused, 0
    timestamp_delta   varlong  from the batch's base timestamp
    offset_delta      varint   from the batch's base offset
    key_length        varint   -1 for a null key
    key               bytes
    value_length      varint   -1 for a null value
    value             bytes
    header_count      varint
    headers           [key_length varint, key utf-8, value_length varint, value]
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from broker.records.batch import (
    HEADER_SIZE,
    LOG_OVERHEAD,
    NO_PRODUCER_ID,
    NO_SEQUENCE,
    Compression,
    CorruptBatchError,
    check_batch,
    crc_of,
)
from broker.records.codecs import compress, decompress
from broker.records.varint import read_varint, write_varint

__all__ = ["Record", "build_batch", "decode_batch"]

_HEADER_AFTER_CRC = struct.Struct(">hiqqqhii")
_PREFIX = struct.Struct(">qiib")
_CRC = struct.Struct(">I")

Header = tuple[str, bytes | None]


@dataclass(frozen=True, slots=True)
class Record:
    """One record as a client sees it. ``offset`` is absolute once read from a log."""

    value: bytes | None
    key: bytes | None = None
    timestamp_ms: int = 0
    headers: tuple[Header, ...] = field(default=())
    offset: int = 0


def _encode_record(record: Record, offset_delta: int, base_timestamp: int) -> bytes:
    body = bytearray(b"\x00")
    write_varint(record.timestamp_ms - base_timestamp, body)
    write_varint(offset_delta, body)
    for blob in (record.key, record.value):
        if blob is None:
            write_varint(-1, body)
        else:
            write_varint(len(blob), body)
            body += blob
    write_varint(len(record.headers), body)
    for name, value in record.headers:
        raw_name = name.encode()
        write_varint(len(raw_name), body)
        body += raw_name
        if value is None:
            write_varint(-1, body)
        else:
            write_varint(len(value), body)
            body += value
    out = bytearray()
    write_varint(len(body), out)
    out += body
    return bytes(out)


def build_batch(
    records: Sequence[Record],
    *,
    base_offset: int = 0,
    compression: int = Compression.NONE,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = -1,
    base_sequence: int = NO_SEQUENCE,
    leader_epoch: int = -1,
) -> bytes:
    """Encode ``records`` as one v2 batch with a correct CRC."""
    if not records:
        raise ValueError("a batch needs at least one record")
    base_timestamp = min(r.timestamp_ms for r in records)
    max_timestamp = max(r.timestamp_ms for r in records)
    payload = b"".join(
        _encode_record(record, delta, base_timestamp) for delta, record in enumerate(records)
    )
    payload = compress(compression, payload)
    after_crc = (
        _HEADER_AFTER_CRC.pack(
            compression,
            len(records) - 1,
            base_timestamp,
            max_timestamp,
            producer_id,
            producer_epoch,
            base_sequence,
            len(records),
        )
        + payload
    )
    batch_length = 4 + 1 + 4 + len(after_crc)
    batch = bytearray(_PREFIX.pack(base_offset, batch_length, leader_epoch, 2))
    batch += b"\x00\x00\x00\x00" + after_crc
    _CRC.pack_into(batch, 17, crc_of(batch, 0, len(batch)))
    return bytes(batch)


def _read_blob(buf: bytes, pos: int) -> tuple[bytes | None, int]:
    length, pos = read_varint(buf, pos)
    if length < 0:
        return None, pos
    if pos + length > len(buf):
        raise CorruptBatchError("record field runs past the end of the batch")
    return buf[pos : pos + length], pos + length


def decode_batch(buf: bytes | bytearray | memoryview, pos: int = 0) -> list[Record]:
    """Decode (decompressing if needed) the records of the batch at ``pos``."""
    header = check_batch(buf, pos)
    raw = memoryview(buf)[pos + HEADER_SIZE : pos + header.size]
    data = decompress(header.compression, raw)
    records = []
    cursor = 0
    for _ in range(header.records_count):
        length, cursor = read_varint(data, cursor)
        end = cursor + length
        if end > len(data):
            raise CorruptBatchError("record runs past the end of the batch")
        cursor += 1  # attributes
        ts_delta, cursor = read_varint(data, cursor)
        offset_delta, cursor = read_varint(data, cursor)
        key, cursor = _read_blob(data, cursor)
        value, cursor = _read_blob(data, cursor)
        header_count, cursor = read_varint(data, cursor)
        headers = []
        for _ in range(header_count):
            name, cursor = _read_blob(data, cursor)
            hvalue, cursor = _read_blob(data, cursor)
            headers.append(((name or b"").decode(errors="replace"), hvalue))
        cursor = end
        records.append(
            Record(
                value=value,
                key=key,
                timestamp_ms=header.base_timestamp + ts_delta,
                headers=tuple(headers),
                offset=header.base_offset + offset_delta,
            )
        )
    return records


def batch_size_of(buf: bytes | memoryview, pos: int = 0) -> int:
    """Size in bytes of the batch at ``pos`` from its length prefix."""
    return int(struct.unpack_from(">i", buf, pos + 8)[0]) + LOG_OVERHEAD
