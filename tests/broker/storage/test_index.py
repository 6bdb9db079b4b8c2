"""The sparse offset and time indexes of a segment, at their boundaries.

Table-driven in the manner of Kafka's OffsetIndexTest and TimeIndexTest: lookups on an
empty index, before the first entry, on exact hits, between entries and after the last
one; truncation; the file format (relative offsets on disk, absolute ones in the API);
reopening; and the files the loader refuses.
"""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.storage.index import IndexCorruptError, OffsetIndex, TimeIndex

BASE = 100
# (offset, position): one entry every ten offsets and every 400 bytes.
OFFSET_ENTRIES = ((110, 400), (120, 800), (130, 1200))
# (max timestamp so far, offset of the batch where it was first seen).
TIME_ENTRIES = ((1_000, 100), (2_000, 110), (3_000, 120))
SEGMENT_BYTES = 2_000
NEXT_OFFSET = 140

_OFFSET_ENTRY = struct.Struct(">II")
_TIME_ENTRY = struct.Struct(">qI")


def offset_index(path: Path, entries: tuple[tuple[int, int], ...] = OFFSET_ENTRIES) -> OffsetIndex:
    index = OffsetIndex(path / "00000000000000000100.index", BASE)
    for offset, position in entries:
        index.append(offset, position)
    return index


def time_index(path: Path, entries: tuple[tuple[int, int], ...] = TIME_ENTRIES) -> TimeIndex:
    index = TimeIndex(path / "00000000000000000100.timeindex", BASE)
    for timestamp, offset in entries:
        index.maybe_append(timestamp, offset)
    return index


def offset_entries(index: OffsetIndex) -> list[tuple[int, int]]:
    """Every entry, read back through the public lookup."""
    out: list[tuple[int, int]] = []
    offset = index.last()[0]
    while len(out) < len(index):
        entry = index.lookup(offset)
        out.append(entry)
        offset = entry[0] - 1
    return out[::-1]


# -- OffsetIndex lookups -------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        pytest.param(BASE, (BASE, 0), id="the base offset maps to the start of the file"),
        pytest.param(BASE - 1, (BASE, 0), id="an offset below the base maps to the base"),
        pytest.param(10**12, (BASE, 0), id="a far offset maps to the base too"),
    ],
)
def test_an_empty_offset_index_answers_every_lookup_with_the_base_offset(
    tmp_path: Path, target: int, expected: tuple[int, int]
) -> None:
    assert offset_index(tmp_path, ()).lookup(target) == expected


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        pytest.param(0, (BASE, 0), id="an offset below the base returns the base"),
        pytest.param(BASE, (BASE, 0), id="the base offset returns the base"),
        pytest.param(109, (BASE, 0), id="just before the first entry returns the base"),
        pytest.param(110, (110, 400), id="an exact hit on the first entry returns it"),
        pytest.param(120, (120, 800), id="an exact hit on a middle entry returns it"),
        pytest.param(130, (130, 1200), id="an exact hit on the last entry returns it"),
        pytest.param(111, (110, 400), id="just after an entry returns that entry"),
        pytest.param(119, (110, 400), id="just before an entry returns the one below"),
        pytest.param(131, (130, 1200), id="just after the last entry returns the last"),
        pytest.param(2**40, (130, 1200), id="far beyond the last entry returns the last"),
    ],
)
def test_an_offset_lookup_returns_the_last_entry_at_or_before_the_offset(
    tmp_path: Path, target: int, expected: tuple[int, int]
) -> None:
    assert offset_index(tmp_path).lookup(target) == expected


def test_the_last_entry_of_an_empty_offset_index_is_the_base(tmp_path: Path) -> None:
    assert offset_index(tmp_path, ()).last() == (BASE, 0)
    assert offset_index(tmp_path).last() == (130, 1200)


