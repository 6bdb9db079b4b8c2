"""Batches that pass every check the broker makes on produce but cannot be decoded."""

from __future__ import annotations

import struct
from collections.abc import Sequence

from broker.records.batch import HEADER_SIZE, Compression, crc_of
from broker.records.record import Header, Record, build_batch


def undecodable_batch(
    codec: Compression,
    headers: tuple[Header, ...] = (),
    records: int = 1,
    timestamps_ms: Sequence[int] = (),
) -> bytes:
    """A batch whose compressed payload is garbage under a correct CRC: the broker
    stores compressed batches as received, so only a decoder can tell. The header keeps
    the record count and the timestamps (``timestamps_ms``, one per record, if given)."""
    stamps = list(timestamps_ms) or [0] * records
    batch = [Record(b"v", headers=headers, timestamp_ms=ts) for ts in stamps]
    raw = bytearray(build_batch(batch, compression=codec))
    raw[HEADER_SIZE:] = b"\xff" * (len(raw) - HEADER_SIZE)
    struct.pack_into(">I", raw, 17, crc_of(raw, 0, len(raw)))
    return bytes(raw)
