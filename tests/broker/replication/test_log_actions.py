"""The edge's executor of replication actions on a real partition log."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.records.record import Record, build_batch
from broker.replication import (
    AdvanceLogStart,
    AppendReplicated,
    AssignLeaderEpoch,
    DeleteLog,
    TruncateFullyAndStartAt,
    TruncateTo,
)
from broker.replication.log_actions import apply_follower_actions, apply_role_actions
from broker.storage.epoch_cache import EpochEntry
from broker.storage.log import Log
from contracts.clock import ManualClock
from tests.broker.storage.helpers import log_bytes, open_log


def leader_batch(base_offset: int, epoch: int, count: int = 2) -> bytes:
    records = [
        Record(b"v%d" % (base_offset + i), key=b"k", timestamp_ms=1_000) for i in range(count)
    ]
    return build_batch(records, base_offset=base_offset, leader_epoch=epoch)


@pytest.fixture
def log(tmp_path: Path) -> Log:
    """Offsets 0-9 in five batches: epoch 1 from 0, epoch 2 from 6."""
    log = open_log(tmp_path, ManualClock(), segment_bytes=200)
    data = b"".join(leader_batch(b, 1 if b < 6 else 2) for b in range(0, 10, 2))
    apply_follower_actions(log, [AppendReplicated(data)])
    return log


def test_appended_batches_are_stored_byte_for_byte(tmp_path: Path, log: Log) -> None:
    expected = b"".join(leader_batch(b, 1 if b < 6 else 2) for b in range(0, 10, 2))
    assert log_bytes(tmp_path) == expected
    assert log.epoch_cache.entries == [EpochEntry(1, 0), EpochEntry(2, 6)]


def test_a_truncation_cuts_the_log_and_its_epochs(log: Log) -> None:
    apply_follower_actions(log, [TruncateTo(6)])
    assert (log.log_end_offset, log.epoch_cache.entries) == (6, [EpochEntry(1, 0)])


def test_a_truncation_below_the_log_start_restarts_the_log_there(log: Log) -> None:
    apply_follower_actions(log, [AdvanceLogStart(4), TruncateTo(2)])
    assert (log.log_start_offset, log.log_end_offset) == (2, 2)
    assert log.epoch_cache.entries == []


def test_a_truncation_at_the_log_end_drops_an_epoch_assigned_there(log: Log) -> None:
    apply_role_actions(log, [AssignLeaderEpoch(5)])
    assert log.epoch_cache.latest_epoch == 5
    apply_follower_actions(log, [TruncateTo(10)])
    assert log.epoch_cache.entries == [EpochEntry(1, 0), EpochEntry(2, 6)]


@pytest.mark.parametrize(
    ("offset", "start"),
    [(4, 4), (50, 10), (0, 0)],
    ids=["moves up", "not past the log end", "never down"],
)
def test_the_log_start_follows_the_leaders_within_the_log(
    log: Log, offset: int, start: int
) -> None:
    apply_follower_actions(log, [AdvanceLogStart(offset)])
    assert log.log_start_offset == start


def test_a_full_truncation_empties_the_log_at_the_given_offset(log: Log) -> None:
    apply_follower_actions(
        log, [TruncateFullyAndStartAt(40), AppendReplicated(leader_batch(40, 3))]
    )
    assert (log.log_start_offset, log.log_end_offset) == (40, 42)
    assert log.epoch_cache.entries == [EpochEntry(3, 40)]


def test_deleting_the_log_is_left_to_the_log_manager(log: Log) -> None:
    apply_role_actions(log, [DeleteLog()])
    assert log.log_end_offset == 10
