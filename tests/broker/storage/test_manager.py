"""The LogManager: topics, their persisted metadata and the data directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.storage.errors import (
    DataDirLockedError,
    InvalidPartitionsError,
    InvalidTopicError,
    TopicExistsError,
    UnknownTopicError,
)
from broker.storage.log_config import InvalidConfigError, LogConfig
from broker.storage.manager import LogManager
from contracts.clock import ManualClock
from tests.broker.storage.helpers import append_values


def open_manager(path: Path) -> LogManager:
    manager = LogManager(path, LogConfig(), ManualClock().time_ms)
    manager.open()
    return manager


def test_topics_configs_ids_and_data_survive_a_restart(tmp_path: Path) -> None:
    manager = open_manager(tmp_path)
    info = manager.create_topic("orders", 3, {"retention.ms": "1000"})
    log = manager.get_log("orders", 2)
    assert log is not None
    append_values(log, b"kept")
    manager.close()
    again = open_manager(tmp_path)
    assert again.clean_shutdown
    assert again.topics["orders"].topic_id == info.topic_id
    assert again.topics["orders"].partitions == 3
    assert again.config_for("orders").retention_ms == 1000
    reopened = again.get_log("orders", 2)
    assert reopened is not None
    assert reopened.log_end_offset == 1
    assert again.cluster_id == manager.cluster_id


def test_a_second_manager_cannot_open_a_directory_in_use(tmp_path: Path) -> None:
    open_manager(tmp_path)
    with pytest.raises(DataDirLockedError, match="in use by another broker"):
        open_manager(tmp_path)


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "x" * 250, "spaces here", "ünïcode"])
def test_illegal_topic_names_are_refused_with_the_rule(tmp_path: Path, name: str) -> None:
    manager = open_manager(tmp_path)
    with pytest.raises(InvalidTopicError, match=r"a-zA-Z0-9\._-"):
        manager.create_topic(name, 1)


def test_creating_an_existing_topic_or_bad_counts_fails(tmp_path: Path) -> None:
    manager = open_manager(tmp_path)
    manager.create_topic("t", 1)
    with pytest.raises(TopicExistsError):
        manager.create_topic("t", 1)
    with pytest.raises(InvalidPartitionsError):
        manager.create_topic("u", 0)
    with pytest.raises(InvalidPartitionsError, match="must be larger"):
        manager.add_partitions("t", 1)
    with pytest.raises(UnknownTopicError):
        manager.delete_topic("missing")


def test_unknown_or_invalid_configs_are_refused_with_the_allowed_values(tmp_path: Path) -> None:
    manager = open_manager(tmp_path)
    with pytest.raises(InvalidConfigError, match=r"unknown topic config 'retention\.mss'"):
        manager.create_topic("t", 1, {"retention.mss": "5"})
    with pytest.raises(InvalidConfigError, match="not an integer"):
        manager.create_topic("t", 1, {"retention.ms": "soon"})
    with pytest.raises(InvalidConfigError, match="allowed: delete"):
        manager.create_topic("t", 1, {"cleanup.policy": "compact"})
    assert "t" not in manager.topics


def test_deleting_a_topic_removes_its_files_and_adding_partitions_extends_it(
    tmp_path: Path,
) -> None:
    manager = open_manager(tmp_path)
    manager.create_topic("gone", 2)
    manager.create_topic("grow", 1)
    manager.delete_topic("gone")
    assert not (tmp_path / "gone-0").exists()
    assert not (tmp_path / ".topics" / "gone.json").exists()
    manager.add_partitions("grow", 4)
    assert manager.get_log("grow", 3) is not None
    manager.close()
    again = open_manager(tmp_path)
    assert set(again.topics) == {"grow"}
    assert again.topics["grow"].partitions == 4


def test_orphan_partition_directories_from_an_interrupted_delete_are_removed(
    tmp_path: Path,
) -> None:
    manager = open_manager(tmp_path)
    manager.create_topic("t", 1)
    manager.close()
    (tmp_path / "ghost-0").mkdir()
    (tmp_path / "t-5").mkdir()
    again = open_manager(tmp_path)
    assert not (tmp_path / "ghost-0").exists()
    assert not (tmp_path / "t-5").exists()
    assert again.get_log("t", 0) is not None


def test_producer_ids_are_never_reused_across_restarts(tmp_path: Path) -> None:
    manager = open_manager(tmp_path)
    first = [manager.allocate_producer_id() for _ in range(3)]
    manager.close()
    again = open_manager(tmp_path)
    later = again.allocate_producer_id()
    assert later > max(first)
    assert len(set(first)) == 3
