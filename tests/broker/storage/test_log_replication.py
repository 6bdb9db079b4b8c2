"""The partition log as a replica: leader epochs, follower appends of the leader's
bytes, replica reads, the log start following the leader's, and the epoch cache
checked against the log when it opens."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from broker.records.batch import CorruptBatchError, crc_of
from broker.records.record import Record, build_batch
from broker.storage.epoch_cache import EPOCH_CHECKPOINT, EpochEntry
from broker.storage.errors import (
    FencedLeaderEpochError,
    InvalidRecordError,
    OffsetOutOfRangeError,
    OutOfOrderSequenceError,
    UnexpectedAppendOffsetError,
)
from broker.storage.log import Log
from broker.storage.log_config import LogConfig
from contracts.clock import ManualClock
from tests.broker.storage.helpers import (
    append_values,
    batch_of,
    log_bytes,
    open_log,
    producer_state_json,
    replicate,
    segment_files,
    values_from,
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def leader_batch(
    base_offset: int, *values: bytes, epoch: int = 0, producer_id: int = -1, sequence: int = -1
) -> bytes:
    """A batch as a leader stores it: offsets and leader epoch assigned."""
    return build_batch(
        [Record(v, key=b"k", timestamp_ms=1_000 + base_offset) for v in values],
        base_offset=base_offset,
        leader_epoch=epoch,
        producer_id=producer_id,
        producer_epoch=0 if producer_id >= 0 else -1,
        base_sequence=sequence,
    )


def with_attributes(raw: bytes, attributes: int) -> bytes:
    """``raw`` with its attributes replaced and the CRC recomputed."""
    patched = bytearray(raw)
    struct.pack_into(">h", patched, 21, attributes)
    struct.pack_into(">I", patched, 17, crc_of(patched, 0, len(patched)))
    return bytes(patched)


def fill_leader(leader: Log) -> None:
    """Batches of several sizes, producers and leader epochs: the material every
    replication test copies."""
    for i in range(12):
        append_values(leader, *[b"v%02d-%d" % (i, r) for r in range(1 + i % 3)])
    leader.assign_leader_epoch(3)
    for seq in range(0, 15, 3):
        raw, header = batch_of(b"a", b"b", b"c", producer_id=7, epoch=0, sequence=seq)
        leader.append(raw, header, 3)
    leader.assign_leader_epoch(4)
    leader.assign_leader_epoch(6)
    for i in range(8):
        append_values_at(leader, 6, b"late-%d" % i)


def append_values_at(log: Log, leader_epoch: int, *values: bytes) -> None:
    raw, header = batch_of(*values)
    log.append(raw, header, leader_epoch)


# -- byte-identical replicas ---------------------------------------------------------


@pytest.mark.parametrize(
    "max_bytes",
    [
        pytest.param(1 << 20, id="whole segments per fetch"),
        pytest.param(150, id="about one batch per fetch"),
    ],
)
def test_a_follower_fed_the_leaders_reads_is_byte_identical_across_segment_rolls(
    tmp_path: Path, clock: ManualClock, max_bytes: int
) -> None:
    leader = open_log(tmp_path / "leader", clock, segment_bytes=400)
    follower = open_log(tmp_path / "follower", clock, segment_bytes=400)
    fill_leader(leader)
    assert leader.segment_count > 3
    replicate(leader, follower, max_bytes)
    assert follower.log_end_offset == leader.log_end_offset
    assert segment_files(tmp_path / "follower") == segment_files(tmp_path / "leader")
    assert follower.epoch_cache.entries == [
        EpochEntry(0, 0),
        EpochEntry(3, 24),
        EpochEntry(6, 39),
    ]
    for epoch in range(8):
        leader_answer = leader.end_offset_for_epoch(epoch)
        assert follower.end_offset_for_epoch(epoch).end_offset == leader_answer.end_offset
    scratch = tmp_path / "scratch.json"
    assert producer_state_json(follower.producer_state, scratch) == producer_state_json(
        leader.producer_state, scratch
    )


def test_replicas_with_other_segment_sizes_hold_the_same_bytes_in_other_files(
    tmp_path: Path, clock: ManualClock
) -> None:
    leader = open_log(tmp_path / "leader", clock, segment_bytes=400)
    follower = open_log(tmp_path / "follower", clock, segment_bytes=1000)
    fill_leader(leader)
    replicate(leader, follower, max_bytes=700)
    assert follower.segment_count < leader.segment_count
    assert log_bytes(tmp_path / "follower") == log_bytes(tmp_path / "leader")
    assert values_from(follower) == values_from(leader)


def test_a_follower_reopened_after_replication_keeps_everything(
    tmp_path: Path, clock: ManualClock
) -> None:
    leader = open_log(tmp_path / "leader", clock, segment_bytes=400)
    follower = open_log(tmp_path / "follower", clock, segment_bytes=400)
    fill_leader(leader)
    replicate(leader, follower)
    follower.close()
    reopened, recovery = Log.open(
        tmp_path / "follower", LogConfig(segment_bytes=400), clock.time_ms
    )
    assert recovery.epoch_cache_rebuilt is None
    assert reopened.epoch_cache.entries == follower.epoch_cache.entries
    assert reopened.log_end_offset == leader.log_end_offset
    retry, retry_header = batch_of(b"a", b"b", b"c", producer_id=7, epoch=0, sequence=12)
    assert reopened.append(retry, retry_header, 6).duplicate


def test_a_partial_batch_at_the_end_of_the_input_is_left_for_the_next_fetch(
    tmp_path: Path, clock: ManualClock
) -> None:
    follower = open_log(tmp_path, clock)
    first, second = leader_batch(0, b"a", b"b"), leader_batch(2, b"c")
    info = follower.append_replicated(first + second[:30])
    assert (info.first_offset, info.last_offset, info.batches, info.records) == (0, 1, 1, 2)
    assert info.size_bytes == len(first)
    assert follower.log_end_offset == 2
    info = follower.append_replicated(second + leader_batch(3, b"d")[:5])
    assert (info.first_offset, info.last_offset, info.size_bytes) == (2, 2, len(second))
    assert log_bytes(tmp_path) == first + second


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="nothing"),
        pytest.param(b"\0" * 11, id="less than a batch prefix"),
        pytest.param(leader_batch(0, b"a")[:40], id="part of a header"),
        pytest.param(leader_batch(0, b"a")[:-1], id="all but the last byte"),
    ],
)
def test_an_input_without_a_whole_batch_stores_nothing(
    tmp_path: Path, clock: ManualClock, data: bytes
) -> None:
    follower = open_log(tmp_path, clock)
    append_values(follower, b"x")
    info = follower.append_replicated(data)
    assert (info.first_offset, info.last_offset, info.batches, info.size_bytes) == (1, 0, 0, 0)
    assert follower.log_end_offset == 1


# -- refused follower input ----------------------------------------------------------

REFUSED_INPUTS = [
    pytest.param(
        lambda: leader_batch(4, b"a"),
        UnexpectedAppendOffsetError,
        "(offset 4): leaves a gap of 2 offsets after the log end offset 2",
        id="a gap after the log end",
    ),
    pytest.param(
        lambda: leader_batch(1, b"a"),
        UnexpectedAppendOffsetError,
        "(offset 1): overlaps 1 offsets already stored below the log end offset 2",
        id="an overlap with stored offsets",
    ),
    pytest.param(
        lambda: leader_batch(2, b"a") + leader_batch(4, b"b"),
        UnexpectedAppendOffsetError,
        "(offset 4): expected offset 3 right after the previous batch",
        id="batches that are not contiguous",
    ),
    pytest.param(
        lambda: leader_batch(2, b"a") + leader_batch(3, b"b")[:-1] + b"!",
        CorruptBatchError,
        "(offset 3): CRC mismatch",
        id="a bad CRC in a later batch",
    ),
    pytest.param(
        lambda: leader_batch(2, b"a")[:16] + b"\x01" + leader_batch(2, b"a")[17:],
        CorruptBatchError,
        "(offset 2): unsupported magic 1",
        id="an old magic",
    ),
    pytest.param(
        lambda: struct.pack(">qi", 2, 20) + b"\0" * 60,
        CorruptBatchError,
        "claims 32 bytes, fewer than a batch header (61)",
        id="a length shorter than a header",
    ),
    pytest.param(
        lambda: with_attributes(leader_batch(2, b"a"), 0x10),
        InvalidRecordError,
        "transactional and control batches are not supported",
        id="a transactional batch",
    ),
]


@pytest.mark.parametrize(("make", "error", "message"), REFUSED_INPUTS)
def test_follower_input_that_does_not_continue_the_log_is_refused_and_nothing_stored(
    tmp_path: Path,
    clock: ManualClock,
    make: Callable[[], bytes],
    error: type[Exception],
    message: str,
) -> None:
    follower = open_log(tmp_path, clock, segment_bytes=200)
    follower.append_replicated(leader_batch(0, b"x", b"y", epoch=1))
    before = (log_bytes(tmp_path), follower.size_bytes, follower.epoch_cache.entries)
    files = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(error) as caught:
        follower.append_replicated(make())
    assert f"{tmp_path.name}: replicated batch at byte" in str(caught.value)
    assert message in str(caught.value)
    assert follower.log_end_offset == 2
    assert (log_bytes(tmp_path), follower.size_bytes, follower.epoch_cache.entries) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == files


def test_a_follower_does_not_apply_max_message_bytes(tmp_path: Path, clock: ManualClock) -> None:
    follower = open_log(tmp_path, clock, max_message_bytes=100)
    big = leader_batch(0, b"x" * 500)
    assert follower.append_replicated(big).size_bytes == len(big)


# -- producer state survives a failover ----------------------------------------------


def test_a_follower_that_becomes_leader_deduplicates_the_producers_retries(
    tmp_path: Path, clock: ManualClock
) -> None:
    leader = open_log(tmp_path / "leader", clock, segment_bytes=300)
    follower = open_log(tmp_path / "follower", clock, segment_bytes=300)
    sent = []
    for seq in range(0, 12, 2):
        raw, header = batch_of(b"p", b"q", producer_id=42, epoch=0, sequence=seq)
        sent.append((raw, header, leader.append(raw, header, 0)))
    replicate(leader, follower)
    follower.assign_leader_epoch(1)  # the follower becomes leader
    for raw, header, original in sent[-5:]:
        retried = follower.append(raw, header, 1)
        assert retried.duplicate
        assert (retried.base_offset, retried.last_offset) == (
            original.base_offset,
            original.last_offset,
        )
    skipped, skipped_header = batch_of(b"z", producer_id=42, epoch=0, sequence=14)
    with pytest.raises(OutOfOrderSequenceError, match="expected 12"):
        follower.append(skipped, skipped_header, 1)
    nxt, nxt_header = batch_of(b"z", producer_id=42, epoch=0, sequence=12)
    assert follower.append(nxt, nxt_header, 1).base_offset == 12


# -- leader epochs ------------------------------------------------------------------


def test_a_leader_records_each_new_epoch_at_the_offset_of_its_first_batch(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock)
    append_values_at(log, 0, b"a", b"b")
    append_values_at(log, 0, b"c")
    append_values_at(log, 2, b"d")
    assert log.epoch_cache.entries == [EpochEntry(0, 0), EpochEntry(2, 3)]
    assert log.end_offset_for_epoch(0) == (0, 3)
    assert log.end_offset_for_epoch(1) == (0, 3)
    assert log.end_offset_for_epoch(2) == (2, 4)
    assert (tmp_path / EPOCH_CHECKPOINT).read_text() == "0\n2\n0 0\n2 3\n"


def test_a_new_leader_records_its_epoch_at_the_log_end_before_appending(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock)
    append_values_at(log, 1, b"a", b"b")
    log.assign_leader_epoch(5)
    log.assign_leader_epoch(5)
    assert log.epoch_cache.entries == [EpochEntry(1, 0), EpochEntry(5, 2)]
    assert log.end_offset_for_epoch(1) == (1, 2)
    append_values_at(log, 5, b"c")
    assert log.epoch_cache.entries == [EpochEntry(1, 0), EpochEntry(5, 2)]


def test_a_stale_leader_epoch_is_fenced_and_nothing_is_stored(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock)
    append_values_at(log, 3, b"a")
    raw, header = batch_of(b"b")
    with pytest.raises(
        FencedLeaderEpochError, match="leader epoch 2 is older than the latest epoch 3"
    ):
        log.append(raw, header, 2)
    with pytest.raises(FencedLeaderEpochError):
        log.assign_leader_epoch(1)
    assert log.log_end_offset == 1
    assert log.epoch_cache.entries == [EpochEntry(3, 0)]


def test_a_leader_that_never_had_an_epoch_appends_without_a_cache_file(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock)
    append_values_at(log, -1, b"a")
    assert log.epoch_cache.entries == []
    assert not (tmp_path / EPOCH_CHECKPOINT).exists()


# -- replica reads ---------------------------------------------------------------------


def test_a_replica_read_goes_past_the_high_watermark_up_to_the_log_end(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock)
    for i in range(4):
        append_values(log, b"v%d" % i)
    high_watermark = 2
    assert log.read(0, 1 << 20, high_watermark).batches == 2
    assert log.read_replica(0, 1 << 20).batches == 4
    assert log.read_replica(3, 1).batches == 1  # at least one whole batch
    assert log.read_replica(4, 1 << 20).batches == 0
    with pytest.raises(OffsetOutOfRangeError):
        log.read_replica(5, 1 << 20)


# -- the log start follows the leader's --------------------------------------------------


def test_advancing_the_log_start_deletes_whole_segments_below_it_and_survives_a_restart(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock, segment_bytes=300)
    for i in range(20):
        append_values_at(log, i // 7, b"value-%02d" % i)
    bases = sorted(int(p.stem) for p in tmp_path.glob("*.log"))
    start = bases[2] + 1  # inside the third segment
    deleted = log.advance_log_start(start)
    assert [d.base_offset for d in deleted] == bases[:2]
    assert log.log_start_offset == start
    assert values_from(log, start) == [b"value-%02d" % i for i in range(start, 20)]
    with pytest.raises(OffsetOutOfRangeError):
        log.read(start - 1, 1000, log.log_end_offset)
    assert log.epoch_cache.entries[0] == EpochEntry(start // 7, start)
    assert log.record_timestamp(start - 1) is None
    found = log.offset_for_timestamp(0)
    assert found is not None
    assert found[0] == start
    log.close()
    reopened = open_log(tmp_path, clock, segment_bytes=300)
    assert reopened.log_start_offset == start
    assert reopened.epoch_cache.entries[0] == EpochEntry(start // 7, start)


def test_advancing_the_log_start_backwards_changes_nothing_and_past_the_end_is_refused(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock)
    for i in range(3):
        append_values(log, b"v%d" % i)
    assert log.advance_log_start(2) == []
    assert log.advance_log_start(1) == []
    assert log.log_start_offset == 2
    with pytest.raises(OffsetOutOfRangeError, match="above its end offset 3"):
        log.advance_log_start(4)
    assert log.advance_log_start(3) == []
    assert log.log_start_offset == log.log_end_offset == 3


def test_a_log_truncated_fully_restarts_empty_at_the_offset(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock, segment_bytes=300)
    for seq in range(10):
        raw, header = batch_of(b"value-%d" % seq, producer_id=3, epoch=0, sequence=seq)
        log.append(raw, header, 1)
    log.advance_log_start(4)
    info = log.truncate_fully_and_start_at(500)
    assert (info.previous_end_offset, info.log_end_offset) == (10, 500)
    assert info.removed_bytes > 0
    assert (log.log_start_offset, log.log_end_offset, log.size_bytes) == (500, 500, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "00000000000000000500.log",
        EPOCH_CHECKPOINT,
    ]
    assert log.epoch_cache.entries == []
    assert len(log.producer_state) == 0
    follower_input = leader_batch(500, b"from the leader", epoch=4)
    assert log.append_replicated(follower_input).first_offset == 500
    log.close()
    reopened = open_log(tmp_path, clock, segment_bytes=300)
    assert (reopened.log_start_offset, reopened.log_end_offset) == (500, 501)
    assert reopened.epoch_cache.entries == [EpochEntry(4, 500)]


def test_retention_moves_the_first_epoch_entry_with_the_log_start(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock, segment_bytes=300, retention_bytes=600)
    for i in range(20):
        append_values_at(log, i // 10, b"value-%02d" % i)
    log.delete_expired(clock.time_ms())
    start = log.log_start_offset
    assert start > 0
    assert log.epoch_cache.entries[0].start_offset == start


# -- the epoch cache checked at open -------------------------------------------------


def write_two_epochs(tmp_path: Path, clock: ManualClock) -> Log:
    log = open_log(tmp_path, clock, segment_bytes=300)
    for i in range(12):
        append_values_at(log, 2 if i < 5 else 7, b"value-%02d" % i)
    assert log.segment_count > 2
    log.close()
    return log


EXPECTED_EPOCHS = [EpochEntry(2, 0), EpochEntry(7, 5)]


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        pytest.param(lambda p: p.unlink(), "is missing", id="a missing checkpoint"),
        pytest.param(lambda p: p.write_text("0\n2\n2 0\n"), "announces 2", id="a corrupt one"),
        pytest.param(
            lambda p: p.write_text("0\n1\n2 0\n"),
            "gives offset 11 epoch 2, the batch there says 7",
            id="one missing the latest epoch",
        ),
    ],
)
def test_an_epoch_cache_that_does_not_describe_the_log_is_rebuilt_from_the_batches(
    tmp_path: Path, clock: ManualClock, damage: Callable[[Path], object], reason: str
) -> None:
    write_two_epochs(tmp_path, clock)
    damage(tmp_path / EPOCH_CHECKPOINT)
    log, recovery = Log.open(tmp_path, LogConfig(segment_bytes=300), clock.time_ms)
    assert log.epoch_cache.entries == EXPECTED_EPOCHS
    assert recovery.epoch_cache_rebuilt is not None
    assert reason in recovery.epoch_cache_rebuilt
    assert (tmp_path / EPOCH_CHECKPOINT).read_text() == "0\n2\n2 0\n7 5\n"


def test_epoch_entries_beyond_the_recovered_log_end_are_dropped_at_open(
    tmp_path: Path, clock: ManualClock
) -> None:
    write_two_epochs(tmp_path, clock)
    (tmp_path / EPOCH_CHECKPOINT).write_text("0\n3\n2 0\n7 5\n9 12\n")
    log, recovery = Log.open(tmp_path, LogConfig(segment_bytes=300), clock.time_ms)
    assert log.epoch_cache.entries == EXPECTED_EPOCHS
    assert recovery.epoch_cache_rebuilt is None


def test_a_fresh_log_has_no_epoch_cache_and_nothing_to_rebuild(
    tmp_path: Path, clock: ManualClock
) -> None:
    log, recovery = Log.open(tmp_path, LogConfig(), clock.time_ms)
    assert log.epoch_cache.entries == []
    assert recovery.epoch_cache_rebuilt is None
    assert not (tmp_path / EPOCH_CHECKPOINT).exists()


def test_a_log_written_before_epoch_caches_existed_gets_one_at_open(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = open_log(tmp_path, clock, segment_bytes=300)
    for i in range(8):
        append_values(log, b"value-%d" % i)
    log.close()
    (tmp_path / EPOCH_CHECKPOINT).unlink()
    reopened, recovery = Log.open(tmp_path, LogConfig(segment_bytes=300), clock.time_ms)
    assert reopened.epoch_cache.entries == [EpochEntry(0, 0)]
    assert recovery.epoch_cache_rebuilt == f"{EPOCH_CHECKPOINT} is missing"
