"""The payload of one metadata-log entry: the records of one controller decision.

A controller result's records are proposed as one Raft entry, so they commit (or are
lost) together. Layout: ``u32 count`` then, per record, ``u32 length`` and the record's
canonical bytes (``broker.metadata.records``). Decoding checks the framing as a whole
(a broken frame refuses the whole entry: ``MetadataRecordError``) and each record on its
own: a record that is malformed comes back as its error, in its place, so every node
skips exactly the same records.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from broker.metadata.errors import MetadataRecordError
from broker.metadata.records import MetadataRecord, decode_record, encode_record

__all__ = ["MAX_BATCH_RECORDS", "decode_record_batch", "encode_record_batch"]

MAX_BATCH_RECORDS = 1_000_000
_U32 = struct.Struct(">I")


def encode_record_batch(records: Sequence[MetadataRecord]) -> bytes:
    if not records:
        raise ValueError("a metadata batch holds at least one record")
    parts = [_U32.pack(len(records))]
    for record in records:
        data = encode_record(record)
        parts.append(_U32.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def decode_record_batch(payload: bytes) -> list[MetadataRecord | MetadataRecordError]:
    """The records of one entry in order; a malformed record is its error instead.
    Raises MetadataRecordError when the framing itself is broken."""
    view = memoryview(payload)
    if len(view) < _U32.size:
        raise MetadataRecordError(f"metadata batch of {len(view)} bytes has no record count")
    (count,) = _U32.unpack_from(view, 0)
    if not 1 <= count <= MAX_BATCH_RECORDS:
        raise MetadataRecordError(f"metadata batch: record count {count} out of range")
    pos = _U32.size
    out: list[MetadataRecord | MetadataRecordError] = []
    for index in range(count):
        if pos + _U32.size > len(view):
            raise MetadataRecordError(f"metadata batch: truncated before record {index}")
        (size,) = _U32.unpack_from(view, pos)
        pos += _U32.size
        if pos + size > len(view):
            raise MetadataRecordError(
                f"metadata batch: record {index} needs {size} bytes, {len(view) - pos} left"
            )
        try:
            out.append(decode_record(bytes(view[pos : pos + size])))
        except MetadataRecordError as exc:
            out.append(exc)
        pos += size
    if pos != len(view):
        raise MetadataRecordError(f"metadata batch: {len(view) - pos} bytes after the records")
    return out