@pytest.mark.parametrize(
    ("offset", "position"),
    [
        pytest.param(130, 1600, id="the same offset as the last entry"),
        pytest.param(125, 1600, id="an offset below the last entry"),
        pytest.param(140, 1200, id="the same position as the last entry"),
        pytest.param(140, 1000, id="a position below the last entry"),
    ],
)
def test_an_offset_index_entry_that_does_not_increase_is_refused(
    tmp_path: Path, offset: int, position: int
) -> None:
    index = offset_index(tmp_path)
    with pytest.raises(ValueError, match="does not increase"):
        index.append(offset, position)
    assert len(index) == len(OFFSET_ENTRIES)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    gaps=st.lists(st.tuples(st.integers(1, 50), st.integers(1, 5_000)), min_size=0, max_size=40),
    targets=st.lists(st.integers(0, 3_000), min_size=1, max_size=20),
)
def test_an_offset_lookup_agrees_with_a_linear_scan_of_the_entries(
    gaps: list[tuple[int, int]], targets: list[int]
) -> None:
    entries = []
    offset, position = BASE, 0
    for offset_gap, position_gap in gaps:
        offset, position = offset + offset_gap, position + position_gap
        entries.append((offset, position))
    index = offset_index(Path("unused"), tuple(entries))
    for target in targets:
        at_or_before = [entry for entry in entries if entry[0] <= target]
        assert index.lookup(target) == (at_or_before[-1] if at_or_before else (BASE, 0))


# -- OffsetIndex file ----------------------------------------------------------------


def test_the_offset_index_file_stores_offsets_relative_to_the_base(tmp_path: Path) -> None:
    index = offset_index(tmp_path)
    index.persist()
    assert index.path.read_bytes() == b"".join(
        _OFFSET_ENTRY.pack(offset - BASE, position) for offset, position in OFFSET_ENTRIES
    )


def test_a_reopened_offset_index_answers_lookups_with_absolute_offsets(tmp_path: Path) -> None:
    offset_index(tmp_path).persist()
    reopened = OffsetIndex(tmp_path / "00000000000000000100.index", BASE)
    reopened.load(SEGMENT_BYTES)
    assert len(reopened) == len(OFFSET_ENTRIES)
    assert offset_entries(reopened) == list(OFFSET_ENTRIES)
    assert reopened.lookup(125) == (120, 800)


def test_persisting_twice_appends_only_the_new_entries(tmp_path: Path) -> None:
    index = offset_index(tmp_path, OFFSET_ENTRIES[:2])
    index.persist()
    index.append(*OFFSET_ENTRIES[2])
    index.persist()
    index.persist()
    assert len(index.path.read_bytes()) == len(OFFSET_ENTRIES) * _OFFSET_ENTRY.size


def test_persisting_an_empty_offset_index_leaves_an_empty_file(tmp_path: Path) -> None:
    index = offset_index(tmp_path, ())
    index.persist()
    assert index.path.read_bytes() == b""
    reopened = OffsetIndex(index.path, BASE)
    reopened.load(0)
    assert len(reopened) == 0


def test_the_largest_relative_offset_and_position_survive_the_file(tmp_path: Path) -> None:
    largest = 2**32 - 1
    index = offset_index(tmp_path, ((BASE + largest, largest),))
    index.persist()
    reopened = OffsetIndex(index.path, BASE)
    reopened.load(largest + 1)
    assert reopened.last() == (BASE + largest, largest)


@pytest.mark.parametrize(
    ("position", "kept"),
    [
        pytest.param(2_000, 3, id="truncating past every entry keeps them all"),
        pytest.param(1_201, 3, id="an entry before the cut is kept"),
        pytest.param(1_200, 2, id="an entry at the cut is dropped"),
        pytest.param(801, 2, id="a cut between entries keeps those below it"),
        pytest.param(400, 0, id="a cut at the first entry drops every entry"),
        pytest.param(0, 0, id="a cut at the start of the segment drops every entry"),
    ],
)
def test_truncating_the_offset_index_drops_entries_at_or_after_the_position(
    tmp_path: Path, position: int, kept: int
) -> None:
    index = offset_index(tmp_path)
    index.persist()
    index.truncate_to_position(position)
    assert offset_entries(index) == list(OFFSET_ENTRIES[:kept])
    assert index.path.read_bytes() == b"".join(
        _OFFSET_ENTRY.pack(o - BASE, p) for o, p in OFFSET_ENTRIES[:kept]
    )


