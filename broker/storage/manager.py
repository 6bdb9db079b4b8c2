"""LogManager: the data directory, its topics and the logs of every partition.

Data directory layout::

    .lock                     flock held while a broker uses the directory
    .clean_shutdown           present only between a clean close and the next open
    meta.json                 cluster id, node id, next producer id block
    replication-offset-checkpoint   high watermark per partition (Kafka's format, see
                              broker.storage.checkpoint), written by the replication layer
    .topics/<topic>.json      topic id (stable UUID), partition count, config overrides
    <topic>-<partition>/      one Log per partition (see broker.storage.log)

Metadata files are replaced atomically (write, fsync, rename). A topic exists exactly
when its ``.topics`` file exists: deletion removes that file first, so a crash half-way
leaves only orphan partition directories, which the next open removes. Owned by the
event-loop thread; only ``Log.flush`` runs elsewhere.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from broker.storage.checkpoint import (
    HIGH_WATERMARK_CHECKPOINT,
    read_offset_checkpoint,
    write_atomically,
    write_offset_checkpoint,
)
from broker.storage.errors import (
    CorruptCheckpointError,
    DataDirLockedError,
    InvalidPartitionsError,
    InvalidTopicError,
    LogStorageError,
    TopicExistsError,
    UnknownTopicError,
)
from broker.storage.log import DeletedSegment, Log, LogRecovery
from broker.storage.log_config import LogConfig
from broker.storage.topic_names import MAX_PARTITIONS, validate_topic_name

__all__ = ["LogManager", "TopicInfo"]

log = logging.getLogger(__name__)

_PRODUCER_ID_BLOCK = 1000


@dataclass(frozen=True, slots=True)
class TopicInfo:
    """A topic's identity and settings as persisted. Immutable; changes replace it."""

    name: str
    topic_id: uuid.UUID
    partitions: int
    configs: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "topic_id": str(self.topic_id),
            "partitions": self.partitions,
            "configs": dict(sorted(self.configs.items())),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> TopicInfo:
        configs = data.get("configs") or {}
        assert isinstance(configs, dict)
        return cls(
            name=str(data["name"]),
            topic_id=uuid.UUID(str(data["topic_id"])),
            partitions=int(str(data["partitions"])),
            configs={str(k): str(v) for k, v in configs.items()},
        )


