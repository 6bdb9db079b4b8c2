"""Kafka record batch format v2 (magic 2): the same bytes on disk and on the wire.

Layout of one batch (big-endian; offsets in bytes from the start of the batch)::

    0   base_offset            int64   offset of the first record; the broker patches it
    8   batch_length           int32   bytes that follow this field (batch size - 12)
    12  partition_leader_epoch int32   the broker patches it
    16  magic                  int8    always 2
    17  crc                    uint32  CRC-32C of bytes 21..end
    21  attributes             int16   bits 0-2 codec, 3 timestamp type, 4 transactional,
                                       5 control, 6 delete horizon
    23  last_offset_delta      int32   offset delta of the last record
    27  base_timestamp         int64   milliseconds
    35  max_timestamp          int64   milliseconds
    43  producer_id            int64   -1 when not idempotent
    51  producer_epoch         int16
    53  base_sequence          int32   -1 when not idempotent
    57  records_count          int32
    61  records...                     compressed as one block when codec != 0

Because base offset, length and leader epoch sit before the CRC-covered range, the
broker assigns offsets by patching bytes 0-7 and 12-15 in place and never recomputes
the checksum. This module is pure: no I/O, no clocks, no knowledge of partitions.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import NamedTuple

import crc32c

__all__ = [
    "HEADER_SIZE",
    "MAGIC",
    "MIN_BATCH_SIZE",
    "NO_PRODUCER_ID",
    "NO_SEQUENCE",
    "BatchHeader",
    "Compression",
    "CorruptBatchError",
    "check_batch",
    "check_record_framing",
    "crc_of",
    "parse_header",
    "patch_offsets",
    "split_batches",
]

HEADER_SIZE = 61
MAGIC = 2
# The smallest legal batch: a header with zero records.
MIN_BATCH_SIZE = HEADER_SIZE
# Bytes of the length prefix (base offset + batch length) not counted by batch_length.
LOG_OVERHEAD = 12
NO_PRODUCER_ID = -1
NO_SEQUENCE = -1
CRC_START = 21
MAGIC_OFFSET = 16

_HEADER = struct.Struct(">qiibIhiqqqhii")
_PREFIX = struct.Struct(">qi")
_PATCH_OFFSET = struct.Struct(">q")
_PATCH_EPOCH = struct.Struct(">i")

_ATTR_CODEC_MASK = 0x07
_ATTR_TIMESTAMP_TYPE = 0x08
_ATTR_TRANSACTIONAL = 0x10
_ATTR_CONTROL = 0x20


class Compression(IntEnum):
    NONE = 0
    GZIP = 1
    SNAPPY = 2
    LZ4 = 3
    ZSTD = 4


class CorruptBatchError(ValueError):
    """The bytes are not a valid v2 record batch; the message says which check failed."""


class BatchHeader(NamedTuple):
    """The 61-byte header of a v2 batch, decoded. Immutable (a named tuple: it is built
    for every batch on the produce path, and tuples are the cheapest immutable record)."""

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int

    @property
    def size(self) -> int:
        """Total bytes of the batch including the 12-byte prefix."""
        return self.batch_length + LOG_OVERHEAD

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def compression(self) -> int:
        return self.attributes & _ATTR_CODEC_MASK

    @property
    def log_append_time(self) -> bool:
        return bool(self.attributes & _ATTR_TIMESTAMP_TYPE)

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & _ATTR_TRANSACTIONAL)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & _ATTR_CONTROL)

    @property
    def has_producer_id(self) -> bool:
        return self.producer_id >= 0

    @property
    def last_sequence(self) -> int:
        """Sequence of the last record; wraps at 2**31 like Kafka's."""
        if self.base_sequence == NO_SEQUENCE:
            return NO_SEQUENCE
        return (self.base_sequence + self.last_offset_delta) % (2**31)


def parse_header(buf: bytes | bytearray | memoryview, pos: int = 0) -> BatchHeader:
    """Decode the header at ``pos``; the caller guarantees 61 bytes are there."""
    return BatchHeader._make(_HEADER.unpack_from(buf, pos))


def read_prefix(buf: bytes | bytearray | memoryview, pos: int = 0) -> tuple[int, int]:
    """(base_offset, batch size in bytes) of the batch starting at ``pos``."""
    base_offset, length = _PREFIX.unpack_from(buf, pos)
    return base_offset, length + LOG_OVERHEAD


