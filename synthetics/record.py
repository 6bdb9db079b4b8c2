"""The probe record: what the probe writes into each partition, and how it is checked.

The value is one line of ASCII, readable with ``kcat -C``::

    TWP1 crc32c=5d2fe3a1 probe=3f9c0d2e81a4b7c6 partition=2 seq=41 sent_ns=1764153600123456789

- ``TWP1``: format tag and version;
- ``crc32c``: CRC-32C (Castagnoli, as Kafka batches use) of every byte after
  ``crc32c=XXXXXXXX `` (so of ``probe=... pad=...``), eight lowercase hex digits;
- ``probe``: the id of the probe instance (16 hex digits, new at every start), so several
  probes can share a topic and each only judges its own records;
- ``partition``: the partition it was produced to (a record read from another partition
  is corrupted: the data ended up where it was not written);
- ``seq``: per-partition sequence number from 0, one per produce attempt;
- ``sent_ns``: wall-clock time of the send, nanoseconds since the epoch;
- ``pad``: optional padding (``payload_bytes``) from a fixed pattern shifted by the
  sequence number, so corrupted padding is caught by the checksum as well.

Each record also carries a W3C ``traceparent`` header (``00-<trace id>-<span id>-01``),
which the Tidewatch broker joins when tracing is on; the trace id becomes the exemplar of
the latency observations. Kafka's own batch CRC protects records in transit; this
checksum covers what a broker could still get wrong: serving different bytes, or a
record at the wrong place.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

import crc32c

__all__ = [
    "MAGIC",
    "CorruptRecordError",
    "ProbeRecord",
    "decode_value",
    "encode_value",
    "format_traceparent",
    "parse_traceparent",
]

MAGIC: Final = b"TWP1"
_PATTERN: Final = b"0123456789abcdefghijklmnopqrstuvwxyz"
_VALUE: Final = re.compile(
    rb"TWP1 crc32c=(?P<crc>[0-9a-f]{8}) (?P<body>probe=(?P<probe>[0-9a-f]{16}) "
    rb"partition=(?P<partition>\d{1,10}) seq=(?P<seq>\d{1,19}) sent_ns=(?P<sent>\d{1,20})"
    rb"(?: pad=(?P<pad>[0-9a-z]*))?)",
    re.DOTALL,
)
_TRACEPARENT: Final = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")


class CorruptRecordError(ValueError):
    """A value in the probe topic that is not an intact probe record; says why."""


@dataclass(frozen=True, slots=True)
class ProbeRecord:
    probe_id: str
    partition: int
    sequence: int
    sent_ns: int
    payload_bytes: int = 0


def _padding(sequence: int, size: int) -> bytes:
    if size <= 0:
        return b""
    start = sequence % len(_PATTERN)
    repeats = (start + size) // len(_PATTERN) + 1
    return (_PATTERN * repeats)[start : start + size]


def encode_value(record: ProbeRecord) -> bytes:
    body = (
        f"probe={record.probe_id} partition={record.partition} seq={record.sequence} "
        f"sent_ns={record.sent_ns}"
    ).encode("ascii")
    if record.payload_bytes > 0:
        body += b" pad=" + _padding(record.sequence, record.payload_bytes)
    return b"TWP1 crc32c=%08x " % crc32c.crc32c(body) + body


def decode_value(value: bytes | None) -> ProbeRecord:
    """The record in ``value``; raises CorruptRecordError saying what is wrong."""
    if value is None:
        raise CorruptRecordError("record has no value")
    if not value.startswith(MAGIC):
        raise CorruptRecordError("not a probe record (no TWP1 tag)")
    match = _VALUE.fullmatch(value)
    if match is None:
        raise CorruptRecordError("malformed probe record")
    expected = int(match["crc"], 16)
    actual = crc32c.crc32c(match["body"])
    if actual != expected:
        raise CorruptRecordError(
            f"checksum mismatch: record says {expected:08x}, body {actual:08x}"
        )
    pad = match["pad"] or b""
    sequence = int(match["seq"])
    if pad != _padding(sequence, len(pad)):
        raise CorruptRecordError("padding does not follow the pattern")
    return ProbeRecord(
        probe_id=match["probe"].decode("ascii"),
        partition=int(match["partition"]),
        sequence=sequence,
        sent_ns=int(match["sent"]),
        payload_bytes=len(pad),
    )


def format_traceparent(trace_id: int, span_id: int) -> str:
    """W3C trace context version 00, sampled."""
    return f"00-{trace_id:032x}-{span_id:016x}-01"


def parse_traceparent(value: bytes | str | None) -> tuple[str, str] | None:
    """(trace id, span id) in hex, or None when absent or malformed (all-zero ids too)."""
    if value is None:
        return None
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    match = _TRACEPARENT.fullmatch(text)
    if match is None or set(match[1]) == {"0"} or set(match[2]) == {"0"}:
        return None
    return match[1], match[2]
