"""Truncating a partition log (a follower cutting where it diverged from its leader):
where the cut lands, what it leaves on disk, producer state after it, and crashes in
the middle of it."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from broker.records.batch import BatchHeader, read_prefix
from broker.storage import log as log_module
from broker.storage.epoch_cache import EPOCH_CHECKPOINT, EpochEntry, LeaderEpochCache
from broker.storage.errors import (
    InvalidProducerEpochError,
    OffsetOutOfRangeError,
    OutOfOrderSequenceError,
)
from broker.storage.log import Log
from broker.storage.log_loader import epochs_in_log
from broker.storage.producer_state import ProducerStateManager
from broker.storage.segment import LogSegment
from contracts.clock import ManualClock
from tests.broker.storage.helpers import (
    batch_of,
    log_bytes,
    open_log,
    producer_state_json,
    segment_files,
    values_from,
)

SEGMENT_BYTES = 300


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def value(offset: int) -> bytes:
    return b"value-%03d" % offset


def twelve_batches(directory: Path, clock: ManualClock) -> Log:
    """Offsets 0-23 in 12 two-record batches over several segments; leader epochs 1, 2
    and 3 start at offsets 0, 8 and 16; producer 5 wrote every other batch."""
    log = open_log(directory, clock, segment_bytes=SEGMENT_BYTES)
    for i in range(12):
        offset = 2 * i
        if i % 2:
            raw, header = batch_of(value(offset), value(offset + 1))
        else:
            raw, header = batch_of(
                value(offset), value(offset + 1), producer_id=5, epoch=0, sequence=i
            )
        log.append(raw, header, 1 + i // 4)
    assert log.segment_count >= 4
    return log


def bases(directory: Path) -> list[int]:
    return sorted(int(p.stem) for p in directory.glob("*.log"))


def bytes_below(data: bytes, offset: int) -> int:
    """Length of the batches in ``data`` (a log from offset 0) below ``offset``."""
    pos = 0
    while pos < len(data) and read_prefix(data, pos)[0] < offset:
        pos += read_prefix(data, pos)[1]
    return pos


def expected_epochs(cut: int) -> list[EpochEntry]:
    return [EpochEntry(e, s) for e, s in ((1, 0), (2, 8), (3, 16)) if s < cut]


# -- where the cut lands ------------------------------------------------------------

TRUNCATIONS = [
    pytest.param(lambda b: 0, 0, id="to the first offset empties the log"),
    pytest.param(lambda b: 10, 10, id="to a batch boundary keeps the batches below it"),
    pytest.param(lambda b: 11, 10, id="inside a batch cuts at the start of that batch"),
    pytest.param(lambda b: b[-1], None, id="to the base of the active segment empties it"),
    pytest.param(lambda b: b[1], None, id="to the base of a sealed segment drops the later ones"),
    pytest.param(lambda b: b[1] + 2, None, id="into a sealed segment drops the later ones"),
    pytest.param(lambda b: 8, 8, id="at an epoch start drops that epoch"),
]


@pytest.mark.parametrize(("target", "expected_end"), TRUNCATIONS)
def test_truncation_keeps_exactly_the_batches_below_the_cut(
    tmp_path: Path,
    clock: ManualClock,
    target: Callable[[list[int]], int],
    expected_end: int | None,
) -> None:
    log = twelve_batches(tmp_path, clock)
    before = log_bytes(tmp_path)
    offset = target(bases(tmp_path))
    end = expected_end if expected_end is not None else offset
    info = log.truncate_to(offset)
    assert (info.previous_end_offset, info.log_end_offset) == (24, end)
    assert info.removed_bytes == len(before) - bytes_below(before, end)
    assert log.log_end_offset == end
    assert log_bytes(tmp_path) == before[: bytes_below(before, end)]
    assert log.size_bytes == sum(p.stat().st_size for p in tmp_path.glob("*.log"))
    assert all(base <= end for base in bases(tmp_path))
    assert values_from(log) == [value(o) for o in range(end)]
    assert log.epoch_cache.entries == expected_epochs(end)
    assert all(int(p.stem) <= end for p in tmp_path.glob("*.snapshot"))
    assert log.flushed_offset <= end
    raw, header = batch_of(b"after")
    assert log.append(raw, header, 4).base_offset == end
    log.close()
    reopened = open_log(tmp_path, clock, segment_bytes=SEGMENT_BYTES)
    assert values_from(reopened) == [*(value(o) for o in range(end)), b"after"]
    assert reopened.epoch_cache.entries == [*expected_epochs(end), EpochEntry(4, end)]


@pytest.mark.parametrize("offset", [24, 25, 1000], ids=["at the end", "one past", "far past"])
def test_truncation_at_or_beyond_the_log_end_changes_nothing(
    tmp_path: Path, clock: ManualClock, offset: int
) -> None:
    log = twelve_batches(tmp_path, clock)
    before = segment_files(tmp_path)
    info = log.truncate_to(offset)
    assert (info.previous_end_offset, info.log_end_offset, info.removed_bytes) == (24, 24, 0)
    assert segment_files(tmp_path) == before
    assert log.epoch_cache.entries == expected_epochs(24)


def test_truncation_at_the_log_end_drops_an_epoch_that_starts_there(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = twelve_batches(tmp_path, clock)
    log.assign_leader_epoch(7)  # a leader that lost its leadership before appending
    info = log.truncate_to(24)
    assert (info.previous_end_offset, info.log_end_offset, info.removed_bytes) == (24, 24, 0)
    assert log.epoch_cache.entries == expected_epochs(24)
    log.close()
    assert open_log(tmp_path, clock, segment_bytes=SEGMENT_BYTES).epoch_cache.entries == (
        expected_epochs(24)
    )


def test_truncation_below_the_log_start_is_refused(tmp_path: Path, clock: ManualClock) -> None:
    log = twelve_batches(tmp_path, clock)
    start = bases(tmp_path)[1]
    log.advance_log_start(start)
    before = segment_files(tmp_path)
    with pytest.raises(OffsetOutOfRangeError, match=f"below the log start offset {start}"):
        log.truncate_to(start - 1)
    assert segment_files(tmp_path) == before
    assert log.truncate_to(start).log_end_offset == start
    assert (log.log_start_offset, log.log_end_offset) == (start, start)


def test_truncation_inside_the_batch_holding_the_log_start_moves_the_start_down(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = twelve_batches(tmp_path, clock)
    log.advance_log_start(13)  # inside the batch 12-13
    assert log.truncate_to(13).log_end_offset == 12
    assert log.log_start_offset == 12
    log.close()
    assert open_log(tmp_path, clock, segment_bytes=SEGMENT_BYTES).log_start_offset == 12


def test_a_flush_overlapping_a_truncation_does_not_claim_the_cut_data(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = twelve_batches(tmp_path, clock)
    active = log.active

    def truncate_during_fsync() -> None:
        monkeypatch.undo()
        log.truncate_to(6)

    monkeypatch.setattr(active, "fsync", truncate_during_fsync)
    assert log.flush() <= 6
    assert log.flushed_offset <= 6
    assert log.flush() == 6


# -- producer state after truncation (property) -------------------------------------


@dataclass
class ModelLog:
    """What the log must hold: every stored batch's header, offsets assigned."""

    batches: list[BatchHeader] = field(default_factory=list)
    last_sent: dict[int, tuple[bytes, BatchHeader]] = field(default_factory=dict)

    @property
    def end(self) -> int:
        return self.batches[-1].next_offset if self.batches else 0

    def producer(self, pid: int) -> tuple[int, int]:
        """(epoch, next sequence) of ``pid`` according to the stored batches."""
        last = self.last_stored(pid)
        return (last.producer_epoch, last.last_sequence + 1) if last else (0, 0)

    def last_stored(self, pid: int) -> BatchHeader | None:
        for header in reversed(self.batches):
            if header.producer_id == pid:
                return header
        return None

    def resend_outcome(self, header: BatchHeader) -> str:
        """What the log must answer to ``header`` sent again, by Kafka's rules for the
        last batch of its producer that survived: "duplicate" when that batch is this
        one (same epoch and sequences), "stored" when it continues the producer
        (the next sequence of the same epoch, or sequence 0 of a newer epoch or of a
        producer with nothing left), "refused" otherwise. The resend is the newest
        batch the producer ever sent, so an older retained batch cannot match it."""
        last = self.last_stored(header.producer_id)
        if last is None:
            return "stored" if header.base_sequence == 0 else "refused"
        same = (last.producer_epoch, last.base_sequence, last.last_sequence)
        if same == (header.producer_epoch, header.base_sequence, header.last_sequence):
            return "duplicate"
        if header.producer_epoch > last.producer_epoch:
            return "stored" if header.base_sequence == 0 else "refused"
        if (header.producer_epoch, header.base_sequence) == self.producer(header.producer_id):
            return "stored"
        return "refused"

    def truncate(self, offset: int) -> int:
        kept = [h for h in self.batches if h.last_offset < offset]
        self.batches = kept
        return self.end

    def reference_state(self) -> ProducerStateManager:
        state = ProducerStateManager()
        for header in self.batches:
            if header.producer_id >= 0:
                state.update(header)
        return state


