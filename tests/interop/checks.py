"""Assertions and observations shared by the interop tests: byte-for-byte record
comparison with short failure messages, the batch headers the broker stored on disk,
and request counters scraped from the broker's /metrics."""

from __future__ import annotations

import struct
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.interop.messages import Consumed, Message

__all__ = [
    "StoredBatch",
    "assert_same_records",
    "fetch_request_count",
    "request_count",
    "stored_batches",
]


def _describe(blob: bytes | None) -> str:
    if blob is None:
        return "null"
    head = blob[:24]
    return f"{len(blob)} bytes {head!r}{'...' if len(blob) > 24 else ''}"


def _first_difference(a: bytes, b: bytes) -> int:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


def assert_same_records(
    consumed: Sequence[Consumed], expected: Sequence[Message], *, first_offset: int = 0
) -> None:
    """Every consumed record equals the expected message at the same position, byte for
    byte (key, value, headers in order, timestamp), at consecutive offsets."""
    assert len(consumed) == len(expected), (
        f"consumed {len(consumed)} records, expected {len(expected)}"
    )
    problems = []
    for i, (got, want) in enumerate(zip(consumed, expected, strict=True)):
        if got.offset != first_offset + i:
            problems.append(f"#{i}: offset {got.offset}, expected {first_offset + i}")
        for name in ("key", "value"):
            g, w = getattr(got, name), getattr(want, name)
            if g != w:
                where = (
                    ""
                    if g is None or w is None
                    else f" (first difference at byte {_first_difference(g, w)})"
                )
                problems.append(f"#{i}: {name} is {_describe(g)}, expected {_describe(w)}{where}")
        if got.headers != want.headers:
            problems.append(f"#{i}: headers {got.headers!r}, expected {want.headers!r}")
        if want.timestamp_ms is not None and got.timestamp_ms != want.timestamp_ms:
            problems.append(f"#{i}: timestamp {got.timestamp_ms}, expected {want.timestamp_ms}")
    assert not problems, "records differ:\n" + "\n".join(problems)


# -- the stored log ----------------------------------------------------------------------

# base_offset q, batch_length i, leader_epoch i, magic b, crc I, attributes h,
# last_offset_delta i, base_timestamp q, max_timestamp q, producer_id q, epoch h,
# base_sequence i, records_count i: the 61-byte v2 batch header (Kafka's layout).
_BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")
CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


@dataclass(frozen=True)
class StoredBatch:
    base_offset: int
    size: int
    attributes: int
    records_count: int
    producer_id: int
    base_sequence: int

    @property
    def codec(self) -> int:
        return self.attributes & 0x07


def stored_batches(data_dir: Path, topic: str, partition: int = 0) -> list[StoredBatch]:
    """The batch headers in a partition's segment files, parsed here from the bytes
    (Kafka's documented layout), not with the broker's own code."""
    batches = []
    for segment in sorted((data_dir / f"{topic}-{partition}").glob("*.log")):
        raw = segment.read_bytes()
        pos = 0
        while pos + _BATCH_HEADER.size <= len(raw):
            fields = _BATCH_HEADER.unpack_from(raw, pos)
            base, length, _epoch, magic, _crc, attrs = fields[:6]
            assert magic == 2, f"{segment}: magic {magic} at byte {pos}"
            size = length + 12
            batches.append(StoredBatch(base, size, attrs, fields[12], fields[9], fields[11]))
            pos += size
    return batches


# -- metrics -----------------------------------------------------------------------------


def request_count(http_url: str, api: str) -> float:
    """``tidewatch_broker_requests_total`` for ``api``, summed over error codes."""
    with urllib.request.urlopen(f"{http_url}/metrics", timeout=5) as response:
        text = response.read().decode()
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "tidewatch_broker_requests_total" and sample.labels.get("api") == api:
                total += sample.value
    return total


def fetch_request_count(http_url: str) -> float:
    return request_count(http_url, "fetch")