def _write_json_atomically(path: Path, data: object) -> None:
    """Replace ``path`` with ``data`` as JSON; raises LogStorageError on a disk error."""
    write_atomically(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


class LogManager:
    """Owns every topic's logs in one data directory. See the module docstring."""

    def __init__(
        self,
        data_dir: Path,
        defaults: LogConfig,
        clock_ms: Callable[[], int],
        node_id: int = 0,
    ) -> None:
        self.data_dir = data_dir
        self.defaults = defaults
        self._clock_ms = clock_ms
        self.node_id = node_id
        self.topics: dict[str, TopicInfo] = {}
        self._topics_by_id: dict[uuid.UUID, str] = {}
        self.logs: dict[tuple[str, int], Log] = {}
        self._configs: dict[str, LogConfig] = {}
        self.cluster_id = ""
        self._next_producer_id = 0
        self._producer_id_limit = 0
        self._lock_fd: int | None = None
        self.recoveries: dict[tuple[str, int], LogRecovery] = {}
        self.clean_shutdown = False
        self._high_watermarks: dict[tuple[str, int], int] = {}
        # Why the high watermark checkpoint could not be read at open, if it could not.
        self.high_watermark_checkpoint_error: str | None = None

    # -- lifecycle -----------------------------------------------------------------

    def open(self) -> None:
        """Lock the directory, load metadata and open (recovering) every log."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / ".topics").mkdir(exist_ok=True)
        self._lock()
        marker = self.data_dir / ".clean_shutdown"
        self.clean_shutdown = marker.exists()
        marker.unlink(missing_ok=True)
        for stray in self.data_dir.glob("*.tmp"):
            stray.unlink()
        self._load_meta()
        self._load_high_watermarks()
        for path in sorted((self.data_dir / ".topics").glob("*.json")):
            try:
                info = TopicInfo.from_json(json.loads(path.read_text()))
            except (ValueError, KeyError, AssertionError) as exc:
                raise InvalidTopicError(
                    f"{path}: unreadable topic metadata ({exc}); restore it from a backup or "
                    f"delete it to drop the topic"
                ) from exc
            self._register(info)
        for path in sorted((self.data_dir / ".topics").glob("*.tmp")):
            path.unlink()
        self._remove_orphans()
        for info in self.topics.values():
            for partition in range(info.partitions):
                self._open_log(info.name, partition)

    def _lock(self) -> None:
        fd = os.open(self.data_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirLockedError(
                f"data directory {self.data_dir} is in use by another broker; stop it or "
                f"choose another --data-dir"
            ) from None
        self._lock_fd = fd

    def _load_meta(self) -> None:
        path = self.data_dir / "meta.json"
        if path.exists():
            meta = json.loads(path.read_text())
            self.cluster_id = str(meta["cluster_id"])
            self._next_producer_id = int(meta["next_producer_id_block"])
        else:
            self.cluster_id = uuid.uuid4().hex[:22]
            self._next_producer_id = 0
        self._producer_id_limit = self._next_producer_id
        self._save_meta()

    def _load_high_watermarks(self) -> None:
        path = self.data_dir / HIGH_WATERMARK_CHECKPOINT
        try:
            self._high_watermarks = read_offset_checkpoint(path)
        except FileNotFoundError:
            self._high_watermarks = {}
        except (CorruptCheckpointError, OSError) as exc:
            # Safe to lose: a replica without its high watermark exposes less (it starts
            # from its log start) until its leader tells it the current one.
            self.high_watermark_checkpoint_error = str(exc)
            self._high_watermarks = {}
            log.warning("ignoring the high watermark checkpoint: %s", exc)

    def _save_meta(self) -> None:
        _write_json_atomically(
            self.data_dir / "meta.json",
            {
                "version": 1,
                "cluster_id": self.cluster_id,
                "node_id": self.node_id,
                "next_producer_id_block": self._producer_id_limit,
            },
        )

    def _remove_orphans(self) -> None:
        for path in self.data_dir.iterdir():
            if path.is_dir() and path.name.endswith("-delete"):
                shutil.rmtree(path, ignore_errors=True)  # a deletion a crash interrupted
                continue
            if not path.is_dir() or path.name.startswith("."):
                continue
            topic, _, partition = path.name.rpartition("-")
            info = self.topics.get(topic)
            if info is None or not partition.isdigit() or int(partition) >= info.partitions:
                log.warning("removing orphan partition directory %s", path)
                shutil.rmtree(path)

    def _open_log(self, topic: str, partition: int) -> Log:
        directory = self.data_dir / f"{topic}-{partition}"
        opened, recovery = Log.open(
            directory,
            self.config_for(topic),
            self._clock_ms,
            clean_shutdown=self.clean_shutdown,
        )
        self.logs[(topic, partition)] = opened
        self.recoveries[(topic, partition)] = recovery
        return opened

    def close(self) -> None:
        """Close every log, then mark the shutdown clean. A log the disk will not let
        close cleanly (full, read-only) is logged, the others are still closed, the
        clean-shutdown marker is not written (so the next open recovers by a full
        scan), and LogStorageError is raised at the end."""
        failed: list[str] = []
        for (topic, partition), opened in self.logs.items():
            try:
                opened.close()
            except LogStorageError as exc:
                failed.append(f"{topic}-{partition}")
                log.error("%s; the next start will recover it by a full scan", exc)
        self.logs.clear()
        if self._lock_fd is not None:
            try:
                if not failed:
                    (self.data_dir / ".clean_shutdown").touch()
            except OSError as exc:
                failed.append(f"the clean-shutdown marker ({exc.strerror})")
            finally:
                os.close(self._lock_fd)
                self._lock_fd = None
        if failed:
            raise LogStorageError(
                f"storage did not close cleanly ({', '.join(failed[:5])}"
                f"{', ...' if len(failed) > 5 else ''}); the next start recovers by a full scan"
            )

    # -- topics ----------------------------------------------------------------------

    def _register(self, info: TopicInfo) -> None:
        self.topics[info.name] = info
        self._topics_by_id[info.topic_id] = info.name
        self._configs[info.name] = self.defaults.with_overrides(info.configs)

    def config_for(self, topic: str) -> LogConfig:
        return self._configs[topic]

    def topic_by_id(self, topic_id: uuid.UUID) -> TopicInfo | None:
        name = self._topics_by_id.get(topic_id)
        return self.topics.get(name) if name is not None else None

    def validate_new_topic(
        self, name: str, partitions: int, configs: Mapping[str, str | None]
    ) -> LogConfig:
        """Check a CreateTopics request without changing anything."""
        validate_topic_name(name)
        if name in self.topics:
            raise TopicExistsError(f"topic {name!r} already exists")
        if not 1 <= partitions <= MAX_PARTITIONS:
            raise InvalidPartitionsError(
                f"partition count {partitions} is not allowed; use 1-{MAX_PARTITIONS}"
            )
        return self.defaults.with_overrides(configs)

    def create_topic(
        self, name: str, partitions: int, configs: Mapping[str, str | None] | None = None
    ) -> TopicInfo:
        overrides = {k: v for k, v in (configs or {}).items() if v is not None}
        self.validate_new_topic(name, partitions, overrides)
        info = TopicInfo(name, uuid.uuid4(), partitions, overrides)
        _write_json_atomically(self.data_dir / ".topics" / f"{name}.json", info.to_json())
        self._register(info)
        for partition in range(partitions):
            self._open_log(name, partition)
        log.info("created topic %s with %d partitions", name, partitions)
        return info

    def delete_topic(self, name: str) -> TopicInfo:
        info = self.topics.get(name)
        if info is None:
            raise UnknownTopicError(f"topic {name!r} does not exist")
        (self.data_dir / ".topics" / f"{name}.json").unlink()
        del self.topics[name]
        del self._topics_by_id[info.topic_id]
        del self._configs[name]
        doomed = []
        for partition in range(info.partitions):
            opened = self.logs.pop((name, partition), None)
            self.recoveries.pop((name, partition), None)
            if opened is not None:
                opened.close()
                # Rename now (cheap, atomic), delete the files off the caller's thread:
                # a large topic's rmtree must not stall the event loop.
                target = opened.directory.with_name(
                    f".{opened.directory.name}.{uuid.uuid4().hex}-delete"
                )
                opened.directory.rename(target)
                doomed.append(target)
        if doomed:
            threading.Thread(
                target=_remove_trees, args=(doomed,), name=f"delete-{name}", daemon=True
            ).start()
        log.info("deleted topic %s", name)
        return info

    def add_partitions(self, name: str, total: int) -> TopicInfo:
        info = self.validate_partition_increase(name, total)
        updated = replace(info, partitions=total)
        _write_json_atomically(self.data_dir / ".topics" / f"{name}.json", updated.to_json())
        self._register(updated)
        for partition in range(info.partitions, total):
            self._open_log(name, partition)
        return updated

    def validate_partition_increase(self, name: str, total: int) -> TopicInfo:
        info = self.topics.get(name)
        if info is None:
            raise UnknownTopicError(f"topic {name!r} does not exist")
        if total <= info.partitions:
            raise InvalidPartitionsError(
                f"topic {name!r} has {info.partitions} partitions; the new count {total} "
                f"must be larger"
            )
        if total > MAX_PARTITIONS:
            raise InvalidPartitionsError(f"partition count {total} exceeds {MAX_PARTITIONS}")
        return info

    def validate_configs(self, name: str, configs: Mapping[str, str | None]) -> LogConfig:
        if name not in self.topics:
            raise UnknownTopicError(f"topic {name!r} does not exist")
        return self.defaults.with_overrides(configs)

    def set_configs(self, name: str, configs: Mapping[str, str | None]) -> TopicInfo:
        """Replace the topic's overrides (a value of None removes a key)."""
        self.validate_configs(name, configs)
        info = self.topics[name]
        overrides = {k: v for k, v in configs.items() if v is not None}
        updated = replace(info, configs=overrides)
        _write_json_atomically(self.data_dir / ".topics" / f"{name}.json", updated.to_json())
        self._register(updated)
        for (topic, _), opened in self.logs.items():
            if topic == name:
                opened.config = self._configs[name]
        return updated

    # -- logs --------------------------------------------------------------------------

    def get_log(self, topic: str, partition: int) -> Log | None:
        return self.logs.get((topic, partition))

    def iter_logs(self) -> Iterator[tuple[tuple[str, int], Log]]:
        return iter(list(self.logs.items()))

    def enforce_retention(self, now_ms: int) -> list[tuple[str, int, DeletedSegment]]:
        deleted = []
        for (topic, partition), opened in self.iter_logs():
            for segment in opened.delete_expired(now_ms):
                log.info(
                    "deleted segment %s-%d@%d (%d bytes): %s",
                    topic,
                    partition,
                    segment.base_offset,
                    segment.size_bytes,
                    segment.reason,
                )
                deleted.append((topic, partition, segment))
        return deleted

    # -- high watermark checkpoint -------------------------------------------------------

    def high_watermark_checkpoint(self, topic: str, partition: int) -> int | None:
        """The high watermark last written for the partition (read at open, then as
        written by ``write_high_watermarks``), or None when there is none."""
        return self._high_watermarks.get((topic, partition))

    def write_high_watermarks(self, high_watermarks: Mapping[tuple[str, int], int]) -> None:
        """Replace the data directory's high watermark checkpoint with
        ``{(topic, partition): high watermark}``: the complete set, partitions left out
        are dropped. Atomic (tmp, fsync, rename, fsync); raises LogStorageError, and the
        previous checkpoint then stays."""
        write_offset_checkpoint(self.data_dir / HIGH_WATERMARK_CHECKPOINT, high_watermarks)
        self._high_watermarks = dict(high_watermarks)

    # -- producer ids --------------------------------------------------------------------

    def allocate_producer_id(self) -> int:
        """A producer id never handed out before by this data directory."""
        if self._next_producer_id >= self._producer_id_limit:
            self._producer_id_limit = self._next_producer_id + _PRODUCER_ID_BLOCK
            self._save_meta()
        pid = self._next_producer_id
        self._next_producer_id += 1
        return pid


def _remove_trees(paths: list[Path]) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)
