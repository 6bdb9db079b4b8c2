"""Checkpoint files: the format, atomic replacement, and the data directory's high
watermark checkpoint as the LogManager reads and writes it."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from broker.storage.checkpoint import (
    HIGH_WATERMARK_CHECKPOINT,
    read_log_start_checkpoint,
    read_offset_checkpoint,
    write_log_start_checkpoint,
    write_offset_checkpoint,
)
from broker.storage.epoch_cache import EPOCH_CHECKPOINT
from broker.storage.errors import CorruptCheckpointError, LogStorageError
from broker.storage.log_config import LogConfig
from broker.storage.manager import PARTITION_METADATA, LogManager
from contracts.clock import ManualClock
from tests.broker.storage.helpers import append_values


def open_manager(path: Path) -> LogManager:
    manager = LogManager(path, LogConfig(), ManualClock().time_ms)
    manager.open()
    return manager


def test_an_offset_checkpoint_is_kafkas_format_sorted_by_partition(tmp_path: Path) -> None:
    path = tmp_path / HIGH_WATERMARK_CHECKPOINT
    write_offset_checkpoint(path, {("orders", 1): 7, ("audit", 0): 0, ("orders", 0): 12})
    assert path.read_text() == "0\n3\naudit 0 0\norders 0 12\norders 1 7\n"
    assert read_offset_checkpoint(path) == {("audit", 0): 0, ("orders", 0): 12, ("orders", 1): 7}


def test_an_empty_offset_checkpoint_round_trips(tmp_path: Path) -> None:
    path = tmp_path / HIGH_WATERMARK_CHECKPOINT
    write_offset_checkpoint(path, {})
    assert path.read_text() == "0\n0\n"
    assert read_offset_checkpoint(path) == {}


CORRUPT_OFFSET_CHECKPOINTS = [
    pytest.param("0\n1\norders 0\n", "has 2 fields, expected 3", id="a missing offset"),
    pytest.param("0\n1\norders  0 5\n", "has 4 fields, expected 3", id="a doubled space"),
    pytest.param("0\n1\norders x 5\n", "partition 'x' is not an integer", id="a word partition"),
    pytest.param("0\n1\norders 0 -5\n", "offset of orders-0 -5 is negative", id="a negative"),
    pytest.param("0\n2\norders 0 5\norders 0 6\n", "orders-0 appears twice", id="a duplicate"),
    pytest.param("0\n2\norders 0 5\n", "announces 2 entries but holds 1", id="a lost line"),
    pytest.param("0\nmany\n", "entry count 'many' is not an integer", id="a word count"),
]


@pytest.mark.parametrize(("content", "reason"), CORRUPT_OFFSET_CHECKPOINTS)
def test_a_corrupt_offset_checkpoint_is_refused_with_its_name_and_the_reason(
    tmp_path: Path, content: str, reason: str
) -> None:
    path = tmp_path / HIGH_WATERMARK_CHECKPOINT
    path.write_text(content)
    with pytest.raises(CorruptCheckpointError) as caught:
        read_offset_checkpoint(path)
    assert str(caught.value).startswith(f"{HIGH_WATERMARK_CHECKPOINT}: ")
    assert reason in str(caught.value)


def test_a_rewrite_replaces_the_whole_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / HIGH_WATERMARK_CHECKPOINT
    write_offset_checkpoint(path, {("a", 0): 1, ("b", 0): 2})
    write_offset_checkpoint(path, {("a", 0): 3})
    assert read_offset_checkpoint(path) == {("a", 0): 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == [HIGH_WATERMARK_CHECKPOINT]


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / HIGH_WATERMARK_CHECKPOINT
    write_offset_checkpoint(path, {("a", 0): 1})
    (tmp_path / f"{HIGH_WATERMARK_CHECKPOINT}.tmp").mkdir()  # the temporary file cannot be made
    with pytest.raises(LogStorageError, match=f"cannot write {HIGH_WATERMARK_CHECKPOINT}"):
        write_offset_checkpoint(path, {("a", 0): 2})
    assert read_offset_checkpoint(path) == {("a", 0): 1}


def test_rewriting_the_content_a_file_holds_writes_nothing_so_a_full_disk_cannot_refuse_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / HIGH_WATERMARK_CHECKPOINT
    write_offset_checkpoint(path, {("a", 0): 1})
    written = path.stat()
    (tmp_path / f"{HIGH_WATERMARK_CHECKPOINT}.tmp").mkdir()  # no new file can be made
    write_offset_checkpoint(path, {("a", 0): 1})
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (written.st_ino, written.st_mtime_ns)
    with pytest.raises(LogStorageError, match=f"cannot write {HIGH_WATERMARK_CHECKPOINT}"):
        write_offset_checkpoint(path, {("a", 0): 2})  # a change still needs the disk
    assert read_offset_checkpoint(path) == {("a", 0): 1}


def test_reopening_a_data_directory_replaces_none_of_its_metadata_files(tmp_path: Path) -> None:
    manager = open_manager(tmp_path)
    opened = manager.ensure_log("orders", 0, uuid.uuid4(), LogConfig())
    append_values(opened, b"v")  # writes the partition's leader epoch checkpoint
    manager.close()
    metadata = [
        tmp_path / "meta.json",
        tmp_path / "orders-0" / PARTITION_METADATA,
        tmp_path / "orders-0" / EPOCH_CHECKPOINT,
    ]
    before = {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in metadata}
    open_manager(tmp_path).close()
    assert {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in metadata} == before


def test_the_log_start_checkpoint_round_trips_and_is_absent_until_written(
    tmp_path: Path,
) -> None:
    assert read_log_start_checkpoint(tmp_path) is None
    write_log_start_checkpoint(tmp_path, 4213)
    assert read_log_start_checkpoint(tmp_path) == 4213


# -- the LogManager's high watermark checkpoint -----------------------------------------


def test_high_watermarks_written_by_the_manager_are_read_back_after_a_restart(
    tmp_path: Path,
) -> None:
    manager = open_manager(tmp_path)
    assert manager.high_watermark_checkpoint("orders", 0) is None
    manager.write_high_watermarks({("orders", 0): 10, ("orders", 1): 3})
    assert manager.high_watermark_checkpoint("orders", 1) == 3
    manager.close()
    again = open_manager(tmp_path)
    assert again.high_watermark_checkpoint("orders", 0) == 10
    assert again.high_watermark_checkpoint("orders", 1) == 3
    assert again.high_watermark_checkpoint("orders", 2) is None
    assert again.high_watermark_checkpoint_error is None


def test_a_later_write_drops_partitions_it_leaves_out(tmp_path: Path) -> None:
    manager = open_manager(tmp_path)
    manager.write_high_watermarks({("orders", 0): 10, ("gone", 0): 4})
    manager.write_high_watermarks({("orders", 0): 11})
    assert manager.high_watermark_checkpoint("gone", 0) is None
    manager.close()
    assert open_manager(tmp_path).high_watermark_checkpoint("gone", 0) is None


def test_a_corrupt_high_watermark_checkpoint_is_ignored_and_reported(tmp_path: Path) -> None:
    open_manager(tmp_path).close()
    (tmp_path / HIGH_WATERMARK_CHECKPOINT).write_text("0\n1\norders 0 ten\n")
    manager = open_manager(tmp_path)
    assert manager.high_watermark_checkpoint("orders", 0) is None
    assert manager.high_watermark_checkpoint_error is not None
    assert "offset of orders-0 'ten' is not an integer" in manager.high_watermark_checkpoint_error
    manager.write_high_watermarks({("orders", 0): 10})
    assert read_offset_checkpoint(tmp_path / HIGH_WATERMARK_CHECKPOINT) == {("orders", 0): 10}


def test_a_temporary_checkpoint_left_by_a_crash_is_removed_at_open(tmp_path: Path) -> None:
    open_manager(tmp_path).close()
    stray = tmp_path / f"{HIGH_WATERMARK_CHECKPOINT}.tmp"
    stray.write_text("0\n1\nor")
    manager = open_manager(tmp_path)
    assert not stray.exists()
    assert manager.high_watermark_checkpoint("or", 0) is None


@pytest.mark.parametrize(
    "offsets",
    [
        pytest.param({("orders", 0): -1}, id="a negative offset"),
        pytest.param({("orders", -1): 0}, id="a negative partition"),
        pytest.param({("two words", 0): 0}, id="a topic with a space"),
    ],
)
def test_an_offset_that_could_not_be_read_back_is_not_written(
    tmp_path: Path, offsets: dict[tuple[str, int], int]
) -> None:
    with pytest.raises(ValueError, match="cannot checkpoint offset"):
        write_offset_checkpoint(tmp_path / HIGH_WATERMARK_CHECKPOINT, offsets)
    assert not (tmp_path / HIGH_WATERMARK_CHECKPOINT).exists()
