"""Idempotent-producer state against a model of Kafka's rules.

The model keeps the whole history of appended batches and derives every verdict from
it; the state under test keeps only the last five batches per producer. A table shows
each rule once; a Hypothesis state machine then sends random mixes of next batches,
resends, gaps, epoch bumps, stale epochs and snapshot restarts and checks that both
agree on every batch.

One deliberate difference from current Kafka (documented in the module): a producer id
this partition has never seen must start at sequence 0. Kafka has accepted any
sequence there since KIP-360 because its producer state can expire; ours never does.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from broker.records.batch import BatchHeader
from broker.storage.errors import InvalidProducerEpochError, OutOfOrderSequenceError
from broker.storage.producer_state import ProducerStateManager

SEQUENCE_SPACE = 2**31
# Kafka keeps the metadata of the last five batches of each producer for duplicates.
RETAINED_BATCHES = 5


class Verdict(Enum):
    APPEND = "append"
    DUPLICATE = "duplicate"
    OUT_OF_ORDER = "out of order"
    FENCED = "fenced"


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict
    # Offsets of the original batch, for a duplicate.
    original_offsets: tuple[int, int] | None = None


APPEND = Outcome(Verdict.APPEND)
OUT_OF_ORDER = Outcome(Verdict.OUT_OF_ORDER)
FENCED = Outcome(Verdict.FENCED)


def header(
    producer_id: int, epoch: int, first_sequence: int, count: int, base_offset: int = 0
) -> BatchHeader:
    """The header of a batch of ``count`` records; only the fields the state reads
    are meaningful."""
    return BatchHeader(
        base_offset=base_offset,
        batch_length=49,
        partition_leader_epoch=0,
        magic=2,
        crc=0,
        attributes=0,
        last_offset_delta=count - 1,
        base_timestamp=1_000,
        max_timestamp=1_000 + base_offset,
        producer_id=producer_id,
        producer_epoch=epoch,
        base_sequence=first_sequence,
        records_count=count,
    )


def verdict_of(state: ProducerStateManager, batch: BatchHeader) -> Outcome:
    try:
        original = state.check(batch)
    except InvalidProducerEpochError:
        return FENCED
    except OutOfOrderSequenceError:
        return OUT_OF_ORDER
    if original is None:
        return APPEND
    return Outcome(Verdict.DUPLICATE, (original.first_offset, original.last_offset))


@dataclass(frozen=True, slots=True)
class Appended:
    producer_id: int
    epoch: int
    first_sequence: int
    last_sequence: int
    first_offset: int
    last_offset: int


class KafkaModel:
    """Kafka's verdicts for non-transactional idempotent producers, derived from the
    full history of appended batches of one partition."""

    def __init__(self) -> None:
        self.history: list[Appended] = []
        self.next_offset = 0

    def batches_of(self, producer_id: int) -> list[Appended]:
        return [b for b in self.history if b.producer_id == producer_id]

    def epoch_of(self, producer_id: int) -> int | None:
        """The producer's current epoch: that of its latest batch (epochs never go back,
        since an older one is fenced)."""
        mine = self.batches_of(producer_id)
        return mine[-1].epoch if mine else None

    def current_batches(self, producer_id: int) -> list[Appended]:
        epoch = self.epoch_of(producer_id)
        return [b for b in self.batches_of(producer_id) if b.epoch == epoch]

    def next_sequence(self, producer_id: int) -> int:
        current = self.current_batches(producer_id)
        return (current[-1].last_sequence + 1) % SEQUENCE_SPACE if current else 0

    def verdict(self, producer_id: int, epoch: int, first: int, count: int) -> Outcome:
        last = (first + count - 1) % SEQUENCE_SPACE
        current_epoch = self.epoch_of(producer_id)
        if current_epoch is None or epoch > current_epoch:
            # A new producer, or a new epoch: sequences restart at 0.
            return APPEND if first == 0 else OUT_OF_ORDER
        if epoch < current_epoch:
            return FENCED
        current = self.current_batches(producer_id)
        for batch in current[-RETAINED_BATCHES:]:
            if (batch.first_sequence, batch.last_sequence) == (first, last):
                return Outcome(Verdict.DUPLICATE, (batch.first_offset, batch.last_offset))
        return APPEND if first == self.next_sequence(producer_id) else OUT_OF_ORDER

    def append(self, producer_id: int, epoch: int, first: int, count: int) -> None:
        last = (first + count - 1) % SEQUENCE_SPACE
        start = self.next_offset
        self.history.append(Appended(producer_id, epoch, first, last, start, start + count - 1))
        self.next_offset += count


class Partition:
    """The state under test and the model, fed the same batches the way Log.append
    feeds the state: ``check``, then ``update`` with the assigned offsets."""

    def __init__(self) -> None:
        self.state = ProducerStateManager()
        self.model = KafkaModel()

    def send(self, producer_id: int, epoch: int, first: int, count: int) -> Outcome:
        expected = self.model.verdict(producer_id, epoch, first, count)
        batch = header(producer_id, epoch, first, count, base_offset=self.model.next_offset)
        actual = verdict_of(self.state, batch)
        assert actual == expected, f"batch {(producer_id, epoch, first, count)}"
        if actual.verdict is Verdict.APPEND:
            self.state.update(batch)
            self.model.append(producer_id, epoch, first, count)
        return actual


# -- the rules, one row each ---------------------------------------------------------

# Batches sent before the one under test: (producer id, epoch, first sequence, count).
SIX_BATCHES = tuple((7, 0, seq, 1) for seq in range(6))


@pytest.mark.parametrize(
    ("before", "batch", "expected"),
    [
        pytest.param(
            (), (7, 0, 0, 3), APPEND, id="a new producer starting at sequence 0 is appended"
        ),
        pytest.param(
            (), (7, 0, 5, 1), OUT_OF_ORDER, id="a new producer starting past 0 is out of order"
        ),
        pytest.param(((7, 0, 0, 3),), (7, 0, 3, 2), APPEND, id="the next sequence is appended"),
        pytest.param(
            ((7, 0, 0, 3),), (7, 0, 4, 1), OUT_OF_ORDER, id="a gap in the sequence is out of order"
        ),
        pytest.param(
            ((7, 0, 0, 3),),
            (7, 0, 2, 2),
            OUT_OF_ORDER,
            id="a batch overlapping the last one is out of order",
        ),
        pytest.param(
            ((7, 0, 0, 3),),
            (7, 0, 0, 3),
            Outcome(Verdict.DUPLICATE, (0, 2)),
            id="a resend of the last batch is a duplicate with its offsets",
        ),
        pytest.param(
            ((7, 0, 0, 3),),
            (7, 0, 0, 2),
            OUT_OF_ORDER,
            id="a resend with another record count is out of order",
        ),
        pytest.param(
            SIX_BATCHES,
            (7, 0, 1, 1),
            Outcome(Verdict.DUPLICATE, (1, 1)),
            id="a resend of the fifth latest batch is a duplicate",
        ),
        pytest.param(
            SIX_BATCHES,
            (7, 0, 0, 1),
            OUT_OF_ORDER,
            id="a resend older than the five retained batches is out of order",
        ),
        pytest.param(((7, 1, 0, 3),), (7, 0, 3, 1), FENCED, id="an older epoch is fenced"),
        pytest.param(
            ((7, 1, 0, 3),),
            (7, 0, 0, 3),
            FENCED,
            id="an older epoch is fenced even for a duplicate",
        ),
        pytest.param(
            ((7, 0, 0, 3),), (7, 1, 0, 1), APPEND, id="a newer epoch starting at 0 is appended"
        ),
        pytest.param(
            ((7, 0, 0, 3),),
            (7, 1, 3, 1),
            OUT_OF_ORDER,
            id="a newer epoch continuing the old sequence is out of order",
        ),
        pytest.param(
            ((7, 0, 0, 3), (7, 1, 0, 1)),
            (7, 1, 0, 3),
            OUT_OF_ORDER,
            id="a batch of the old epoch is no duplicate after a bump",
        ),
        pytest.param(
            ((7, 0, 0, 3),), (8, 0, 3, 1), OUT_OF_ORDER, id="another producer has its own sequence"
        ),
        pytest.param(
            ((7, 0, 0, 3),), (8, 0, 0, 1), APPEND, id="another producer starts at 0 alongside"
        ),
        pytest.param(
            ((7, 0, 0, SEQUENCE_SPACE - 1),),
            (7, 0, SEQUENCE_SPACE - 1, 3),
            APPEND,
            id="a batch may wrap the sequence past its maximum",
        ),
        pytest.param(
            ((7, 0, 0, SEQUENCE_SPACE - 1), (7, 0, SEQUENCE_SPACE - 1, 3)),
            (7, 0, 2, 1),
            APPEND,
            id="the sequence continues after wrapping",
        ),
        pytest.param(
            ((7, 0, 0, SEQUENCE_SPACE - 1), (7, 0, SEQUENCE_SPACE - 1, 3)),
            (7, 0, SEQUENCE_SPACE - 1, 3),
            Outcome(Verdict.DUPLICATE, (SEQUENCE_SPACE - 1, SEQUENCE_SPACE + 1)),
            id="a wrapped batch is recognised when resent",
        ),
    ],
)
def test_a_batch_gets_the_verdict_kafka_gives_it(
    before: tuple[tuple[int, int, int, int], ...],
    batch: tuple[int, int, int, int],
    expected: Outcome,
) -> None:
    partition = Partition()
    for earlier in before:
        assert partition.send(*earlier) == APPEND
    assert partition.send(*batch) == expected


@pytest.mark.parametrize(
    ("batch", "reason"),
    [
        pytest.param((8, 0, 4, 1), "new to this partition", id="a new producer not at 0"),
        pytest.param((7, 0, 9, 1), "expected 6", id="a gap"),
        pytest.param(
            (7, 0, 0, 1), "older than the 5 batches", id="a resend beyond the retained five"
        ),
        pytest.param((7, 1, 2, 1), "must restart at sequence 0", id="a new epoch not at 0"),
    ],
)
def test_an_out_of_order_batch_is_refused_with_the_reason(
    batch: tuple[int, int, int, int], reason: str
) -> None:
    partition = Partition()
    for earlier in SIX_BATCHES:
        partition.send(*earlier)
    with pytest.raises(OutOfOrderSequenceError, match=reason):
        partition.state.check(header(*batch))


def test_checking_a_batch_does_not_change_the_state() -> None:
    state = ProducerStateManager()
    first = header(7, 0, 0, 1)
    assert state.check(first) is None
    assert state.check(first) is None
    assert len(state) == 0


def test_a_duplicate_carries_the_original_timestamp() -> None:
    partition = Partition()
    partition.send(7, 0, 0, 2)
    partition.send(7, 0, 2, 2)
    original = partition.state.check(header(7, 0, 2, 2))
    assert original is not None
    assert (original.first_offset, original.last_offset, original.max_timestamp) == (
        2,
        3,
        1_002,
    )


# -- truncation ----------------------------------------------------------------------


def test_truncation_forgets_batches_at_or_after_the_offset() -> None:
    partition = Partition()
    for seq in range(3):
        partition.send(7, 0, seq, 1)  # offsets 0, 1, 2
    partition.state.truncate_after(2)
    assert verdict_of(partition.state, header(7, 0, 1, 1)) == Outcome(Verdict.DUPLICATE, (1, 1))
    assert verdict_of(partition.state, header(7, 0, 2, 1)) == APPEND


def test_truncation_forgets_a_producer_left_without_batches() -> None:
    partition = Partition()
    partition.send(7, 0, 0, 1)  # offset 0
    partition.send(8, 0, 0, 1)  # offset 1
    partition.state.truncate_after(1)
    assert len(partition.state) == 1
    assert verdict_of(partition.state, header(8, 0, 0, 1)) == APPEND


# -- snapshots -----------------------------------------------------------------------


def test_a_snapshot_restores_every_verdict(tmp_path: Path) -> None:
    partition = Partition()
    for batch in (*SIX_BATCHES, (8, 3, 0, 2), (8, 4, 0, 1), (9, 0, 0, 5)):
        partition.send(*batch)
    path = tmp_path / "00000000000000000009.snapshot"
    partition.state.write_snapshot(path)
    restored = ProducerStateManager()
    restored.load_snapshot(path)
    probes = [(7, 0, 1, 1), (7, 0, 0, 1), (7, 0, 6, 1), (8, 3, 2, 1), (8, 4, 0, 1), (9, 0, 5, 1)]
    for probe in probes:
        assert verdict_of(restored, header(*probe)) == verdict_of(partition.state, header(*probe))
    assert len(restored) == len(partition.state) == 3
    assert list(tmp_path.iterdir()) == [path]  # the temporary file was renamed into place


def test_loading_a_snapshot_replaces_the_state(tmp_path: Path) -> None:
    path = tmp_path / "0.snapshot"
    ProducerStateManager().write_snapshot(path)
    partition = Partition()
    partition.send(7, 0, 0, 1)
    partition.state.load_snapshot(path)
    assert len(partition.state) == 0


_BATCH = {
    "first_sequence": 0,
    "last_sequence": 0,
    "first_offset": 0,
    "last_offset": 0,
    "max_timestamp": 1,
}


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("{", id="truncated JSON"),
        pytest.param("[]", id="a list instead of an object"),
        pytest.param("null", id="null"),
        pytest.param('{"x": {"epoch": 0, "batches": []}}', id="a producer id that is not a number"),
        pytest.param('{"7": []}', id="a producer that is not an object"),
        pytest.param('{"7": {"batches": []}}', id="a producer without an epoch"),
        pytest.param('{"7": {"epoch": "new", "batches": []}}', id="an epoch that is not a number"),
        pytest.param('{"7": {"epoch": 0, "batches": 5}}', id="batches that are not a list"),
        pytest.param(
            '{"7": {"epoch": 0, "batches": [[0, 0]]}}', id="a batch that is not an object"
        ),
        pytest.param(
            '{"7": {"epoch": 0, "batches": [{"first_sequence": 0}]}}', id="a batch missing fields"
        ),
        pytest.param(
            json.dumps({"7": {"epoch": 0, "batches": [{**_BATCH, "extra": 1}]}}),
            id="a batch with an unknown field",
        ),
        pytest.param(
            json.dumps({"7": {"epoch": 0, "batches": [{**_BATCH, "first_offset": "zero"}]}}),
            id="an offset that is not a number",
        ),
    ],
)
def test_a_corrupt_snapshot_is_a_value_error_and_keeps_the_state(
    tmp_path: Path, content: str
) -> None:
    path = tmp_path / "0.snapshot"
    path.write_text(content)
    partition = Partition()
    partition.send(7, 0, 0, 1)
    with pytest.raises(ValueError, match=r"0\.snapshot"):
        partition.state.load_snapshot(path)
    assert verdict_of(partition.state, header(7, 0, 0, 1)) == Outcome(Verdict.DUPLICATE, (0, 0))


# -- random sequences against the model ----------------------------------------------

PRODUCERS = st.sampled_from([1, 2, 3])
COUNTS = st.one_of(st.integers(1, 3), st.sampled_from([2**30, SEQUENCE_SPACE - 1]))


class ProducerStateMachine(RuleBasedStateMachine):
    """Random batches from three producers; the state must agree with the model."""

    def __init__(self) -> None:
        super().__init__()
        self.partition = Partition()
        self.directory = tempfile.TemporaryDirectory()
        self.snapshots = 0

    def teardown(self) -> None:
        self.directory.cleanup()

    def epoch(self, producer_id: int) -> int:
        epoch = self.partition.model.epoch_of(producer_id)
        return 0 if epoch is None else epoch

    @rule(producer_id=PRODUCERS, count=COUNTS)
    def send_the_next_batch(self, producer_id: int, count: int) -> None:
        model = self.partition.model
        self.partition.send(
            producer_id, self.epoch(producer_id), model.next_sequence(producer_id), count
        )

    @rule(producer_id=PRODUCERS, batches=st.integers(2, RETAINED_BATCHES + 3))
    def send_a_run_of_next_batches(self, producer_id: int, batches: int) -> None:
        for _ in range(batches):
            self.send_the_next_batch(producer_id, 1)

    @rule(producer_id=PRODUCERS, back=st.integers(1, RETAINED_BATCHES + 2))
    def resend_an_earlier_batch(self, producer_id: int, back: int) -> None:
        current = self.partition.model.current_batches(producer_id)
        if len(current) < back:
            return
        batch = current[-back]
        count = (batch.last_sequence - batch.first_sequence) % SEQUENCE_SPACE + 1
        self.partition.send(producer_id, batch.epoch, batch.first_sequence, count)

    @rule(producer_id=PRODUCERS, skew=st.integers(-3, 3).filter(bool), count=COUNTS)
    def send_a_sequence_off_by_a_few(self, producer_id: int, skew: int, count: int) -> None:
        first = (self.partition.model.next_sequence(producer_id) + skew) % SEQUENCE_SPACE
        self.partition.send(producer_id, self.epoch(producer_id), first, count)

    @rule(producer_id=PRODUCERS, first=st.sampled_from([0, 1, 5]), count=COUNTS)
    def bump_the_epoch(self, producer_id: int, first: int, count: int) -> None:
        self.partition.send(producer_id, self.epoch(producer_id) + 1, first, count)

    @precondition(lambda self: any(self.epoch(p) > 0 for p in (1, 2, 3)))
    @rule(producer_id=PRODUCERS, first=st.integers(0, 8), count=COUNTS)
    def send_with_a_stale_epoch(self, producer_id: int, first: int, count: int) -> None:
        self.partition.send(producer_id, self.epoch(producer_id) - 1, first, count)

    @rule(
        producer_id=PRODUCERS,
        epoch=st.integers(0, 3),
        first=st.integers(0, 12),
        count=COUNTS,
    )
    def send_any_batch(self, producer_id: int, epoch: int, first: int, count: int) -> None:
        self.partition.send(producer_id, epoch, first, count)

    @rule()
    def restart_from_a_snapshot(self) -> None:
        self.snapshots += 1
        path = Path(self.directory.name) / f"{self.snapshots:020d}.snapshot"
        self.partition.state.write_snapshot(path)
        restored = ProducerStateManager()
        restored.load_snapshot(path)
        self.partition.state = restored

    @invariant()
    def every_producer_with_a_batch_is_tracked(self) -> None:
        producers = {b.producer_id for b in self.partition.model.history}
        assert len(self.partition.state) == len(producers)


ProducerStateMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None, derandomize=True
)
test_random_batches_get_the_verdicts_of_the_model = ProducerStateMachine.TestCase