def test_truncating_entries_not_yet_persisted_keeps_the_file_a_valid_prefix(
    tmp_path: Path,
) -> None:
    index = offset_index(tmp_path, OFFSET_ENTRIES[:1])
    index.persist()
    index.append(*OFFSET_ENTRIES[1])
    index.append(*OFFSET_ENTRIES[2])
    index.truncate_to_position(1_200)  # keeps two entries, only one of them on disk
    index.persist()
    reopened = OffsetIndex(index.path, BASE)
    reopened.load(SEGMENT_BYTES)
    assert offset_entries(reopened) == list(OFFSET_ENTRIES[:2])


def test_a_truncated_offset_index_accepts_new_entries_after_the_cut(tmp_path: Path) -> None:
    index = offset_index(tmp_path)
    index.persist()
    index.truncate_to_position(800)
    index.append(115, 900)
    index.persist()
    reopened = OffsetIndex(index.path, BASE)
    reopened.load(SEGMENT_BYTES)
    assert offset_entries(reopened) == [(110, 400), (115, 900)]


def test_resetting_an_offset_index_forgets_its_entries_and_removes_the_file(
    tmp_path: Path,
) -> None:
    index = offset_index(tmp_path)
    index.persist()
    index.reset()
    assert len(index) == 0
    assert index.lookup(130) == (BASE, 0)
    assert not index.path.exists()
    index.reset()  # a second reset finds no file and is fine


def _relative(entries: tuple[tuple[int, int], ...]) -> bytes:
    return b"".join(_OFFSET_ENTRY.pack(rel, pos) for rel, pos in entries)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param(
            _relative(((10, 400),)) + b"\x00\x00\x00", "multiple of 8", id="a torn last entry"
        ),
        pytest.param(
            _relative(((20, 400), (10, 800))), "do not increase", id="offsets that go back"
        ),
        pytest.param(_relative(((10, 400), (10, 800))), "do not increase", id="a repeated offset"),
        pytest.param(
            _relative(((10, 800), (20, 400))), "do not increase", id="positions that go back"
        ),
        pytest.param(
            _relative(((10, 400), (20, 400))), "do not increase", id="a repeated position"
        ),
        pytest.param(
            _relative(((10, SEGMENT_BYTES),)),
            "beyond segment end",
            id="a position at the segment end",
        ),
        pytest.param(
            _relative(((10, 2**32 - 1),)),
            "beyond segment end",
            id="a position far past the segment end",
        ),
        pytest.param(
            bytes(16), "do not increase", id="a file of zeros (preallocated, never written)"
        ),
    ],
)
def test_an_offset_index_file_that_fails_validation_is_refused_with_its_name(
    tmp_path: Path, raw: bytes, reason: str
) -> None:
    index = offset_index(tmp_path, ())
    index.path.write_bytes(raw)
    with pytest.raises(IndexCorruptError, match=reason) as caught:
        index.load(SEGMENT_BYTES)
    assert index.path.name in str(caught.value)


def test_a_refused_offset_index_file_leaves_the_entries_in_memory_unchanged(
    tmp_path: Path,
) -> None:
    index = offset_index(tmp_path)
    index.path.write_bytes(b"\x01\x02\x03")
    with pytest.raises(IndexCorruptError):
        index.load(SEGMENT_BYTES)
    assert offset_entries(index) == list(OFFSET_ENTRIES)


