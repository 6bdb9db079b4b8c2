"""Encoders for the protocol's primitive types, shared by the hand-written codecs.

Compact (flexible-version) types use unsigned varints holding ``length + 1`` (0 is
null). Tagged fields are encoded as an empty set (one zero byte) by every hot-path
encoder: the broker never sets optional tags there.
"""

from __future__ import annotations

import struct

__all__ = [
    "EMPTY_TAGS",
    "compact_len",
    "compact_nullable_string",
    "compact_string",
    "nullable_string",
    "read_uvarint",
    "string",
    "uvarint",
]

EMPTY_TAGS = b"\x00"
_I16 = struct.Struct(">h")


def _encode_uvarint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL_UVARINTS = tuple(_encode_uvarint(i) for i in range(16384))


def uvarint(value: int) -> bytes:
    if value < 16384:
        return _SMALL_UVARINTS[value]
    return _encode_uvarint(value)


def read_uvarint(buf: bytes | bytearray | memoryview, pos: int) -> tuple[int, int]:
    """Decode an unsigned varint at ``pos``; returns (value, next position)."""
    result = 0
    shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 35:
            raise ValueError("unsigned varint longer than 5 bytes")


def compact_len(length: int) -> bytes:
    return uvarint(length + 1)


def string(value: str) -> bytes:
    raw = value.encode()
    return _I16.pack(len(raw)) + raw


def nullable_string(value: str | None) -> bytes:
    if value is None:
        return b"\xff\xff"
    return string(value)


def compact_string(value: str) -> bytes:
    raw = value.encode()
    return uvarint(len(raw) + 1) + raw


def compact_nullable_string(value: str | None) -> bytes:
    if value is None:
        return b"\x00"
    return compact_string(value)
