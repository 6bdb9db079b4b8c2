"""Committed offsets survive restarts through the internal offsets log."""

from __future__ import annotations

from pathlib import Path

from broker.coordinator.coordinator import GroupCoordinator, OffsetCommitPlan
from broker.coordinator.group import CommittedOffset
from broker.coordinator.offset_store import OffsetStore
from contracts.clock import ManualClock


def commit(
    store: OffsetStore, coordinator: GroupCoordinator, group: str, partition: int, offset: int
) -> None:
    plan = OffsetCommitPlan(
        group, (("orders", partition, CommittedOffset(offset, 3, f"meta-{offset}", 1_000)),)
    )
    store.append_commit(plan)
    coordinator.apply_offsets(plan)


def reopened(path: Path) -> tuple[OffsetStore, GroupCoordinator, int]:
    store = OffsetStore(path, ManualClock().time_ms, durable=False)
    coordinator = GroupCoordinator()
    replayed = store.open(coordinator)
    return store, coordinator, replayed


def test_commits_and_deletions_are_replayed_after_a_restart(tmp_path: Path) -> None:
    store, coordinator, _ = reopened(tmp_path)
    for offset in range(10):
        commit(store, coordinator, "billing", 0, offset)
    commit(store, coordinator, "billing", 1, 77)
    commit(store, coordinator, "gone", 0, 5)
    store.append_delete("gone")
    coordinator.apply_delete("gone")
    store.close()
    _, again, replayed = reopened(tmp_path)
    assert replayed == 13
    assert again.committed("billing")[("orders", 0)] == CommittedOffset(9, 3, "meta-9", 1_000)
    assert again.committed("billing")[("orders", 1)].offset == 77
    assert again.committed("gone") == {}


def test_compaction_keeps_only_live_offsets_and_loses_none(tmp_path: Path) -> None:
    store, coordinator, _ = reopened(tmp_path)
    store.compact_after_bytes = 4_000
    for offset in range(300):
        commit(store, coordinator, "busy", offset % 3, offset)
        store.maybe_compact(coordinator)
    assert store.compactions > 0
    assert store.log is not None
    assert store.log.size_bytes < 8_000
    store.close()
    _, again, replayed = reopened(tmp_path)
    assert replayed < 300
    assert {p: c.offset for (_, p), c in again.committed("busy").items()} == {
        0: 297,
        1: 298,
        2: 299,
    }