OPERATIONS = st.one_of(
    st.tuples(st.just("append"), st.integers(1, 3), st.integers(1, 3)),
    st.tuples(st.just("bump"), st.integers(1, 3), st.just(1)),
    st.tuples(st.just("retry"), st.integers(1, 3), st.just(0)),
    st.tuples(st.just("plain"), st.just(-1), st.integers(1, 2)),
    st.tuples(st.just("truncate"), st.just(-1), st.integers(0, 100)),
    st.tuples(st.just("roll"), st.just(-1), st.just(0)),
    st.tuples(st.just("reopen"), st.just(-1), st.just(0)),
)


def apply(log: Log, model: ModelLog, op: tuple[str, int, int], directory: Path) -> Log:
    kind, pid, n = op
    if kind in ("append", "bump"):
        epoch, sequence = model.producer(pid)
        if kind == "bump":
            epoch, sequence = epoch + 1, 0
        raw, header = batch_of(*[b"p%d" % pid] * n, producer_id=pid, epoch=epoch, sequence=sequence)
        info = log.append(raw, header, 0)
        model.batches.append(header._replace(base_offset=info.base_offset))
        model.last_sent[pid] = (raw, header)
    elif kind == "retry" and pid in model.last_sent:
        raw, header = model.last_sent[pid]
        outcome = model.resend_outcome(header)
        if outcome == "refused":  # it was truncated away and no longer fits the sequence
            with pytest.raises((OutOfOrderSequenceError, InvalidProducerEpochError)):
                log.append(raw, header, 0)
            return log
        info = log.append(raw, header, 0)
        assert info.duplicate == (outcome == "duplicate")
        if outcome == "duplicate":
            original = model.last_stored(pid)
            assert original is not None
            assert (info.base_offset, info.last_offset) == (
                original.base_offset,
                original.last_offset,
            )
        else:  # it was truncated away: stored again
            model.batches.append(header._replace(base_offset=info.base_offset))
    elif kind == "plain":
        raw, header = batch_of(*[b"plain"] * n)
        info = log.append(raw, header, 0)
        model.batches.append(header._replace(base_offset=info.base_offset))
    elif kind == "truncate":
        offset = log.log_start_offset + (log.log_end_offset - log.log_start_offset) * n // 100
        assert log.truncate_to(offset).log_end_offset == model.truncate(offset)
    elif kind == "roll":
        log.roll()
    elif kind == "reopen":
        log.close()
        log = open_log(directory, ManualClock(), segment_bytes=250)
    return log


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(OPERATIONS, min_size=1, max_size=40))
# Epoch bumps each start at sequence 0; after a truncation keeps only the first, the
# resend of the last (epoch 4, sequence 0) is a new epoch to the log, not a duplicate
# of the surviving batch (epoch 1, sequence 0).
@example(operations=[("bump", 1, 1)] * 4 + [("truncate", -1, 25), ("retry", 1, 0)])
# The resend of sequence 1 of epoch 2, whose epoch start was truncated away: refused.
@example(
    operations=[
        ("bump", 1, 1),
        ("bump", 1, 1),
        ("append", 1, 1),
        ("truncate", -1, 34),
        ("retry", 1, 0),
    ]
)
def test_producer_state_after_truncation_equals_a_replay_of_the_surviving_batches(
    operations: list[tuple[str, int, int]],
) -> None:
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name) / "p-0"
        scratch = Path(name) / "scratch.json"
        log = open_log(directory, ManualClock(), segment_bytes=250)
        model = ModelLog()
        for op in operations:
            log = apply(log, model, op, directory)
            assert log.log_end_offset == model.end
            assert producer_state_json(log.producer_state, scratch) == producer_state_json(
                model.reference_state(), scratch
            )
        log.close()


