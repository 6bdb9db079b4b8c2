"""Batches that pass every check the broker makes on produce but cannot be decoded."""

from __future__ import annotations

import struct

from broker.records.batch import HEADER_SIZE, Compression, crc_of
from broker.records.record import Header, Record, build_batch


def undecodable_batch(codec: Compression, headers: tuple[Header, ...] = ()) -> bytes:
    """A one-record batch whose compressed payload is garbage under a correct CRC: the
    broker stores compressed batches as received, so only a decoder can tell."""
    raw = bytearray(build_batch([Record(b"v", headers=headers)], compression=codec))
    raw[HEADER_SIZE:] = b"\xff" * (len(raw) - HEADER_SIZE)
    struct.pack_into(">I", raw, 17, crc_of(raw, 0, len(raw)))
    return bytes(raw)
