"""Sequential reads continue into the next segment after a roll (regression: the read
cache pointed the next offset at the end of the sealed segment, so a consumer that had
read a segment to its end got empty reads at the boundary)."""

from __future__ import annotations

from pathlib import Path

from broker.records.batch import check_batch
from broker.records.record import Record, build_batch
from broker.storage.log import Log
from broker.storage.log_config import LogConfig


def _append(log: Log, value: bytes) -> None:
    batch = build_batch([Record(value, b"k", 1_000)])
    log.append(batch, check_batch(batch), leader_epoch=0)


def test_reading_offset_by_offset_crosses_every_segment_boundary(tmp_path: Path) -> None:
    log, _ = Log.open(tmp_path / "t-0", LogConfig(segment_bytes=1024), lambda: 0)
    for i in range(8):
        _append(log, bytes([i]) * 400)
    assert log.segment_count > 2
    for offset in range(8):
        read = log.read(offset, 100, max_offset=log.log_end_offset)
        assert read.batches == 1, f"nothing read at offset {offset}"
        assert int.from_bytes(bytes(read.data[:8]), "big") == offset
    log.close()


def test_a_reader_caught_up_before_a_roll_reads_the_new_segment(tmp_path: Path) -> None:
    log, _ = Log.open(tmp_path / "t-0", LogConfig(segment_bytes=1024), lambda: 0)
    _append(log, b"a" * 400)
    _append(log, b"b" * 400)
    assert log.read(1, 1 << 20, max_offset=log.log_end_offset).batches == 1
    _append(log, b"c" * 400)  # rolls: offset 2 starts a new segment
    assert log.segment_count == 2
    read = log.read(2, 1 << 20, max_offset=log.log_end_offset)
    assert read.batches == 1
    log.close()
