"""Compression codecs of record batches (attributes bits 0-2), backed by cramjam.

Kafka's snappy is either raw snappy (librdkafka) or the xerial block framing of
snappy-java (the Java client); decompression accepts both. LZ4 uses the LZ4 frame
format. The broker never decompresses on the produce path: codecs serve reads that
need record-level detail (ListOffsets by timestamp, traces) and the test and probe
builders.
"""

from __future__ import annotations

import struct

import cramjam

from broker.records.batch import Compression, CorruptBatchError

__all__ = ["compress", "decompress"]

_XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER_SIZE = 16
_BLOCK_LENGTH = struct.Struct(">i")


def compress(codec: int, data: bytes) -> bytes:
    if codec == Compression.NONE:
        return data
    if codec == Compression.GZIP:
        return bytes(cramjam.gzip.compress(data))
    if codec == Compression.SNAPPY:
        return bytes(cramjam.snappy.compress_raw(data))
    if codec == Compression.LZ4:
        return bytes(cramjam.lz4.compress(data))
    if codec == Compression.ZSTD:
        return bytes(cramjam.zstd.compress(data))
    raise ValueError(f"unknown compression codec {codec}")


def decompress(codec: int, data: bytes | memoryview) -> bytes:
    """The uncompressed payload; raises CorruptBatchError when ``data`` does not decode
    (the broker stores compressed batches as received, so garbage under a correct CRC
    reaches the readers that decompress)."""
    raw = bytes(data)
    try:
        return _decompress(codec, raw)
    except (cramjam.DecompressionError, struct.error) as exc:
        raise CorruptBatchError(f"payload of codec {codec} does not decompress: {exc}") from exc


def _decompress(codec: int, raw: bytes) -> bytes:
    if codec == Compression.NONE:
        return raw
    if codec == Compression.GZIP:
        return bytes(cramjam.gzip.decompress(raw))
    if codec == Compression.SNAPPY:
        return _snappy_decompress(raw)
    if codec == Compression.LZ4:
        return bytes(cramjam.lz4.decompress(raw))
    if codec == Compression.ZSTD:
        return bytes(cramjam.zstd.decompress(raw))
    raise ValueError(f"unknown compression codec {codec}")


def _snappy_decompress(raw: bytes) -> bytes:
    if not raw.startswith(_XERIAL_MAGIC):
        return bytes(cramjam.snappy.decompress_raw(raw))
    out = bytearray()
    pos = _XERIAL_HEADER_SIZE
    while pos < len(raw):
        (length,) = _BLOCK_LENGTH.unpack_from(raw, pos)
        pos += 4
        out += bytes(cramjam.snappy.decompress_raw(raw[pos : pos + length]))
        pos += length
    return bytes(out)
