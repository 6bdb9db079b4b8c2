"""Recovery of one segment and of a log: torn tails, corrupt batches, garbage, and
index files that lost entries."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from broker.records.batch import check_batch
from broker.records.record import Record, build_batch
from broker.storage.log import Log
from broker.storage.log_config import LogConfig
from broker.storage.segment import LogSegment
from contracts.clock import ManualClock


def _batch(i: int, records: int = 3) -> bytes:
    return build_batch(
        [Record(b"value-%d-%d" % (i, r), timestamp_ms=1_000 + i) for r in range(records)]
    )


def _segment_with(
    tmp_path: Path, batches: int, interval: int = 100
) -> tuple[LogSegment, list[int]]:
    segment = LogSegment(tmp_path, 0, interval)
    positions = []
    for i in range(batches):
        raw = _batch(i)
        positions.append(segment.append(raw, check_batch(raw), segment.next_offset, 0))
    return segment, positions


def test_a_torn_last_batch_is_truncated_and_reported(tmp_path: Path) -> None:
    segment, positions = _segment_with(tmp_path, 5)
    size = segment.size
    segment.close()
    os.truncate(segment.path, size - 10)
    reopened = LogSegment(tmp_path, 0, 100)
    info = reopened.recover(verify_crc=False)
    assert (info.batches, info.valid_bytes, info.next_offset) == (4, positions[4], 12)
    assert info.truncated_bytes == size - 10 - positions[4]
    assert info.reason is not None
    assert info.reason.startswith(f"position {positions[4]}:")
    assert reopened.path.stat().st_size == positions[4]
    reopened.close()


@pytest.mark.parametrize(
    ("verify_crc", "kept_batches"),
    [
        pytest.param(True, 4, id="a crash recovery finds the bad CRC"),
        pytest.param(False, 5, id="after a clean shutdown CRCs are trusted"),
    ],
)
def test_a_corrupt_last_batch_is_dropped_when_crcs_are_checked(
    tmp_path: Path, verify_crc: bool, kept_batches: int
) -> None:
    segment, positions = _segment_with(tmp_path, 5)
    end = segment.size
    segment.close()
    with open(segment.path, "r+b") as f:
        f.seek(end - 3)
        f.write(b"\x00\x01\x02")
    reopened = LogSegment(tmp_path, 0, 100)
    info = reopened.recover(verify_crc=verify_crc)
    assert info.batches == kept_batches
    if not verify_crc:
        assert info.truncated_bytes == 0
    else:
        assert info.truncated_bytes == end - positions[4]
        assert info.reason is not None
        assert "CRC mismatch" in info.reason
    reopened.close()


def test_garbage_after_the_last_batch_is_truncated_even_without_crc_checks(tmp_path: Path) -> None:
    segment, _ = _segment_with(tmp_path, 3)
    end = segment.size
    segment.close()
    with open(segment.path, "ab") as f:
        f.write(b"\x00" * 7 + b"not a batch" * 9)
    reopened = LogSegment(tmp_path, 0, 100)
    info = reopened.recover(verify_crc=False)
    assert (info.batches, info.valid_bytes) == (3, end)
    assert info.truncated_bytes == 7 + 11 * 9
    reopened.close()


@pytest.mark.parametrize(
    "keep_entries", [0, 1], ids=["an emptied index", "an index cut at an entry boundary"]
)
def test_an_index_that_lost_entries_is_not_trusted(tmp_path: Path, keep_entries: int) -> None:
    segment, _ = _segment_with(tmp_path, 12, interval=100)
    segment.persist_indexes()
    entries = len(segment.index)
    assert entries >= 3
    size = segment.size
    segment.close()
    raw = segment.index.path.read_bytes()
    segment.index.path.write_bytes(raw[: 8 * keep_entries])
    reopened = LogSegment(tmp_path, 0, 100)
    assert reopened.size == size
    assert reopened.load_indexes() is False
    reopened.close()


def test_an_intact_index_is_trusted(tmp_path: Path) -> None:
    segment, _ = _segment_with(tmp_path, 12, interval=100)
    segment.persist_indexes()
    segment.close()
    reopened = LogSegment(tmp_path, 0, 100)
    assert reopened.load_indexes() is True
    assert reopened.next_offset == 36
    reopened.close()


def test_a_log_rebuilds_a_damaged_sealed_index_byte_for_byte(tmp_path: Path) -> None:
    clock = ManualClock()
    config = LogConfig(segment_bytes=600, index_interval_bytes=100)
    log, _ = Log.open(tmp_path / "t-0", config, clock.time_ms)
    for i in range(20):
        raw = _batch(i)
        log.append(raw, check_batch(raw), 0)
    log.close()
    indexes = sorted((tmp_path / "t-0").glob("*.index"))
    assert len(indexes) >= 3
    middle = indexes[1]
    original = middle.read_bytes()
    middle.write_bytes(original[:8])
    reopened, recovery = Log.open(tmp_path / "t-0", config, clock.time_ms, clean_shutdown=True)
    assert recovery.rebuilt_indexes == 1
    assert recovery.truncated_bytes == 0
    assert middle.read_bytes() == original
    reopened.close()
