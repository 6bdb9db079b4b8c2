"""The partition log: append, read, roll, retention, recovery, idempotence."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from broker.storage.errors import (
    InvalidProducerEpochError,
    OffsetOutOfRangeError,
    OutOfOrderSequenceError,
    RecordTooLargeError,
)
from broker.storage.log import Log
from broker.storage.log_config import LogConfig
from contracts.clock import ManualClock
from tests.broker.storage.helpers import append_values, batch_of, open_log, values_from


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def test_appends_get_consecutive_offsets_and_read_back_identically(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock)
    first = append_values(log, b"a", b"b")
    second = append_values(log, b"c")
    assert (first.base_offset, first.last_offset) == (0, 1)
    assert (second.base_offset, second.last_offset) == (2, 2)
    assert log.log_end_offset == 3
    assert values_from(log) == [b"a", b"b", b"c"]


def test_the_caller_buffer_is_not_modified_by_append(tmp_path: Path, clock: ManualClock) -> None:
    log = open_log(tmp_path, clock)
    append_values(log, b"first")
    raw, header = batch_of(b"second")
    copy = bytes(raw)
    log.append(raw, header, leader_epoch=5)
    assert raw == copy
    stored = bytes(log.read(1, 1000, log.log_end_offset).data)
    assert int.from_bytes(stored[:8], "big") == 1
    assert int.from_bytes(stored[12:16], "big") == 5


def test_reading_from_the_middle_of_a_batch_returns_the_whole_batch(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock)
    append_values(log, b"a", b"b", b"c")
    info = log.read(1, 1000, log.log_end_offset)
    assert info.batches == 1
    assert int.from_bytes(bytes(info.data[:8]), "big") == 0


def test_a_read_returns_at_least_one_whole_batch_even_above_max_bytes(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock)
    append_values(log, b"x" * 5000)
    append_values(log, b"y")
    info = log.read(0, 100, log.log_end_offset)
    assert info.batches == 1
    assert len(info.data) > 5000
    assert log.read(0, 100, log.log_end_offset, min_one=False).batches == 0


def test_reads_stop_at_the_high_watermark(tmp_path: Path, clock: ManualClock) -> None:
    log = open_log(tmp_path, clock)
    append_values(log, b"a")
    append_values(log, b"b")
    assert log.read(0, 1 << 20, max_offset=1).batches == 1
    assert log.read(1, 1 << 20, max_offset=1).batches == 0


def test_offsets_outside_the_log_are_out_of_range(tmp_path: Path, clock: ManualClock) -> None:
    log = open_log(tmp_path, clock)
    append_values(log, b"a")
    with pytest.raises(OffsetOutOfRangeError):
        log.read(2, 100, log.log_end_offset)
    assert log.read(1, 100, log.log_end_offset).batches == 0


def test_a_batch_larger_than_max_message_bytes_is_refused(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock, max_message_bytes=200)
    with pytest.raises(RecordTooLargeError, match=r"max\.message\.bytes=200"):
        append_values(log, b"x" * 500)
    assert log.log_end_offset == 0


def test_segments_roll_by_size_and_reads_cross_them(tmp_path: Path, clock: ManualClock) -> None:
    log = open_log(tmp_path, clock, segment_bytes=300)
    for i in range(20):
        append_values(log, b"value-%02d" % i)
    assert log.segment_count > 3
    assert values_from(log) == [b"value-%02d" % i for i in range(20)]
    assert sorted(p.name for p in tmp_path.glob("*.log"))[0] == "00000000000000000000.log"


def test_segments_roll_by_age(tmp_path: Path, clock: ManualClock) -> None:
    log = open_log(tmp_path, clock, segment_ms=60_000)
    append_values(log, b"a")
    clock.advance(30)
    append_values(log, b"b")
    assert log.segment_count == 1
    clock.advance(31)
    append_values(log, b"c")
    assert log.segment_count == 2
    assert log.active.base_offset == 2


def test_retention_by_time_deletes_old_segments_and_advances_the_log_start(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock, segment_bytes=200, retention_ms=10_000)
    now = clock.time_ms()
    for i in range(6):
        append_values(log, b"old-%d" % i, timestamp_ms=now - 60_000)
    for i in range(6):
        append_values(log, b"new-%d" % i, timestamp_ms=now)
    deleted = log.delete_expired(now)
    assert deleted
    assert all("retention.ms" in d.reason for d in deleted)
    assert log.log_start_offset == deleted[-1].next_offset
    assert log.log_start_offset <= 6
    assert values_from(log, log.log_start_offset)[-6:] == [b"new-%d" % i for i in range(6)]
    with pytest.raises(OffsetOutOfRangeError):
        log.read(0, 100, log.log_end_offset)


def test_retention_by_size_keeps_the_newest_data_within_the_limit(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock, segment_bytes=200, retention_bytes=500)
    for i in range(30):
        append_values(log, b"v%02d" % i)
    log.delete_expired(clock.time_ms())
    assert log.size_bytes <= 500 + 200
    kept = values_from(log, log.log_start_offset)
    assert kept == [b"v%02d" % i for i in range(log.log_start_offset, 30)]


def test_retention_of_zero_deletes_the_active_segment_data_too(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock, retention_ms=0)
    append_values(log, b"a", b"b", timestamp_ms=clock.time_ms() - 10)
    log.delete_expired(clock.time_ms())
    assert log.log_start_offset == log.log_end_offset == 2
    assert append_values(log, b"c").base_offset == 2


def test_offset_for_timestamp_finds_the_first_record_at_or_after_it(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock, segment_bytes=300, index_interval_bytes=1)
    for i in range(20):
        append_values(log, b"v%d" % i, timestamp_ms=1_000 + 10 * i)
    assert log.offset_for_timestamp(1_000) == (0, 1_000)
    assert log.offset_for_timestamp(1_095) == (10, 1_100)
    assert log.offset_for_timestamp(1_190) == (19, 1_190)
    assert log.offset_for_timestamp(5_000) is None
    assert log.offset_of_max_timestamp() == (19, 1_190)


def test_reopening_after_a_clean_close_keeps_every_record(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock, segment_bytes=250)
    for i in range(15):
        append_values(log, b"v%d" % i)
    log.close()
    reopened, recovery = Log.open(
        tmp_path, LogConfig(segment_bytes=250), clock.time_ms, clean_shutdown=True
    )
    assert recovery.truncated_bytes == 0
    assert reopened.log_end_offset == 15
    assert values_from(reopened) == [b"v%d" % i for i in range(15)]


def test_recovery_truncates_a_torn_tail_and_reports_it(tmp_path: Path, clock: ManualClock) -> None:
    log = open_log(tmp_path, clock)
    for i in range(5):
        append_values(log, b"v%d" % i)
    path = log.active.path
    log.close()
    size = path.stat().st_size
    os.truncate(path, size - 7)
    reopened, recovery = Log.open(tmp_path, LogConfig(), clock.time_ms)
    assert recovery.truncated_bytes > 0
    assert "does not fit" in (recovery.reason or "")
    assert reopened.log_end_offset == 4
    assert values_from(reopened) == [b"v%d" % i for i in range(4)]
    assert append_values(reopened, b"again").base_offset == 4


def test_recovery_drops_a_batch_with_a_bad_crc_and_everything_after_it(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock)
    positions = []
    for i in range(5):
        positions.append(log.active.size)
        append_values(log, b"value-%d" % i)
    path = log.active.path
    log.close()
    with open(path, "r+b") as f:
        f.seek(positions[3] + 70)
        byte = f.read(1)
        f.seek(positions[3] + 70)
        f.write(bytes([byte[0] ^ 0xFF]))
    reopened, recovery = Log.open(tmp_path, LogConfig(), clock.time_ms)
    assert "CRC mismatch" in (recovery.reason or "")
    assert reopened.log_end_offset == 3
    assert values_from(reopened) == [b"value-0", b"value-1", b"value-2"]


def test_a_corrupt_index_of_a_sealed_segment_is_rebuilt(tmp_path: Path, clock: ManualClock) -> None:
    log = open_log(tmp_path, clock, segment_bytes=300, index_interval_bytes=1)
    for i in range(12):
        append_values(log, b"v%d" % i)
    log.close()
    index = tmp_path / "00000000000000000000.index"
    index.write_bytes(b"\x00\x00\x00")
    reopened, recovery = Log.open(tmp_path, LogConfig(segment_bytes=300), clock.time_ms)
    assert recovery.rebuilt_indexes == 1
    assert values_from(reopened) == [b"v%d" % i for i in range(12)]


def test_an_idempotent_retry_is_answered_with_the_original_offsets(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock)
    raw, header = batch_of(b"a", b"b", producer_id=9, epoch=0, sequence=0)
    first = log.append(raw, header, 0)
    again = log.append(raw, header, 0)
    assert again.duplicate
    assert (again.base_offset, again.last_offset) == (first.base_offset, first.last_offset)
    assert log.log_end_offset == 2


def test_idempotent_sequence_errors_match_kafka(tmp_path: Path, clock: ManualClock) -> None:
    log = open_log(tmp_path, clock)
    for seq in range(0, 12, 2):
        raw, header = batch_of(b"a", b"b", producer_id=9, epoch=1, sequence=seq)
        log.append(raw, header, 0)
    gap, gap_header = batch_of(b"z", producer_id=9, epoch=1, sequence=20)
    with pytest.raises(OutOfOrderSequenceError, match="expected 12"):
        log.append(gap, gap_header, 0)
    old, old_header = batch_of(b"z", producer_id=9, epoch=1, sequence=0)
    with pytest.raises(OutOfOrderSequenceError, match="older than the 5 batches"):
        log.append(old, old_header, 0)
    fenced, fenced_header = batch_of(b"z", producer_id=9, epoch=0, sequence=12)
    with pytest.raises(InvalidProducerEpochError):
        log.append(fenced, fenced_header, 0)
    bumped, bumped_header = batch_of(b"z", producer_id=9, epoch=2, sequence=0)
    assert log.append(bumped, bumped_header, 0).base_offset == 12
    new, new_header = batch_of(b"z", producer_id=10, epoch=0, sequence=5)
    with pytest.raises(OutOfOrderSequenceError, match="must start"):
        log.append(new, new_header, 0)


def test_producer_state_survives_a_roll_and_a_restart(tmp_path: Path, clock: ManualClock) -> None:
    log = open_log(tmp_path, clock, segment_bytes=200)
    raw = header = None
    for seq in range(6):
        raw, header = batch_of(b"payload-%d" % seq, producer_id=4, epoch=0, sequence=seq)
        log.append(raw, header, 0)
    assert log.segment_count > 1
    log.close()
    reopened, _ = Log.open(tmp_path, LogConfig(segment_bytes=200), clock.time_ms)
    assert raw is not None
    assert header is not None
    assert reopened.append(raw, header, 0).duplicate
    nxt, nxt_header = batch_of(b"next", producer_id=4, epoch=0, sequence=6)
    assert reopened.append(nxt, nxt_header, 0).base_offset == 6


def test_a_producer_snapshot_of_the_wrong_shape_is_ignored_when_the_log_opens(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock)
    raw, header = batch_of(b"a", producer_id=4, epoch=0, sequence=0)
    log.append(raw, header, 0)
    log.roll()
    log.close()
    snapshots = list(tmp_path.glob("*.snapshot"))
    assert len(snapshots) == 1
    snapshots[0].write_text("[]")  # valid JSON, but not a snapshot
    reopened, _ = Log.open(tmp_path, LogConfig(), clock.time_ms)
    assert values_from(reopened) == [b"a"]
