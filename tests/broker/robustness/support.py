"""Helpers shared by the robustness tests: broker config files, metrics scraping,
polling with a deadline, and an offline scan of stored segment files.

The segment scan deliberately re-implements the v2 batch checks (length, magic,
CRC-32C over bytes 21..end) with the ``crc32c`` package instead of importing the
broker's record layer, so a bug in that layer cannot vouch for itself.
"""

from __future__ import annotations

import hashlib
import struct
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import crc32c
import yaml
from prometheus_client.parser import text_string_to_metric_families

from contracts.launcher import BrokerProcess

__all__ = [
    "StoredBatch",
    "log_digests",
    "metric",
    "scan_segment",
    "scrape",
    "wait_until",
    "write_config",
]

T = TypeVar("T")


def write_config(path: Path, values: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(values, sort_keys=True))
    return path


def scrape(broker: BrokerProcess) -> str:
    with urllib.request.urlopen(f"{broker.http_url}/metrics", timeout=10) as response:
        return str(response.read().decode())


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels`` (0 if none)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def wait_until(
    check: Callable[[], T | None], timeout_s: float, what: str, interval_s: float = 0.05
) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(interval_s)


@dataclass(frozen=True)
class StoredBatch:
    position: int
    base_offset: int
    size: int
    last_offset: int
    records: int
    max_timestamp: int


def scan_segment(path: Path) -> list[StoredBatch]:
    """Every batch of a segment file, each checked (length, magic 2, CRC-32C); raises
    AssertionError naming the first bad one, or trailing bytes after the last batch."""
    data = path.read_bytes()
    batches = []
    pos = 0
    while pos < len(data):
        assert len(data) - pos >= 61, f"{path.name}: {len(data) - pos} stray bytes at {pos}"
        base, length, _epoch, magic, crc = struct.unpack_from(">qiibI", data, pos)
        size = length + 12
        assert magic == 2, f"{path.name}: magic {magic} at {pos}"
        assert 61 <= size <= len(data) - pos, f"{path.name}: batch length {length} at {pos}"
        actual = crc32c.crc32c(data[pos + 21 : pos + size])
        assert actual == crc, f"{path.name}: CRC mismatch at {pos}"
        (delta,) = struct.unpack_from(">i", data, pos + 23)
        (max_ts,) = struct.unpack_from(">q", data, pos + 35)
        (count,) = struct.unpack_from(">i", data, pos + 57)
        batches.append(StoredBatch(pos, base, size, base + delta, count, max_ts))
        pos += size
    return batches


def log_digests(directory: Path) -> dict[str, str]:
    """sha256 of every ``.log`` segment file under ``directory`` (relative names)."""
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*.log"))
    }
