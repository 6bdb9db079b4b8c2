"""Reads and rolls at segment boundaries, and rolls that meet a full disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.records.batch import check_batch
from broker.records.record import Record, build_batch, decode_batch
from broker.storage.log import Log
from broker.storage.log_config import LogConfig
from contracts.clock import ManualClock


def _open(directory: Path, **config: int) -> Log:
    clock = ManualClock()
    opened, _ = Log.open(directory, LogConfig(**config), clock.time_ms)  # type: ignore[arg-type]
    return opened


def _append(log: Log, value: bytes, count: int = 1) -> None:
    batch = build_batch([Record(value + b"-%d" % i, timestamp_ms=1_000) for i in range(count)])
    log.append(batch, check_batch(batch), 0)


def test_a_sequential_reader_crosses_every_segment_boundary(tmp_path: Path) -> None:
    log = _open(tmp_path / "p-0", segment_bytes=300)
    for i in range(20):
        _append(log, b"v%02d" % i, count=2)
    assert log.segment_count > 3
    offset = 0
    seen: list[int] = []
    for _ in range(100):  # each read stays inside one segment
        if offset >= log.log_end_offset:
            break
        info = log.read(offset, 1 << 20, log.log_end_offset)
        assert info.batches > 0, f"empty read at offset {offset} below {log.log_end_offset}"
        records = decode_batch_all(bytes(info.data))
        seen.extend(r.offset for r in records)
        offset = records[-1].offset + 1
    assert seen == list(range(40))


def test_a_read_cached_at_the_end_of_the_active_segment_follows_a_roll(tmp_path: Path) -> None:
    log = _open(tmp_path / "p-0", segment_bytes=1 << 20)
    _append(log, b"a")
    assert log.read(0, 1 << 20, log.log_end_offset).batches == 1  # remembers offset 1
    log.roll()
    _append(log, b"b")
    info = log.read(1, 1 << 20, log.log_end_offset)
    assert [r.value for r in decode_batch_all(bytes(info.data))] == [b"b-0"]


def decode_batch_all(data: bytes) -> list[Record]:
    records, pos = [], 0
    while pos < len(data):
        header = check_batch(data, pos)
        records.extend(decode_batch(data, pos))
        pos += header.size
    return records


def test_a_roll_that_cannot_write_its_files_fails_with_a_storage_error_and_keeps_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from broker.storage import index
    from broker.storage.errors import LogStorageError

    log = _open(tmp_path / "p-0", segment_bytes=300, index_interval_bytes=0)
    for i in range(3):
        _append(log, b"x%d" % i, count=2)
    segments, end = log.segment_count, log.log_end_offset
    real_append = index._append_whole

    def disk_full(path: Path, chunk: bytes, persisted_bytes: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(index, "_append_whole", disk_full)
    refused = None
    for i in range(10):  # appends go on until the next roll meets the "full disk"
        try:
            _append(log, b"y%d" % i, count=2)
        except LogStorageError as exc:
            refused = str(exc)
            break
    assert refused is not None
    assert "No space left on device" in refused
    assert log.log_end_offset >= end
    stuck_end, stuck_segments = log.log_end_offset, log.segment_count
    assert stuck_segments >= segments
    with pytest.raises(LogStorageError):
        _append(log, b"z", count=2)
    assert (log.log_end_offset, log.segment_count) == (stuck_end, stuck_segments)

    monkeypatch.setattr(index, "_append_whole", real_append)
    _append(log, b"z", count=2)  # space is back: the roll and the append succeed
    assert log.segment_count == stuck_segments + 1
    assert log.log_end_offset == stuck_end + 2
    offset = 0
    values: list[bytes | None] = []
    while offset < log.log_end_offset:
        records = decode_batch_all(bytes(log.read(offset, 1 << 20, log.log_end_offset).data))
        values.extend(r.value for r in records)
        offset = records[-1].offset + 1
    assert len(values) == log.log_end_offset
    log.close()