def test_a_missing_offset_index_file_is_an_os_error_for_the_caller(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        offset_index(tmp_path, ()).load(SEGMENT_BYTES)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    gaps=st.lists(st.tuples(st.integers(1, 2**20), st.integers(1, 2**20)), min_size=0, max_size=30),
    split=st.integers(0, 30),
)
def test_an_offset_index_persisted_in_pieces_reloads_to_the_same_entries(
    gaps: list[tuple[int, int]], split: int
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        index = offset_index(Path(directory), ())
        offset, position = BASE, 0
        for i, (offset_gap, position_gap) in enumerate(gaps):
            if i == split:
                index.persist()
            offset, position = offset + offset_gap, position + position_gap
            index.append(offset, position)
        index.persist()
        reopened = OffsetIndex(index.path, BASE)
        reopened.load(position + 1)
        assert offset_entries(reopened) == offset_entries(index)


# -- TimeIndex lookups ---------------------------------------------------------------


@pytest.mark.parametrize(
    "timestamp",
    [
        pytest.param(-1, id="a timestamp before the epoch"),
        pytest.param(0, id="the epoch"),
        pytest.param(2**62, id="a far future timestamp"),
    ],
)
def test_an_empty_time_index_starts_every_scan_at_the_base_offset(
    tmp_path: Path, timestamp: int
) -> None:
    index = time_index(tmp_path, ())
    assert index.lookup(timestamp) == BASE
    assert index.last_timestamp == -1


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        pytest.param(0, BASE, id="a timestamp before the first entry starts at the base"),
        pytest.param(999, BASE, id="just before the first entry starts at the base"),
        pytest.param(1_000, BASE, id="an exact hit on the first entry starts at the base"),
        pytest.param(1_001, 100, id="just after the first entry starts at that entry"),
        pytest.param(1_999, 100, id="just before an entry starts at the one below"),
        pytest.param(
            2_000, 100, id="an exact hit starts at the entry below it, whose records are older"
        ),
        pytest.param(2_001, 110, id="just after a middle entry starts at that entry"),
        pytest.param(3_000, 110, id="an exact hit on the last entry starts at the one below"),
        pytest.param(3_001, 120, id="just after the last entry starts at the last"),
        pytest.param(2**62, 120, id="a far future timestamp starts at the last entry"),
    ],
)
def test_a_time_lookup_returns_an_offset_before_which_every_record_is_older(
    tmp_path: Path, timestamp: int, expected: int
) -> None:
    assert time_index(tmp_path).lookup(timestamp) == expected


@pytest.mark.parametrize(
    ("timestamp", "offset"),
    [
        pytest.param(3_000, 130, id="a timestamp equal to the last one"),
        pytest.param(2_500, 130, id="a timestamp below the last one"),
        pytest.param(4_000, 120, id="an offset equal to the last one"),
        pytest.param(4_000, 115, id="an offset below the last one"),
    ],
)
def test_a_time_index_keeps_timestamps_and_offsets_strictly_increasing(
    tmp_path: Path, timestamp: int, offset: int
) -> None:
    index = time_index(tmp_path)
    index.maybe_append(timestamp, offset)
    assert len(index) == len(TIME_ENTRIES)
    assert index.last_timestamp == 3_000


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    batches=st.lists(
        st.tuples(st.integers(1, 10), st.integers(-5, 1_000)), min_size=1, max_size=40
    ),
    targets=st.lists(st.integers(-10, 30_000), min_size=1, max_size=20),
)
def test_no_record_before_a_time_lookup_result_is_at_or_after_the_timestamp(
    batches: list[tuple[int, int]], targets: list[int]
) -> None:
    """Batches of random sizes whose max timestamps wander up and down, indexed as a
    segment does it (an entry when the segment's max timestamp grows)."""
    index = time_index(Path("unused"), ())
    stored: list[tuple[int, int]] = []  # (base offset, max timestamp) per batch
    indexed = {BASE}
    offset, timestamp, running_max = BASE, 10_000, -1
    for records, step in batches:
        timestamp += step - 500
        stored.append((offset, timestamp))
        if timestamp > running_max:
            running_max = timestamp
            index.maybe_append(timestamp, offset)
            indexed.add(offset)
        offset += records
    for target in targets:
        start = index.lookup(target)
        assert start in indexed
        assert all(max_ts < target for base, max_ts in stored if base < start)


# -- TimeIndex file ------------------------------------------------------------------


def test_the_time_index_file_stores_offsets_relative_to_the_base(tmp_path: Path) -> None:
    index = time_index(tmp_path)
    index.persist()
    assert index.path.read_bytes() == b"".join(
        _TIME_ENTRY.pack(timestamp, offset - BASE) for timestamp, offset in TIME_ENTRIES
    )


