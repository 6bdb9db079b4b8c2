"""The header every generated message value starts with (sans-I/O).

Layout (big-endian, 32 bytes), followed by filler up to the drawn size::

    0  2  magic      b"TW"
    2  2  worker     producer worker index (u16)
    4  4  run id     random per run (u32): records of other runs are ignored
    8  8  sequence   the worker's arrival number (u64), 0, 1, 2, ...
   16  8  scheduled  scheduled send time, Unix nanoseconds (i64)
   24  8  sent       when the generator handed it to the client, Unix nanoseconds (i64)

The scheduled time travels with the record so that any consumer process measures
end-to-end latency from when the record was *meant* to be sent (coordinated-omission
correction); the gap between scheduled and sent is the generator's own delay, which
tells a slow generator from a slow target. (worker, sequence) identifies a record across
broker restarts, where an offset may be reused after an unflushed tail was lost.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

__all__ = [
    "HEADER_BYTES",
    "MAGIC",
    "Header",
    "decode_header",
    "encode_header",
    "pack",
    "unpack_from",
]

MAGIC: Final = b"TW"
_STRUCT: Final = struct.Struct(">2sHIQqq")
HEADER_BYTES: Final = _STRUCT.size


@dataclass(frozen=True, slots=True)
class Header:
    worker: int
    run_id: int
    sequence: int
    scheduled_ns: int
    sent_ns: int


def encode_header(
    worker: int, run_id: int, sequence: int, scheduled_ns: int, sent_ns: int
) -> bytes:
    return _STRUCT.pack(MAGIC, worker, run_id, sequence, scheduled_ns, sent_ns)


def decode_header(value: bytes | None) -> Header | None:
    """The header of a generated value, or None for anything else."""
    if value is None or len(value) < HEADER_BYTES:
        return None
    magic, worker, run_id, sequence, scheduled, sent = _STRUCT.unpack_from(value)
    if magic != MAGIC:
        return None
    return Header(worker, run_id, sequence, scheduled, sent)


# The hot paths call these directly (no Header object per message).
pack = _STRUCT.pack
unpack_from = _STRUCT.unpack_from
