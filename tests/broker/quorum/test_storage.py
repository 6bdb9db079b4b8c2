"""The file-backed store: it persists Readies exactly as the model in ``state.py`` says,
recovers torn tails, and turns every disk error into QuorumStorageError."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.quorum import (
    Entry,
    HardState,
    PersistedState,
    QuorumStorageError,
    Ready,
    Snapshot,
)
from broker.quorum.storage import LOG_FILE, RaftStorage, encode_entry


def _entries(first: int, last: int, term: int = 1) -> tuple[Entry, ...]:
    return tuple(Entry(term, i, b"entry-%d" % i) for i in range(first, last + 1))


def _store_with(tmp_path: Path, entries: tuple[Entry, ...]) -> RaftStorage:
    store = RaftStorage.open(tmp_path)
    store.save(Ready(hard_state=HardState(3, 2), entries=entries))
    return store


def _reopen(store: RaftStorage) -> RaftStorage:
    store.close()
    return RaftStorage.open(store.directory)


def test_a_reopened_store_returns_what_was_saved(tmp_path: Path) -> None:
    store = _store_with(tmp_path, _entries(1, 5))
    store.save(Ready(snapshot=Snapshot(2, 1, b"state@2"), entries=_entries(4, 7, term=2)))
    expected = PersistedState(
        HardState(3, 2), Snapshot(2, 1, b"state@2"), _entries(3, 3) + _entries(4, 7, 2)
    )
    assert store.load() == expected
    reopened = _reopen(store)
    assert reopened.load() == expected
    assert reopened.recovery.dropped_bytes == 0
    reopened.close()


def test_an_empty_directory_is_a_fresh_node(tmp_path: Path) -> None:
    store = RaftStorage.open(tmp_path / "new")
    assert store.load() == PersistedState()
    store.close()


def test_a_snapshot_whose_entry_is_not_in_the_log_discards_the_log(tmp_path: Path) -> None:
    store = _store_with(tmp_path, _entries(1, 5))
    store.save(Ready(snapshot=Snapshot(3, 2, b"s")))
    assert store.load().entries == ()
    assert _reopen(store).load().entries == ()


@pytest.mark.parametrize(
    ("cut_bytes", "reason"),
    [
        pytest.param(3, "torn frame body", id="a torn entry body"),
        pytest.param(
            len(encode_entry(_entries(5, 5)[0])) - 5, "torn frame header", id="a torn frame header"
        ),
    ],
)
def test_a_torn_tail_is_cut_on_open_and_reported(
    tmp_path: Path, cut_bytes: int, reason: str
) -> None:
    store = _store_with(tmp_path, _entries(1, 5))
    store.close()
    path = tmp_path / LOG_FILE
    size = path.stat().st_size
    os.truncate(path, size - cut_bytes)
    reopened = RaftStorage.open(tmp_path)
    last_frame = len(encode_entry(_entries(5, 5)[0]))
    info = reopened.recovery
    assert (info.entries, info.valid_bytes) == (4, size - last_frame)
    assert info.dropped_bytes == last_frame - cut_bytes
    assert info.reason == f"position {size - last_frame}: {reason}"
    assert path.stat().st_size == size - last_frame
    assert reopened.load().entries == _entries(1, 4)
    reopened.save(Ready(entries=_entries(5, 6)))
    assert _reopen(reopened).load().entries == _entries(1, 6)


@pytest.mark.parametrize(
    ("corrupt_entry", "kept"),
    [
        pytest.param(5, 4, id="a corrupt last entry is dropped"),
        pytest.param(2, 1, id="a corrupt entry in the middle cuts the log there"),
    ],
)
def test_an_entry_that_fails_its_crc_is_cut_with_everything_after_it(
    tmp_path: Path, corrupt_entry: int, kept: int
) -> None:
    store = _store_with(tmp_path, _entries(1, 5))
    store.close()
    frame = len(encode_entry(_entries(1, 1)[0]))
    path = tmp_path / LOG_FILE
    data = bytearray(path.read_bytes())
    data[(corrupt_entry - 1) * frame + frame - 1] ^= 0xFF  # last payload byte
    path.write_bytes(bytes(data))
    reopened = RaftStorage.open(tmp_path)
    assert reopened.load().entries == _entries(1, kept)
    assert reopened.recovery.reason == f"position {kept * frame}: CRC mismatch"
    assert reopened.recovery.dropped_bytes == (5 - kept) * frame
    reopened.close()


@pytest.mark.parametrize("name", ["hard_state", "snapshot"])
def test_a_damaged_hard_state_or_snapshot_is_an_error_not_a_fresh_start(
    tmp_path: Path, name: str
) -> None:
    store = _store_with(tmp_path, _entries(1, 3))
    store.save(Ready(snapshot=Snapshot(2, 1, b"state")))
    store.close()
    path = tmp_path / name
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(QuorumStorageError, match=f"{name} is damaged: CRC mismatch"):
        RaftStorage.open(tmp_path)


def test_a_crash_between_the_snapshot_and_the_log_rewrite_is_finished_on_open(
    tmp_path: Path,
) -> None:
    store = _store_with(tmp_path, _entries(1, 5))
    log_before = (tmp_path / LOG_FILE).read_bytes()
    store.save(Ready(snapshot=Snapshot(3, 1, b"s")))
    store.close()
    (tmp_path / LOG_FILE).write_bytes(log_before)  # as if the rewrite never happened
    reopened = RaftStorage.open(tmp_path)
    assert reopened.load().entries == _entries(4, 5)
    assert _reopen(reopened).load().entries == _entries(4, 5)


def test_a_log_that_starts_after_a_gap_is_an_error(tmp_path: Path) -> None:
    (tmp_path / LOG_FILE).write_bytes(b"".join(encode_entry(e) for e in _entries(4, 5)))
    with pytest.raises(QuorumStorageError, match="entries are missing"):
        RaftStorage.open(tmp_path)


def test_a_directory_in_use_by_another_store_is_refused(tmp_path: Path) -> None:
    store = RaftStorage.open(tmp_path)
    with pytest.raises(QuorumStorageError, match="in use by another store"):
        RaftStorage.open(tmp_path)
    store.close()
    RaftStorage.open(tmp_path).close()


def test_leftover_temporary_files_are_removed_on_open(tmp_path: Path) -> None:
    (tmp_path / "hard_state.tmp").write_bytes(b"half a write")
    RaftStorage.open(tmp_path).close()
    assert not (tmp_path / "hard_state.tmp").exists()


def _failing(code: int) -> object:
    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    return fail


def test_a_full_disk_surfaces_as_a_storage_error_and_the_store_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store_with(tmp_path, _entries(1, 3))
    with monkeypatch.context() as patch:
        patch.setattr("broker.quorum.storage._write_all", _failing(errno.ENOSPC))
        with pytest.raises(
            QuorumStorageError, match=r"appending entries 4\.\.5 .* No space left on device"
        ):
            store.save(Ready(entries=_entries(4, 5)))
    with pytest.raises(QuorumStorageError, match="unusable"):
        store.save(Ready(entries=_entries(4, 5)))
    reopened = RaftStorage.open(tmp_path)
    assert reopened.load().entries == _entries(1, 3)
    reopened.close()


def test_a_failed_fsync_surfaces_as_a_storage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store_with(tmp_path, _entries(1, 3))
    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", _failing(errno.EIO))
        with pytest.raises(QuorumStorageError, match="Input/output error"):
            store.save(Ready(entries=_entries(4, 4)))


def test_a_refused_hard_state_write_keeps_the_old_hard_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store_with(tmp_path, _entries(1, 1))
    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", _failing(errno.EACCES))
        with pytest.raises(
            QuorumStorageError, match=r"writing the hard state .* Permission denied"
        ):
            store.save(Ready(hard_state=HardState(9, 1)))
    assert RaftStorage.open(tmp_path).load().hard_state == HardState(3, 2)


def test_an_unsynced_append_is_durable_after_sync(tmp_path: Path) -> None:
    store = RaftStorage.open(tmp_path)
    store.save(Ready(entries=_entries(1, 2)), sync=False)
    store.sync()
    assert _reopen(store).load().entries == _entries(1, 2)


# -- the store follows the model ------------------------------------------------------


@st.composite
def _readies(draw: st.DrawFn) -> list[Ready]:
    """A plausible sequence of Readies: appends that extend or overwrite, hard states,
    and snapshots that match the log or conflict with it."""
    readies, model, term = [], PersistedState(), 1
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(("append", "append", "hard state", "snapshot")))
        first, last = model.snapshot.index + 1, model.snapshot.index + len(model.entries)
        if kind == "append":
            start = draw(st.integers(first, last + 1))
            term += draw(st.integers(0, 1))
            count = draw(st.integers(1, 4))
            ready = Ready(
                entries=tuple(
                    Entry(term, start + i, b"%d/%d" % (start + i, term)) for i in range(count)
                )
            )
        elif kind == "hard state":
            ready = Ready(hard_state=HardState(term, draw(st.none() | st.integers(0, 5))))
        elif last > model.snapshot.index:
            index = draw(st.integers(first, last))
            held = model.entries[index - first].term
            snap_term = draw(st.sampled_from((held, held + 1)))
            term = max(term, snap_term)
            ready = Ready(snapshot=Snapshot(index, snap_term, b"state@%d" % index))
        else:
            continue
        model = model.after(ready)
        readies.append(ready)
    return readies


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_readies())
def test_the_store_persists_every_ready_as_the_model_says(readies: list[Ready]) -> None:
    model = PersistedState()
    with tempfile.TemporaryDirectory() as directory:
        store = RaftStorage.open(directory)
        for ready in readies:
            store.save(ready)
            model = model.after(ready)
            assert store.load() == model
        assert _reopen(store).load() == model
