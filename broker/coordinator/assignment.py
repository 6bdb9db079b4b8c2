"""Decoding the consumer protocol's assignment bytes (protocol type "consumer").

The broker treats assignments as opaque, but they tell which member owns which
partition, which lag metrics and status pages show. Layout (big-endian)::

    version int16, topics [topic string(int16 length), partitions [int32]],
    user_data bytes (int32 length, may be absent in old versions)

Anything that does not parse yields an empty mapping: it is informational only.
"""

from __future__ import annotations

import struct

__all__ = ["decode_assignment"]


def decode_assignment(data: bytes) -> dict[str, list[int]]:
    try:
        pos = 2
        (count,) = struct.unpack_from(">i", data, pos)
        pos += 4
        out: dict[str, list[int]] = {}
        for _ in range(max(count, 0)):
            (name_len,) = struct.unpack_from(">h", data, pos)
            pos += 2
            topic = data[pos : pos + name_len].decode()
            pos += name_len
            (n,) = struct.unpack_from(">i", data, pos)
            pos += 4
            out[topic] = list(struct.unpack_from(f">{max(n, 0)}i", data, pos))
            pos += 4 * max(n, 0)
        return out
    except (struct.error, UnicodeDecodeError):
        return {}
