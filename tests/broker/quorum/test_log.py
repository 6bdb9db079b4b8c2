"""The in-memory Raft log: positions, the conflict hint, conflict truncation, watermarks."""

from __future__ import annotations

import pytest

from broker.quorum import Entry, QuorumSafetyError, Snapshot
from broker.quorum.log import RaftLog


def _log(*terms: int, snapshot: Snapshot | None = None) -> RaftLog:
    base = snapshot or Snapshot()
    entries = tuple(Entry(t, base.index + i, b"") for i, t in enumerate(terms, 1))
    return RaftLog(base, entries)


@pytest.mark.parametrize(
    ("index", "hint"),
    [
        pytest.param(9, (7, 0), id="past the end: our last index plus one, no term"),
        pytest.param(5, (3, 2), id="inside a term: its first index, so one round trip skips it"),
        pytest.param(6, (6, 3), id="the first entry of a term"),
        pytest.param(1, (1, 1), id="the very first entry"),
    ],
)
def test_the_conflict_hint_names_the_first_index_of_the_conflicting_term(
    index: int, hint: tuple[int, int]
) -> None:
    assert _log(1, 1, 2, 2, 2, 3).conflict_hint(index) == hint


def test_the_conflict_hint_stops_at_the_snapshot() -> None:
    log = _log(2, 2, 2, 3, snapshot=Snapshot(2, 2, b""))
    assert log.conflict_hint(5) == (3, 2)


@pytest.mark.parametrize(
    ("last", "up_to_date"),
    [
        pytest.param((3, 2), True, id="same last entry"),
        pytest.param((2, 2), False, id="same term, shorter"),
        pytest.param((1, 3), True, id="newer last term, shorter"),
        pytest.param((8, 1), False, id="older last term, longer"),
    ],
)
def test_up_to_date_compares_last_terms_then_lengths(
    last: tuple[int, int], up_to_date: bool
) -> None:
    assert _log(1, 1, 2).is_up_to_date(*last) is up_to_date


def test_an_old_append_of_entries_already_held_truncates_nothing() -> None:
    log = _log(1, 1, 1, 1)
    log.append_from_leader((Entry(1, 2, b""), Entry(1, 3, b"")))
    assert log.last_index == 4


def test_a_conflicting_entry_truncates_the_suffix_and_marks_it_unstable() -> None:
    log = _log(1, 1, 1, 1)
    log.append_from_leader((Entry(1, 2, b""), Entry(2, 3, b"new")))
    assert (log.last_index, log.term_at(3), log.term_at(4)) == (3, 2, None)
    assert log.stable_index == 2
    assert [e.index for e in log.unstable_entries()] == [3]


def test_overwriting_a_committed_entry_is_refused() -> None:
    log = _log(1, 1, 1)
    log.commit_to(2)
    with pytest.raises(QuorumSafetyError, match="entries up to 2 are committed"):
        log.append_from_leader((Entry(2, 2, b""),))


def test_a_persistence_report_for_entries_since_replaced_is_ignored() -> None:
    log = _log(1, 1)
    log.append(Entry(1, 3, b"old"))
    log.append_from_leader((Entry(2, 3, b"new"),))
    log.stable_to(3, 1)
    assert log.stable_index == 2
    log.stable_to(3, 2)
    assert log.stable_index == 3


def test_positions_inside_the_snapshot_have_no_term() -> None:
    log = _log(1, 1, snapshot=Snapshot(5, 1, b""))
    assert (log.term_at(4), log.term_at(5), log.term_at(7), log.term_at(8)) == (None, 1, 1, None)
    assert (log.first_index, log.last_index) == (6, 7)