def test_a_reopened_time_index_answers_lookups_with_absolute_offsets(tmp_path: Path) -> None:
    time_index(tmp_path).persist()
    reopened = TimeIndex(tmp_path / "00000000000000000100.timeindex", BASE)
    reopened.load(NEXT_OFFSET)
    assert len(reopened) == len(TIME_ENTRIES)
    assert reopened.last_timestamp == 3_000
    assert [reopened.lookup(ts + 1) for ts, _ in TIME_ENTRIES] == [o for _, o in TIME_ENTRIES]


def test_timestamps_before_the_epoch_survive_the_time_index_file(tmp_path: Path) -> None:
    index = time_index(tmp_path, ((-(2**40), 100), (-1, 101)))
    index.persist()
    reopened = TimeIndex(index.path, BASE)
    reopened.load(NEXT_OFFSET)
    assert reopened.lookup(0) == 101
    assert reopened.lookup(-(2**40)) == BASE


@pytest.mark.parametrize(
    ("offset", "kept"),
    [
        pytest.param(NEXT_OFFSET, 3, id="truncating at the log end keeps every entry"),
        pytest.param(121, 3, id="an entry below the cut is kept"),
        pytest.param(120, 2, id="an entry at the cut is dropped"),
        pytest.param(115, 2, id="a cut between entries keeps those below it"),
        pytest.param(BASE, 0, id="a cut at the base drops every entry"),
    ],
)
def test_truncating_the_time_index_drops_entries_at_or_after_the_offset(
    tmp_path: Path, offset: int, kept: int
) -> None:
    index = time_index(tmp_path)
    index.persist()
    index.truncate_to_offset(offset)
    assert len(index) == kept
    assert index.last_timestamp == (TIME_ENTRIES[kept - 1][0] if kept else -1)
    assert index.path.read_bytes() == b"".join(
        _TIME_ENTRY.pack(ts, o - BASE) for ts, o in TIME_ENTRIES[:kept]
    )


def test_truncating_time_entries_not_yet_persisted_keeps_the_file_a_valid_prefix(
    tmp_path: Path,
) -> None:
    index = time_index(tmp_path, TIME_ENTRIES[:1])
    index.persist()
    index.maybe_append(*TIME_ENTRIES[1])
    index.maybe_append(*TIME_ENTRIES[2])
    index.truncate_to_offset(120)  # keeps two entries, only one of them on disk
    index.persist()
    reopened = TimeIndex(index.path, BASE)
    reopened.load(NEXT_OFFSET)
    assert len(reopened) == 2
    assert reopened.last_timestamp == 2_000


def test_resetting_a_time_index_forgets_its_entries_and_removes_the_file(
    tmp_path: Path,
) -> None:
    index = time_index(tmp_path)
    index.persist()
    index.reset()
    assert len(index) == 0
    assert index.last_timestamp == -1
    assert not index.path.exists()


def _time_file(entries: tuple[tuple[int, int], ...]) -> bytes:
    return b"".join(_TIME_ENTRY.pack(ts, rel) for ts, rel in entries)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param(
            _time_file(((1_000, 0),)) + b"\x00" * 8, "multiple of 12", id="a torn last entry"
        ),
        pytest.param(
            _time_file(((2_000, 0), (1_000, 10))), "do not increase", id="timestamps that go back"
        ),
        pytest.param(
            _time_file(((1_000, 0), (1_000, 10))), "do not increase", id="a repeated timestamp"
        ),
        pytest.param(
            _time_file(((1_000, 10), (2_000, 0))), "do not increase", id="offsets that go back"
        ),
        pytest.param(
            _time_file(((1_000, 10), (2_000, 10))), "do not increase", id="a repeated offset"
        ),
        pytest.param(
            _time_file(((1_000, NEXT_OFFSET - BASE),)),
            "beyond segment end",
            id="an offset at the log end",
        ),
    ],
)
def test_a_time_index_file_that_fails_validation_is_refused_with_its_name(
    tmp_path: Path, raw: bytes, reason: str
) -> None:
    index = time_index(tmp_path, ())
    index.path.write_bytes(raw)
    with pytest.raises(IndexCorruptError, match=reason) as caught:
        index.load(NEXT_OFFSET)
    assert index.path.name in str(caught.value)
    assert len(index) == 0