def crc_of(buf: bytes | bytearray | memoryview, pos: int, size: int) -> int:
    """CRC-32C of the checksummed range of the batch at ``pos`` of ``size`` bytes."""
    view = memoryview(buf)[pos + CRC_START : pos + size]
    return int(crc32c.crc32c(view))


def check_batch(
    buf: bytes | bytearray | memoryview, pos: int = 0, *, verify_crc: bool = True
) -> BatchHeader:
    """Validate one batch at ``pos`` and return its header.

    Checks, in order: enough bytes for a header, a sane length that fits the buffer,
    magic 2, a non-negative record count matching the offset delta range, and the CRC.
    Raises CorruptBatchError naming the failed check.
    """
    available = len(buf) - pos
    if available < HEADER_SIZE:
        raise CorruptBatchError(f"truncated batch: {available} bytes, header needs {HEADER_SIZE}")
    header = parse_header(buf, pos)
    if header.magic != MAGIC:
        raise CorruptBatchError(f"unsupported magic {header.magic}: only record batch v2 is stored")
    size = header.size
    if size < HEADER_SIZE:
        raise CorruptBatchError(f"batch length {header.batch_length} is shorter than a header")
    if size > available:
        raise CorruptBatchError(f"truncated batch: length says {size} bytes, {available} present")
    if header.records_count < 0 or header.last_offset_delta < 0:
        raise CorruptBatchError(
            f"invalid record count {header.records_count} or offset delta "
            f"{header.last_offset_delta}"
        )
    if verify_crc:
        actual = crc_of(buf, pos, size)
        if actual != header.crc:
            raise CorruptBatchError(
                f"CRC mismatch: header says {header.crc:#010x}, data {actual:#010x}"
            )
    return header


def split_batches(buf: bytes | bytearray | memoryview) -> list[BatchHeader]:
    """Validate every batch in ``buf`` (which must hold whole batches only)."""
    headers = []
    pos = 0
    end = len(buf)
    while pos < end:
        header = check_batch(buf, pos)
        headers.append(header)
        pos += header.size
    return headers


def patch_offsets(batch: bytearray, base_offset: int, leader_epoch: int, pos: int = 0) -> None:
    """Assign the base offset and partition leader epoch in place (outside the CRC)."""
    _PATCH_OFFSET.pack_into(batch, pos, base_offset)
    _PATCH_EPOCH.pack_into(batch, pos + 12, leader_epoch)


def whole_batches_prefix(buf: bytes | bytearray | memoryview, limit: int) -> tuple[int, int]:
    """Walk batch prefixes in ``buf`` and return (bytes of whole batches, batch count).

    Stops at ``limit`` bytes, at the end of the buffer, or at a batch that does not fit,
    so the result always ends on a batch boundary. Used by reads to cut at whole batches.
    """
    pos = 0
    count = 0
    end = min(len(buf), limit)
    while pos + LOG_OVERHEAD <= end:
        _, size = read_prefix(buf, pos)
        if size < HEADER_SIZE or pos + size > end:
            break
        pos += size
        count += 1
    return pos, count


def check_record_framing(buf: bytes | bytearray | memoryview, header: BatchHeader) -> None:
    """Check that an uncompressed batch's records chain exactly to its end.

    Each record starts with its length as a zig-zag varint; walking them must land on
    the batch's last byte after exactly ``records_count`` records. This catches garbage
    that a client checksummed anyway (consumers would stall on it) at a fraction of the
    cost of decoding every field. Compressed batches stay opaque: their records are
    only visible after decompression, which the broker does not do on the produce path.
    Raises CorruptBatchError.
    """
    pos = HEADER_SIZE
    end = header.size
    count = 0
    wanted = header.records_count
    while pos < end and count < wanted:
        first = buf[pos]
        if first < 0x80:
            value = first
            pos += 1
        else:
            second = buf[pos + 1] if pos + 1 < end else 0x80
            if second < 0x80:
                value = (first & 0x7F) | (second << 7)
                pos += 2
            else:
                value, pos = _slow_varint(buf, pos, end)
        length = (value >> 1) ^ -(value & 1)
        if length <= 0:
            raise CorruptBatchError(f"record {count} has an invalid length {length}")
        pos += length
        count += 1
    if count != wanted or pos != end:
        raise CorruptBatchError(
            f"records do not fill the batch: {count} of {wanted} records end at byte {pos} of {end}"
        )


def _slow_varint(buf: bytes | bytearray | memoryview, pos: int, end: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while pos < end and shift <= 63:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
    raise CorruptBatchError("a record length is not a valid varint")
