"""A broker's replica read from its segment files: every whole batch, in offset order."""

from __future__ import annotations

from pathlib import Path

from broker.records.batch import patch_offsets
from broker.records.record import Record, build_batch
from loadtest.jepsen.history import StoredRecord
from loadtest.jepsen.replica_files import read_replica


def _batch(base_offset: int, *values: bytes) -> bytes:
    batch = bytearray(build_batch([Record(v, timestamp_ms=1) for v in values]))
    patch_offsets(batch, base_offset, leader_epoch=1)
    return bytes(batch)


def test_every_record_of_every_segment_is_read_in_offset_order(tmp_path: Path) -> None:
    directory = tmp_path / "t-1"
    directory.mkdir()
    (directory / f"{0:020d}.log").write_bytes(_batch(0, b"a", b"b") + _batch(2, b"c"))
    (directory / f"{3:020d}.log").write_bytes(_batch(3, b"d"))
    records = read_replica(tmp_path, "t", 1)
    assert records == tuple(StoredRecord(1, o, v) for o, v in enumerate("abcd"))


def test_a_torn_tail_is_left_out_and_what_precedes_it_kept(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    directory.mkdir()
    whole, torn = _batch(0, b"a"), _batch(1, b"b")
    (directory / f"{0:020d}.log").write_bytes(whole + torn[:-3])
    assert read_replica(tmp_path, "t", 0) == (StoredRecord(0, 0, "a"),)


def test_a_replica_without_a_directory_holds_nothing(tmp_path: Path) -> None:
    assert read_replica(tmp_path, "t", 0) == ()