# -- crashes in the middle of a truncation ------------------------------------------


class Crash(Exception):
    """Stands for the process dying at this point."""


def crash_on_second_segment_deletion(monkeypatch: pytest.MonkeyPatch) -> None:
    real = LogSegment.delete
    calls = []

    def delete(self: LogSegment) -> None:
        calls.append(self.base_offset)
        if len(calls) == 2:
            raise Crash
        real(self)

    monkeypatch.setattr(LogSegment, "delete", delete)


def crash_before(owner: object, name: str) -> Callable[[pytest.MonkeyPatch], None]:
    def install(monkeypatch: pytest.MonkeyPatch) -> None:
        def crash(*_: object, **__: object) -> None:
            raise Crash

        monkeypatch.setattr(owner, name, crash)

    return install


CRASH_POINTS = [
    pytest.param(crash_on_second_segment_deletion, id="after the newest segment was deleted"),
    pytest.param(crash_before(LogSegment, "truncate_to"), id="before the holding segment is cut"),
    pytest.param(
        crash_before(LeaderEpochCache, "truncate_from_end"), id="before the epoch cache is cut"
    ),
    pytest.param(
        crash_before(log_module, "delete_snapshots"), id="before the snapshots are deleted"
    ),
    pytest.param(
        crash_before(log_module, "producer_state_at"), id="before producer state is rebuilt"
    ),
]


