"""The leader epoch cache: Kafka's LeaderEpochFileCacheTest cases as tables, plus the
checkpoint file it persists to."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.storage.epoch_cache import (
    EPOCH_CHECKPOINT,
    UNDEFINED_EPOCH,
    UNDEFINED_EPOCH_OFFSET,
    EpochEndOffset,
    EpochEntry,
    LeaderEpochCache,
)
from broker.storage.errors import LogStorageError

UNDEFINED = EpochEndOffset(UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)
Assigns = list[tuple[int, int]]


def cache_with(tmp_path: Path, assigns: Assigns) -> LeaderEpochCache:
    cache = LeaderEpochCache(tmp_path / EPOCH_CHECKPOINT)
    for epoch, start in assigns:
        cache.assign(epoch, start)
    return cache


def entries(*pairs: tuple[int, int]) -> list[EpochEntry]:
    return [EpochEntry(e, s) for e, s in pairs]


# -- end offsets ------------------------------------------------------------------------

END_OFFSET_CASES = [
    pytest.param([(2, 10)], 2, 11, (2, 11), id="the latest epoch ends at the log end offset"),
    pytest.param(
        [(2, 11), (2, 12)], 2, 14, (2, 14), id="the latest epoch assigned twice ends at the log end"
    ),
    pytest.param(
        [(2, 11), (3, 12)], UNDEFINED_EPOCH, 0, UNDEFINED, id="the undefined epoch is undefined"
    ),
    pytest.param([], 0, 0, UNDEFINED, id="an empty cache answers undefined"),
    pytest.param(
        [], UNDEFINED_EPOCH, 73, UNDEFINED, id="an empty cache answers undefined for undefined"
    ),
    pytest.param(
        [(5, 11), (6, 12), (7, 13)],
        4,
        0,
        (4, 11),
        id="below the first epoch the asked epoch ends where the first starts",
    ),
    pytest.param(
        [(1, 11), (1, 12), (2, 13), (2, 14), (3, 15), (3, 16)],
        2,
        17,
        (2, 15),
        id="a previous epoch ends where the next one starts",
    ),
    pytest.param(
        [(0, 10), (2, 13), (4, 17)],
        1,
        0,
        (0, 13),
        id="an unknown epoch between two gets the one below and the next start",
    ),
    pytest.param(
        [(0, 10), (2, 13), (4, 17)], 2, 0, (2, 17), id="a known middle epoch ends at the next"
    ),
    pytest.param(
        [(0, 10), (2, 13), (4, 17)],
        3,
        0,
        (2, 17),
        id="an unknown epoch below the latest gets the one below it",
    ),
    pytest.param([(2, 100)], 3, 100, UNDEFINED, id="an epoch above the latest is undefined"),
    pytest.param([(2, 6)], 2, 7, (2, 7), id="epochs need not start at zero"),
    pytest.param(
        [(5, 11), (6, 12), (7, 13), (7, 12)],
        5,
        0,
        (5, 12),
        id="the latest epoch moved earlier ends the previous epochs there",
    ),
    pytest.param(
        [(5, 11), (6, 12), (7, 13), (7, 12)],
        6,
        0,
        (5, 12),
        id="an epoch the earlier start replaced answers as unknown",
    ),
    pytest.param(
        [(1, 5), (2, 6), (1, 7)],
        2,
        8,
        UNDEFINED,
        id="an epoch removed by a lower one is undefined",
    ),
    pytest.param([(0, 0), (1, 0)], 1, 5, (1, 5), id="a leader that never wrote ends at the end"),
    pytest.param(
        [(0, 0), (1, 0)], 0, 5, (0, 0), id="an epoch replaced at the same start ends at it"
    ),
    pytest.param(
        [(0, 0), (1, 0), (2, 5)], 1, 10, (1, 5), id="leaders changing many times: middle epoch"
    ),
    pytest.param(
        [(0, 0), (0, 1), (0, 2), (1, 3), (1, 4), (2, 6)],
        0,
        9,
        (0, 3),
        id="a follower receiving many batches: the first epoch ends at the second",
    ),
    pytest.param(
        [(0, 0), (0, 1), (0, 2), (1, 3), (1, 4), (2, 6)],
        1,
        9,
        (1, 6),
        id="a follower receiving many batches: the second epoch ends at the third",
    ),
]


@pytest.mark.parametrize(("assigns", "epoch", "log_end", "expected"), END_OFFSET_CASES)
def test_end_offset_for_epoch_answers_as_kafka(
    tmp_path: Path, assigns: Assigns, epoch: int, log_end: int, expected: tuple[int, int]
) -> None:
    assert cache_with(tmp_path, assigns).end_offset_for(epoch, log_end) == expected


# -- assignments ------------------------------------------------------------------------

ASSIGN_CASES = [
    pytest.param([(2, 9), (2, 10)], [(2, 9)], id="an epoch keeps its first start offset"),
    pytest.param(
        [(2, 9), (3, 9)], [(3, 9)], id="a new epoch at the same start replaces the previous"
    ),
    pytest.param([(2, 6), (2, 7)], [(2, 6)], id="the latest epoch again later changes nothing"),
    pytest.param(
        [(1, 5), (2, 6), (1, 7)], [(1, 7)], id="an older epoch later replaces the newer ones"
    ),
    pytest.param([(2, 6), (3, 5)], [(3, 5)], id="a newer epoch at an earlier start replaces"),
    pytest.param(
        [(5, 11), (6, 12), (7, 13), (7, 12)],
        [(5, 11), (7, 12)],
        id="the latest epoch at an earlier start truncates what conflicts",
    ),
    pytest.param(
        [(0, 0), (1, 3), (2, 6)], [(0, 0), (1, 3), (2, 6)], id="increasing entries are all kept"
    ),
]


@pytest.mark.parametrize(("assigns", "expected"), ASSIGN_CASES)
def test_assign_keeps_epochs_and_starts_strictly_increasing(
    tmp_path: Path, assigns: Assigns, expected: list[tuple[int, int]]
) -> None:
    cache = cache_with(tmp_path, assigns)
    assert cache.entries == entries(*expected)
    assert cache.latest_epoch == expected[-1][0]


def test_an_empty_cache_has_no_latest_epoch(tmp_path: Path) -> None:
    cache = cache_with(tmp_path, [])
    assert cache.latest_epoch == UNDEFINED_EPOCH
    assert cache.latest_entry is None
    assert len(cache) == 0


@pytest.mark.parametrize(
    ("epoch", "start"),
    [pytest.param(-1, 0, id="negative epoch"), pytest.param(0, -1, id="negative start")],
)
def test_a_negative_epoch_or_offset_is_refused(tmp_path: Path, epoch: int, start: int) -> None:
    with pytest.raises(ValueError, match="invalid leader epoch entry"):
        cache_with(tmp_path, [(epoch, start)])


def test_the_epoch_of_an_offset_is_that_of_the_last_entry_at_or_before_it(
    tmp_path: Path,
) -> None:
    cache = cache_with(tmp_path, [(2, 6), (3, 8), (4, 11)])
    assert [cache.epoch_for_offset(o) for o in (5, 6, 7, 8, 10, 11, 99)] == [
        UNDEFINED_EPOCH,
        2,
        2,
        3,
        3,
        4,
        4,
    ]


# -- truncation -------------------------------------------------------------------------

THREE_EPOCHS: Assigns = [(2, 6), (3, 8), (4, 11)]

TRUNCATE_FROM_END_CASES = [
    pytest.param(THREE_EPOCHS, 8, [(2, 6)], id="an epoch starting at the offset goes"),
    pytest.param(THREE_EPOCHS, 9, [(2, 6), (3, 8)], id="an offset inside an epoch keeps it"),
    pytest.param(THREE_EPOCHS, 12, THREE_EPOCHS, id="an offset after the last start keeps all"),
    pytest.param(THREE_EPOCHS, 0, [], id="an offset before every start empties the cache"),
    pytest.param(
        THREE_EPOCHS, UNDEFINED_EPOCH_OFFSET, THREE_EPOCHS, id="undefined changes nothing"
    ),
    pytest.param([], 7, [], id="an empty cache stays empty"),
]


@pytest.mark.parametrize(("assigns", "offset", "expected"), TRUNCATE_FROM_END_CASES)
def test_truncate_from_end_drops_entries_starting_at_or_after_the_offset(
    tmp_path: Path, assigns: Assigns, offset: int, expected: Assigns
) -> None:
    cache = cache_with(tmp_path, assigns)
    changed = cache.truncate_from_end(offset)
    assert cache.entries == entries(*expected)
    assert changed == (expected != assigns)


TRUNCATE_FROM_START_CASES = [
    pytest.param(THREE_EPOCHS, 8, [(3, 8), (4, 11)], id="the offset on an epoch start keeps it"),
    pytest.param(THREE_EPOCHS, 1, THREE_EPOCHS, id="an offset before every entry changes nothing"),
    pytest.param(THREE_EPOCHS, 6, THREE_EPOCHS, id="the first start offset changes nothing"),
    pytest.param(THREE_EPOCHS, 11, [(4, 11)], id="the latest start keeps only the latest"),
    pytest.param(THREE_EPOCHS, 9, [(3, 9), (4, 11)], id="inside an epoch its start moves up"),
    pytest.param(THREE_EPOCHS, 15, [(4, 15)], id="past the latest start the latest moves up"),
    pytest.param(
        THREE_EPOCHS, UNDEFINED_EPOCH_OFFSET, THREE_EPOCHS, id="undefined changes nothing"
    ),
    pytest.param(
        [(0, 0), (1, 7), (2, 10)],
        5,
        [(0, 5), (1, 7), (2, 10)],
        id="inside the first epoch only its start moves",
    ),
    pytest.param([], 7, [], id="an empty cache stays empty"),
]


@pytest.mark.parametrize(("assigns", "offset", "expected"), TRUNCATE_FROM_START_CASES)
def test_truncate_from_start_moves_the_first_epoch_start_up_to_the_offset(
    tmp_path: Path, assigns: Assigns, offset: int, expected: Assigns
) -> None:
    cache = cache_with(tmp_path, assigns)
    changed = cache.truncate_from_start(offset)
    assert cache.entries == entries(*expected)
    assert changed == (expected != assigns)


def test_clear_empties_the_cache_and_its_file(tmp_path: Path) -> None:
    cache = cache_with(tmp_path, THREE_EPOCHS)
    cache.clear()
    assert cache.entries == []
    assert LeaderEpochCache.load(cache.path)[0].entries == []


# -- persistence ------------------------------------------------------------------------


def test_the_checkpoint_is_kafkas_text_format(tmp_path: Path) -> None:
    cache_with(tmp_path, [(2, 6), (3, 8)])
    assert (tmp_path / EPOCH_CHECKPOINT).read_text() == "0\n2\n2 6\n3 8\n"


def test_every_change_persists_and_a_reload_sees_the_same_entries(tmp_path: Path) -> None:
    cache = cache_with(tmp_path, THREE_EPOCHS)
    cache.truncate_from_end(11)
    cache.truncate_from_start(7)
    reloaded, problem = LeaderEpochCache.load(tmp_path / EPOCH_CHECKPOINT)
    assert problem is None
    assert reloaded.entries == cache.entries == entries((2, 7), (3, 8))
    assert not list(tmp_path.glob("*.tmp"))


def test_nothing_is_written_until_something_changes(tmp_path: Path) -> None:
    cache = cache_with(tmp_path, [])
    cache.truncate_from_end(5)
    cache.truncate_from_start(5)
    assert not (tmp_path / EPOCH_CHECKPOINT).exists()
    cache.assign(1, 0)
    (tmp_path / EPOCH_CHECKPOINT).write_text("marker")  # any write would replace it
    assert not cache.assign(1, 5)
    assert not cache.truncate_from_end(1)
    assert not cache.truncate_from_start(0)
    assert (tmp_path / EPOCH_CHECKPOINT).read_text() == "marker"


def test_a_missing_checkpoint_loads_empty_and_says_so(tmp_path: Path) -> None:
    cache, problem = LeaderEpochCache.load(tmp_path / EPOCH_CHECKPOINT)
    assert cache.entries == []
    assert problem == f"{EPOCH_CHECKPOINT} is missing"


CORRUPT_FILES = [
    pytest.param("", "is empty", id="an empty file"),
    pytest.param("0\n", "needs a version line and a count line", id="no count line"),
    pytest.param("1\n1\n2 6\n", "version '1', expected 0", id="an unknown version"),
    pytest.param("0\n2\n2 6\n", "announces 2 entries but holds 1", id="a short entry list"),
    pytest.param("0\n1\n2 six\n", "'six' is not an integer", id="a word for a number"),
    pytest.param("0\n1\n2 6 7\n", "line 3 has 3 fields, expected 2", id="an extra field"),
    pytest.param("0\n1\n-2 6\n", "epoch -2 is negative", id="a negative epoch"),
    pytest.param("0\n2\n3 8\n2 6\n", "does not follow", id="unsorted entries"),
    pytest.param("0\n2\n2 6\n2 8\n", "does not follow", id="a repeated epoch"),
    pytest.param("0\n1\n2 6", "does not end with a newline", id="a torn last line"),
    pytest.param("0\n1\n2 \xe96\n", "not ASCII", id="bytes that are not text"),
]


@pytest.mark.parametrize(("content", "reason"), CORRUPT_FILES)
def test_a_corrupt_checkpoint_loads_empty_with_the_reason(
    tmp_path: Path, content: str, reason: str
) -> None:
    (tmp_path / EPOCH_CHECKPOINT).write_bytes(content.encode("latin-1"))
    cache, problem = LeaderEpochCache.load(tmp_path / EPOCH_CHECKPOINT)
    assert cache.entries == []
    assert problem is not None
    assert reason in problem
    assert EPOCH_CHECKPOINT in problem


def test_a_checkpoint_that_cannot_be_written_raises_a_storage_error(tmp_path: Path) -> None:
    cache = LeaderEpochCache(tmp_path / "gone" / EPOCH_CHECKPOINT)
    with pytest.raises(LogStorageError, match=f"cannot write {EPOCH_CHECKPOINT}"):
        cache.assign(1, 0)
