"""Request headers (v1 and v2), decoded by hand: they are read for every request.

Layout: ``api_key int16, api_version int16, correlation_id int32, client_id nullable
string (int16 length)``; header v2 (flexible versions) adds tagged fields. Note that
client_id is a classic string even in v2.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from broker.protocol.primitives import read_uvarint

__all__ = ["HeaderError", "RequestHeader", "parse_header_prefix", "skip_tagged_fields"]

_PREFIX = struct.Struct(">hhih")


class HeaderError(ValueError):
    """The header is malformed (too short, bad lengths)."""


class RequestHeader(NamedTuple):
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    # Offset of the first byte after the header (body start), once tags are skipped.
    size: int


def parse_header_prefix(frame: bytes | bytearray) -> RequestHeader:
    """Decode the fixed part and client id; ``size`` excludes any tagged fields."""
    if len(frame) < 10:
        raise HeaderError(f"request of {len(frame)} bytes is shorter than a header")
    api_key, api_version, correlation_id, client_len = _PREFIX.unpack_from(frame, 0)
    if client_len < -1:
        raise HeaderError(f"client id length {client_len} is invalid")
    end = 10 + max(client_len, 0)
    if end > len(frame):
        raise HeaderError("client id runs past the end of the request")
    client_id = None if client_len < 0 else frame[10:end].decode(errors="replace")
    return RequestHeader(api_key, api_version, correlation_id, client_id, end)


def skip_tagged_fields(frame: bytes | bytearray, pos: int) -> int:
    try:
        count, pos = read_uvarint(frame, pos)
        for _ in range(count):
            _, pos = read_uvarint(frame, pos)
            size, pos = read_uvarint(frame, pos)
            pos += size
    except IndexError:
        raise HeaderError("tagged fields run past the end of the request") from None
    except ValueError as exc:  # a varint longer than 5 bytes
        raise HeaderError(f"malformed tagged fields: {exc}") from None
    if pos > len(frame):
        raise HeaderError("tagged fields run past the end of the request")
    return pos