@pytest.mark.parametrize("crash_at", CRASH_POINTS)
def test_a_truncation_interrupted_by_a_crash_reopens_consistent_and_can_be_finished(
    tmp_path: Path,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    crash_at: Callable[[pytest.MonkeyPatch], None],
) -> None:
    reference = twelve_batches(tmp_path / "reference", clock)
    crashed = twelve_batches(tmp_path / "crashed", clock)
    original = log_bytes(tmp_path / "crashed")
    cut = bases(tmp_path / "crashed")[1] + 2
    reference.truncate_to(cut)
    crash_at(monkeypatch)
    with pytest.raises(Crash):
        crashed.truncate_to(cut)
    monkeypatch.undo()

    reopened = open_log(tmp_path / "crashed", clock, segment_bytes=SEGMENT_BYTES)
    assert reopened.log_end_offset >= cut
    assert log_bytes(tmp_path / "crashed").startswith(original[: bytes_below(original, cut)])
    assert reopened.epoch_cache.entries == list(epochs_in_log(list(reopened._segments)))
    scratch = tmp_path / "scratch.json"
    replayed = ProducerStateManager()
    for header in reopened._segments.headers_between(0, reopened.log_end_offset):
        if header.producer_id >= 0:
            replayed.update(header)
    assert producer_state_json(reopened.producer_state, scratch) == producer_state_json(
        replayed, scratch
    )

    reopened.truncate_to(cut)
    assert segment_files(tmp_path / "crashed") == segment_files(tmp_path / "reference")
    assert reopened.epoch_cache.entries == reference.epoch_cache.entries
    assert producer_state_json(reopened.producer_state, scratch) == producer_state_json(
        reference.producer_state, scratch
    )


def test_index_files_of_a_half_deleted_segment_are_removed_at_open(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = twelve_batches(tmp_path, clock)
    log.close()
    newest = bases(tmp_path)[-1]
    (tmp_path / f"{newest:020d}.log").unlink()  # a crash between the segment's files
    reopened = open_log(tmp_path, clock, segment_bytes=SEGMENT_BYTES)
    assert not (tmp_path / f"{newest:020d}.index").exists()
    assert not (tmp_path / f"{newest:020d}.timeindex").exists()
    assert reopened.log_end_offset == newest
    assert reopened.epoch_cache.entries == expected_epochs(newest)
    for i in range(6):
        raw, header = batch_of(b"again-%d" % i)
        reopened.append(raw, header, 4)
    reopened.close()
    again, recovery = Log.open(tmp_path, reopened.config, clock.time_ms)
    assert recovery.rebuilt_indexes == 0
    assert values_from(again, newest) == [b"again-%d" % i for i in range(6)]


def test_a_stale_epoch_checkpoint_after_a_crash_is_cut_to_the_log(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = twelve_batches(tmp_path, clock)
    stale = (tmp_path / EPOCH_CHECKPOINT).read_bytes()
    log.truncate_to(10)
    log.close()
    (tmp_path / EPOCH_CHECKPOINT).write_bytes(stale)  # the cut reached disk, the cache not
    reopened = open_log(tmp_path, clock, segment_bytes=SEGMENT_BYTES)
    assert reopened.epoch_cache.entries == expected_epochs(10)
