"""The LogManager: the data directory, who it belongs to, and the partition logs the
metadata log assigns to this node (which topics exist is the controller's business)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from broker.storage.errors import DataDirLockedError, DataDirMismatchError, InvalidTopicError
from broker.storage.log_config import LogConfig
from broker.storage.manager import PARTITION_METADATA, LogManager, read_partition_metadata
from contracts.clock import ManualClock
from tests.broker.storage.helpers import append_values

ORDERS = uuid.UUID("00000000-0000-4000-8000-000000000001")
OTHER = uuid.UUID("00000000-0000-4000-8000-000000000002")


def open_manager(path: Path, node_id: int = 0, cluster_id: str | None = None) -> LogManager:
    manager = LogManager(path, LogConfig(), ManualClock().time_ms, node_id, cluster_id)
    manager.open()
    return manager


def test_a_partition_log_and_its_topic_id_survive_a_restart(tmp_path: Path) -> None:
    manager = open_manager(tmp_path)
    log = manager.ensure_log("orders", 2, ORDERS, LogConfig(retention_ms=1000))
    append_values(log, b"kept")
    assert read_partition_metadata(tmp_path / "orders-2") == ORDERS
    manager.close()
    again = open_manager(tmp_path)
    assert again.clean_shutdown
    assert again.found == {("orders", 2): ORDERS}, "listed at open, opened on demand"
    reopened = again.ensure_log("orders", 2, ORDERS, LogConfig(retention_ms=1000))
    assert reopened.log_end_offset == 1
    assert reopened.config.retention_ms == 1000
    assert again.cluster_id == manager.cluster_id


def test_a_directory_left_by_a_deleted_topic_of_the_same_name_is_replaced(
    tmp_path: Path,
) -> None:
    manager = open_manager(tmp_path)
    append_values(manager.ensure_log("orders", 0, ORDERS, LogConfig()), b"old topic")
    manager.close()
    again = open_manager(tmp_path)
    recreated = again.ensure_log("orders", 0, OTHER, LogConfig())
    assert recreated.log_end_offset == 0, "the old topic's records are not the new one's"
    assert read_partition_metadata(tmp_path / "orders-0") == OTHER


def test_logs_the_metadata_log_no_longer_assigns_here_are_removed(tmp_path: Path) -> None:
    manager = open_manager(tmp_path)
    manager.ensure_log("kept", 0, ORDERS, LogConfig())
    manager.ensure_log("moved", 0, OTHER, LogConfig())
    manager.close()
    again = open_manager(tmp_path)
    assert again.delete_stray_logs({("kept", 0)}) == [("moved", 0)]
    assert not (tmp_path / "moved-0").exists()
    assert (tmp_path / "kept-0").exists()


def test_deleting_a_log_removes_its_files(tmp_path: Path) -> None:
    manager = open_manager(tmp_path)
    manager.ensure_log("gone", 1, ORDERS, LogConfig())
    manager.delete_log("gone", 1)
    assert manager.get_log("gone", 1) is None
    assert not (tmp_path / "gone-1").exists()


def test_a_second_manager_cannot_open_a_directory_in_use(tmp_path: Path) -> None:
    open_manager(tmp_path)
    with pytest.raises(DataDirLockedError, match="in use by another broker"):
        open_manager(tmp_path)


def test_a_directory_of_another_cluster_is_refused_with_both_ids(tmp_path: Path) -> None:
    open_manager(tmp_path, cluster_id="blue").close()
    with pytest.raises(DataDirMismatchError, match="belongs to cluster 'blue', not 'green'"):
        open_manager(tmp_path, cluster_id="green")


def test_a_directory_of_another_node_is_refused_with_both_ids(tmp_path: Path) -> None:
    open_manager(tmp_path, node_id=1).close()
    with pytest.raises(DataDirMismatchError, match="belongs to node 1, not 2"):
        open_manager(tmp_path, node_id=2)


def test_topics_written_before_the_metadata_log_are_read_then_retired(tmp_path: Path) -> None:
    legacy = tmp_path / ".topics"
    legacy.mkdir(parents=True)
    (legacy / "orders.json").write_text(
        json.dumps(
            {"name": "orders", "topic_id": str(ORDERS), "partitions": 2, "configs": {"a": "b"}}
        )
    )
    (tmp_path / "orders-1").mkdir()
    manager = open_manager(tmp_path)
    (topic,) = manager.legacy_topics()
    assert (topic.name, topic.topic_id, topic.partitions, dict(topic.configs)) == (
        "orders",
        ORDERS,
        2,
        {"a": "b"},
    )
    assert manager.found[("orders", 1)] == ORDERS, "old directories have no partition.metadata"
    manager.retire_legacy_topics()
    assert manager.legacy_topics() == []
    assert (tmp_path / ".topics.migrated" / "orders.json").exists()


def test_unreadable_legacy_topic_metadata_is_refused_with_the_file(tmp_path: Path) -> None:
    (tmp_path / ".topics").mkdir(parents=True)
    (tmp_path / ".topics" / "bad.json").write_text("{not json")
    with pytest.raises(InvalidTopicError, match=r"bad\.json: unreadable topic metadata"):
        open_manager(tmp_path)


def test_a_deletion_a_crash_interrupted_is_finished_at_open(tmp_path: Path) -> None:
    open_manager(tmp_path).close()
    doomed = tmp_path / ".orders-0.abc-delete"
    doomed.mkdir()
    (doomed / PARTITION_METADATA).write_text("x")
    open_manager(tmp_path)
    assert not doomed.exists()
