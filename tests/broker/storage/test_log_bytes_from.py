"""``Log.bytes_from``: the bytes of record batches a reader at an offset does not have
yet (what follower lag in bytes reports), whole batches, across segments."""

from __future__ import annotations

from pathlib import Path

from broker.records.batch import check_batch
from broker.records.record import Record, build_batch
from broker.storage.log import Log
from broker.storage.log_config import LogConfig


def _append(log: Log, *values: bytes) -> int:
    batch = build_batch([Record(v, b"k", 1_000) for v in values])
    log.append(batch, check_batch(batch), leader_epoch=0)
    return len(batch)


def test_bytes_from_counts_every_batch_from_the_offset_to_the_log_end_across_segments(
    tmp_path: Path,
) -> None:
    log, _ = Log.open(tmp_path / "t-0", LogConfig(segment_bytes=1024), lambda: 0)
    sizes = [_append(log, bytes([i]) * 400) for i in range(5)]
    assert log.segment_count > 2

    assert log.bytes_from(0) == sum(sizes) == log.size_bytes
    assert log.bytes_from(3) == sizes[3] + sizes[4]
    assert log.bytes_from(5) == 0
    assert log.bytes_from(99) == 0
    log.close()


def test_an_offset_inside_a_batch_counts_that_whole_batch(tmp_path: Path) -> None:
    log, _ = Log.open(tmp_path / "t-0", LogConfig(), lambda: 0)
    first = _append(log, b"a", b"b", b"c")
    second = _append(log, b"d")

    assert log.bytes_from(1) == first + second
    assert log.bytes_from(3) == second
    log.close()
