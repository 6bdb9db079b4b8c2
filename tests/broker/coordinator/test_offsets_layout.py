"""The local offsets logs on disk: a fresh layout, re-homing the single-log layout (and
any other partition count) into each group's partition, idempotent and crash-safe."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from broker.cluster.flusher import Flusher, FlushPolicy
from broker.coordinator import offsets_layout
from broker.coordinator.coordinator import GroupCoordinator, OffsetCommitPlan
from broker.coordinator.group import CommittedOffset
from broker.coordinator.local_offsets import LocalOffsetsLogs
from broker.coordinator.offsets_layout import LAYOUT_FILE, LayoutError
from broker.coordinator.offsets_partition import OffsetsPartition
from broker.metadata.offsets_topic import coordinator_partition
from broker.records.batch import check_batch
from broker.records.record import Record, build_batch
from broker.storage.log import Log
from broker.storage.log_config import LogConfig
from contracts.clock import ManualClock

Offsets = dict[str, dict[tuple[str, int], int]]

GROUPS = [f"group-{n}" for n in range(40)]
# Where the single log goes once re-homed (the clock of these tests never moves).
RETIRED = f"offsets-0.migrated-{ManualClock().time_ms()}"


def old_key(group: str, topic: str, partition: int) -> bytes:
    return json.dumps(
        {"type": "offset", "group": group, "topic": topic, "partition": partition},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


def old_value(offset: int) -> bytes:
    value = {"offset": offset, "leader_epoch": 2, "metadata": "m", "commit_timestamp_ms": 5}
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def write_single_log_layout(data_dir: Path) -> Offsets:
    """``.coordinator/offsets-0`` as the single-log OffsetStore wrote it (its record
    format spelt out here): every group commits several times, one group is deleted.
    Returns the offsets a replay must give."""
    log, _ = Log.open(data_dir / ".coordinator" / "offsets-0", LogConfig(), ManualClock().time_ms)
    expected: Offsets = {}
    for round_ in range(3):
        records = []
        for n, group in enumerate(GROUPS):
            for partition in range(n % 3 + 1):
                offset = 100 * round_ + n + partition
                records.append(Record(old_value(offset), old_key(group, "orders", partition)))
                expected.setdefault(group, {})[("orders", partition)] = offset
        batch = build_batch(records)
        log.append(batch, check_batch(batch), 0)
    tombstone = build_batch([Record(None, b'{"group":"group-7","type":"group"}')])
    log.append(tombstone, check_batch(tombstone), 0)
    del expected["group-7"]
    log.close()
    return expected


def flusher() -> Flusher:
    return Flusher(FlushPolicy.INTERVAL, 1000)


def read_back(data_dir: Path, count: int) -> tuple[Offsets, int]:
    """Start the local logs with ``count`` partitions and replay each into one
    coordinator; (offsets per group, records stored in all partitions)."""
    logs = LocalOffsetsLogs(data_dir, count, flusher(), ManualClock().time_ms)
    coordinator = GroupCoordinator()
    stored = 0
    try:
        for index, handle in logs.open().items():
            partition = OffsetsPartition(index, handle, count, ManualClock().time_ms)
            partition.load(coordinator)
            assert partition.skipped_records == 0
            stored += handle.log_end_offset - handle.log_start_offset
    finally:
        logs.close()
    offsets = {
        g.group_id: {key: c.offset for key, c in g.offsets.items()} for g in coordinator.listed()
    }
    return offsets, stored


def live_count(offsets: Offsets) -> int:
    return sum(len(v) for v in offsets.values())


def entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_a_fresh_data_dir_gets_a_layout_file_and_empty_partitions(data_dir: Path) -> None:
    assert read_back(data_dir, 4) == ({}, 0)
    coordinator_dir = data_dir / ".coordinator"
    assert json.loads((coordinator_dir / LAYOUT_FILE).read_text()) == {
        "partitions": 4,
        "version": 1,
    }
    assert entries(coordinator_dir) == sorted([LAYOUT_FILE, *(f"offsets-{p}" for p in range(4))])


def test_the_single_log_layout_is_rehomed_into_the_partition_of_each_group(
    data_dir: Path,
) -> None:
    expected = write_single_log_layout(data_dir)
    offsets, stored = read_back(data_dir, 5)
    assert offsets == expected
    assert stored == live_count(expected)  # each offset stored once
    coordinator_dir = data_dir / ".coordinator"
    names = entries(coordinator_dir)
    assert [n for n in names if n.startswith("offsets-0.")] == [RETIRED]
    assert offsets_layout.layout_in_force(coordinator_dir) == 5
    for index in range(5):
        mine = {g for g in expected if coordinator_partition(g, 5) == index}
        assert groups_stored_in(data_dir, 5, index) == mine


def groups_stored_in(data_dir: Path, count: int, index: int) -> set[str]:
    """Groups with live offsets in partition ``index`` alone."""
    logs = LocalOffsetsLogs(data_dir, count, flusher(), ManualClock().time_ms)
    try:
        partition = OffsetsPartition(index, logs.open()[index], count, ManualClock().time_ms)
        partition.load(GroupCoordinator())
    finally:
        logs.close()
    return set(partition.live.groups)


def test_a_second_start_after_rehoming_changes_nothing(data_dir: Path) -> None:
    expected = write_single_log_layout(data_dir)
    read_back(data_dir, 5)
    before = entries(data_dir / ".coordinator")
    assert read_back(data_dir, 5) == (expected, live_count(expected))
    assert entries(data_dir / ".coordinator") == before


def test_the_single_log_layout_with_one_partition_configured_stays_in_place(
    data_dir: Path,
) -> None:
    expected = write_single_log_layout(data_dir)
    segment = data_dir / ".coordinator" / "offsets-0" / "00000000000000000000.log"
    original = segment.read_bytes()
    offsets, _ = read_back(data_dir, 1)
    assert offsets == expected
    assert segment.read_bytes() == original
    assert offsets_layout.layout_in_force(data_dir / ".coordinator") == 1


def test_a_crash_while_writing_the_new_partitions_is_redone_without_duplicates(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = write_single_log_layout(data_dir)
    real = offsets_layout._write_partition
    written: list[Path] = []

    def crash_on_the_third(path: Path, *args: Any) -> None:
        if len(written) == 2:
            raise OSError("simulated crash")
        written.append(path)
        real(path, *args)

    monkeypatch.setattr(offsets_layout, "_write_partition", crash_on_the_third)
    with pytest.raises(OSError, match="simulated crash"):
        read_back(data_dir, 5)
    coordinator_dir = data_dir / ".coordinator"
    assert "offsets-0.migrating-from-1" in entries(coordinator_dir)
    assert offsets_layout.layout_in_force(coordinator_dir) is None  # old layout in force
    monkeypatch.undo()
    assert read_back(data_dir, 5) == (expected, live_count(expected))
    assert not any("migrating" in name for name in entries(coordinator_dir))


def test_a_crash_while_setting_old_partitions_aside_is_redone(data_dir: Path) -> None:
    read_back(data_dir, 3)
    expected = _commit_through_partitions(data_dir, 3)
    coordinator_dir = data_dir / ".coordinator"
    # The state a crash leaves after the first of three renames of step 1.
    (coordinator_dir / "offsets-0").rename(coordinator_dir / "offsets-0.migrating-from-3")
    assert read_back(data_dir, 7) == (expected, live_count(expected))
    assert offsets_layout.layout_in_force(coordinator_dir) == 7


def test_a_crash_after_the_new_layout_is_committed_only_retires_the_old_logs(
    data_dir: Path,
) -> None:
    expected = write_single_log_layout(data_dir)
    read_back(data_dir, 5)
    coordinator_dir = data_dir / ".coordinator"
    # The state a crash leaves between step 4 (commit) and step 5 (retire).
    (coordinator_dir / RETIRED).rename(coordinator_dir / "offsets-0.migrating-from-1")
    assert read_back(data_dir, 5) == (expected, live_count(expected))
    assert RETIRED in entries(coordinator_dir)
    assert "offsets-0.migrating-from-1" not in entries(coordinator_dir)


def test_a_changed_partition_count_rehomes_every_group(data_dir: Path) -> None:
    read_back(data_dir, 5)
    expected = _commit_through_partitions(data_dir, 5)
    assert read_back(data_dir, 3) == (expected, live_count(expected))
    assert read_back(data_dir, 8) == (expected, live_count(expected))
    names = entries(data_dir / ".coordinator")
    assert sum(1 for n in names if ".migrated-" in n) == 5 + 3


def _commit_through_partitions(data_dir: Path, count: int) -> Offsets:
    """Commit for every group through the partitions of a ``count`` layout."""
    logs = LocalOffsetsLogs(data_dir, count, flusher(), ManualClock().time_ms)
    expected: Offsets = {}
    try:
        handles = logs.open()
        partitions = {
            i: OffsetsPartition(i, h, count, ManualClock().time_ms) for i, h in handles.items()
        }
        for n, group in enumerate(GROUPS):
            plan = OffsetCommitPlan(group, (("orders", n % 2, CommittedOffset(n)),))
            partitions[coordinator_partition(group, count)].append_commit(plan)
            expected[group] = {("orders", n % 2): n}
    finally:
        logs.close()
    return expected


def test_an_unreadable_layout_file_refuses_to_start_naming_the_file(data_dir: Path) -> None:
    (data_dir / ".coordinator").mkdir(parents=True)
    (data_dir / ".coordinator" / LAYOUT_FILE).write_text('{"version": 1, "partitions": 0}')
    with pytest.raises(LayoutError, match=f"{LAYOUT_FILE}: partitions must be"):
        read_back(data_dir, 3)
