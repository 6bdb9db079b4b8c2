"""LogManager: the data directory and the logs of the partitions this node replicates.

Data directory layout::

    .lock                     flock held while a broker uses the directory
    .clean_shutdown           present only between a clean close and the next open
    meta.json                 format version, cluster id and node id (checked at every
                              start: a directory belongs to one node of one cluster)
    replication-offset-checkpoint   high watermark per partition (Kafka's format, see
                              broker.storage.checkpoint), written by the replication layer
    __cluster_metadata/       the metadata quorum's log (owned by broker.node)
    <topic>-<partition>/      one Log per partition (see broker.storage.log), with
                              ``partition.metadata`` naming the topic id it belongs to
    .topics/<topic>.json      only in directories written before the metadata log:
                              read once by the migration, then renamed ``.topics.migrated``

Which partitions exist is the metadata log's decision, not this class's: the replica
manager opens a partition's log with ``ensure_log`` (creating it when new) and removes
it with ``delete_log``; a directory whose ``partition.metadata`` names another topic id
(the topic was deleted and re-created while this node was away) is replaced. Metadata
files are replaced atomically (write, fsync, rename). Owned by the event-loop thread;
only ``Log.flush`` runs elsewhere.
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
from dataclasses import dataclass, field
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
    DataDirMismatchError,
    InvalidTopicError,
    LogStorageError,
)
from broker.storage.log import DeletedSegment, Log, LogRecovery
from broker.storage.log_config import LogConfig

__all__ = ["METADATA_LOG_DIR", "PARTITION_METADATA", "LegacyTopic", "LogManager"]

log = logging.getLogger(__name__)

META_VERSION = 2
PARTITION_METADATA = "partition.metadata"
METADATA_LOG_DIR = "__cluster_metadata"
_LEGACY_TOPICS = ".topics"


@dataclass(frozen=True, slots=True)
class LegacyTopic:
    """A topic as a directory written before the metadata log recorded it
    (``.topics/<name>.json``): what the migration turns into metadata records."""

    name: str
    topic_id: uuid.UUID
    partitions: int
    configs: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> LegacyTopic:
        configs = data.get("configs") or {}
        if not isinstance(configs, dict):
            raise ValueError("configs is not a mapping")
        return cls(
            name=str(data["name"]),
            topic_id=uuid.UUID(str(data["topic_id"])),
            partitions=int(str(data["partitions"])),
            configs={str(k): str(v) for k, v in configs.items()},
        )


def _write_json_atomically(path: Path, data: object) -> None:
    """Replace ``path`` with ``data`` as JSON; raises LogStorageError on a disk error."""
    write_atomically(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def _partition_dir_name(topic: str, partition: int) -> str:
    return f"{topic}-{partition}"


def _parse_partition_dir(name: str) -> tuple[str, int] | None:
    topic, sep, partition = name.rpartition("-")
    if not sep or not topic or not partition.isdigit():
        return None
    return topic, int(partition)


def read_partition_metadata(directory: Path) -> uuid.UUID | None:
    """The topic id a partition directory belongs to, or None (absent or unreadable)."""
    try:
        text = (directory / PARTITION_METADATA).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "topic_id":
            try:
                return uuid.UUID(value.strip())
            except ValueError:
                return None
    return None


class LogManager:
    """Owns the partition logs of one data directory. See the module docstring."""

    def __init__(
        self,
        data_dir: Path,
        defaults: LogConfig,
        clock_ms: Callable[[], int],
        node_id: int = 0,
        cluster_id: str | None = None,
    ) -> None:
        """``cluster_id``: the configured one (several voters must agree on it), or None
        to keep the directory's own (a new directory then gets a fresh one)."""
        self.data_dir = data_dir
        self.defaults = defaults
        self._clock_ms = clock_ms
        self.node_id = node_id
        self._configured_cluster_id = cluster_id
        self.cluster_id = ""
        self.logs: dict[tuple[str, int], Log] = {}
        self.topic_ids: dict[tuple[str, int], uuid.UUID] = {}
        self._lock_fd: int | None = None
        self.recoveries: dict[tuple[str, int], LogRecovery] = {}
        self.clean_shutdown = False
        # Partition directories found at open whose log is not open yet: the metadata
        # log decides whether each is kept (ensure_log) or removed (delete_stray_logs).
        self.found: dict[tuple[str, int], uuid.UUID | None] = {}
        self.legacy_next_producer_id = 0
        self._high_watermarks: dict[tuple[str, int], int] = {}
        # Why the high watermark checkpoint could not be read at open, if it could not.
        self.high_watermark_checkpoint_error: str | None = None

    # -- lifecycle -----------------------------------------------------------------

    @property
    def metadata_log_dir(self) -> Path:
        return self.data_dir / METADATA_LOG_DIR

    def open(self) -> None:
        """Lock the directory, check it belongs to this node and cluster, and list the
        partition directories in it (their logs open on ``ensure_log``)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock()
        marker = self.data_dir / ".clean_shutdown"
        self.clean_shutdown = marker.exists()
        marker.unlink(missing_ok=True)
        for stray in self.data_dir.glob("*.tmp"):
            stray.unlink()
        self._load_meta()
        self._load_high_watermarks()
        self._remove_interrupted_deletions()
        legacy_ids = {t.name: t.topic_id for t in self.legacy_topics()}
        for path in sorted(self.data_dir.iterdir()):
            if not path.is_dir() or path.name.startswith((".", "__")):
                continue
            key = _parse_partition_dir(path.name)
            if key is None:
                continue
            self.found[key] = read_partition_metadata(path) or legacy_ids.get(key[0])

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
        configured = self._configured_cluster_id
        if path.exists():
            try:
                meta = json.loads(path.read_text())
                stored_cluster, stored_node = str(meta["cluster_id"]), meta.get("node_id")
            except (ValueError, KeyError, TypeError) as exc:
                raise DataDirMismatchError(
                    f"{path}: unreadable ({exc}); restore it from a backup"
                ) from None
            if configured is not None and configured != stored_cluster:
                raise DataDirMismatchError(
                    f"data directory {self.data_dir} belongs to cluster {stored_cluster!r}, "
                    f"not {configured!r}; use another --data-dir or the right cluster_id"
                )
            if stored_node is not None and int(stored_node) != self.node_id:
                raise DataDirMismatchError(
                    f"data directory {self.data_dir} belongs to node {stored_node}, not "
                    f"{self.node_id}; use another --data-dir or node_id {stored_node}"
                )
            self.cluster_id = stored_cluster
            self.legacy_next_producer_id = int(meta.get("next_producer_id_block", 0))
        else:
            self.cluster_id = configured or uuid.uuid4().hex[:22]
        _write_json_atomically(
            path,
            {
                "version": META_VERSION,
                "cluster_id": self.cluster_id,
                "node_id": self.node_id,
                "next_producer_id_block": self.legacy_next_producer_id,
            },
        )

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

    def _remove_interrupted_deletions(self) -> None:
        for path in self.data_dir.iterdir():
            if path.is_dir() and path.name.endswith("-delete"):
                shutil.rmtree(path, ignore_errors=True)  # a deletion a crash interrupted

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

    # -- legacy topics (before the metadata log) -------------------------------------

    def legacy_topics(self) -> list[LegacyTopic]:
        """Topics recorded in ``.topics`` by a broker from before the metadata log."""
        directory = self.data_dir / _LEGACY_TOPICS
        topics = []
        for path in sorted(directory.glob("*.json")) if directory.is_dir() else ():
            try:
                topics.append(LegacyTopic.from_json(json.loads(path.read_text())))
            except (ValueError, KeyError) as exc:
                raise InvalidTopicError(
                    f"{path}: unreadable topic metadata ({exc}); restore it from a backup or "
                    f"delete it to drop the topic"
                ) from exc
        return topics

    def retire_legacy_topics(self) -> None:
        """Once the metadata log holds them: rename ``.topics`` aside (kept, not read)."""
        directory = self.data_dir / _LEGACY_TOPICS
        if directory.is_dir():
            directory.rename(self.data_dir / f"{_LEGACY_TOPICS}.migrated")

    # -- logs --------------------------------------------------------------------------

    def ensure_log(self, topic: str, partition: int, topic_id: uuid.UUID, config: LogConfig) -> Log:
        """The partition's log, opened (and recovered) or created. A directory left by
        another topic of the same name (another topic id) is removed first."""
        key = (topic, partition)
        opened = self.logs.get(key)
        if opened is not None and self.topic_ids.get(key) == topic_id:
            opened.config = config
            return opened
        if opened is not None:
            self.delete_log(topic, partition)
        directory = self.data_dir / _partition_dir_name(topic, partition)
        found = self.found.pop(key, None)
        if directory.exists() and found not in (None, topic_id):
            log.warning(
                "partition directory %s belongs to topic id %s, not %s: removing it",
                directory.name,
                found,
                topic_id,
            )
            self._remove_directory(directory)
        opened, recovery = Log.open(
            directory, config, self._clock_ms, clean_shutdown=self.clean_shutdown
        )
        metadata = directory / PARTITION_METADATA
        if read_partition_metadata(directory) != topic_id:
            write_atomically(metadata, f"version: 0\ntopic_id: {topic_id}\n".encode())
        self.logs[key] = opened
        self.topic_ids[key] = topic_id
        self.recoveries[key] = recovery
        return opened

    def delete_log(self, topic: str, partition: int) -> None:
        """Close and delete the partition's log (the files go off the caller's thread)."""
        key = (topic, partition)
        opened = self.logs.pop(key, None)
        self.topic_ids.pop(key, None)
        self.recoveries.pop(key, None)
        self.found.pop(key, None)
        directory = self.data_dir / _partition_dir_name(topic, partition)
        if opened is not None:
            opened.close()
        if directory.exists():
            self._remove_directory(directory)

    def delete_stray_logs(self, keep: set[tuple[str, int]]) -> list[tuple[str, int]]:
        """Remove partition directories found at open that the metadata log does not
        assign to this node (``keep``): their topic was deleted or the replica moved."""
        stray = sorted(key for key in self.found if key not in keep)
        for topic, partition in stray:
            log.warning("removing partition %s-%d: not assigned to this node", topic, partition)
            self.delete_log(topic, partition)
        return stray

    def _remove_directory(self, directory: Path) -> None:
        # Rename now (cheap, atomic), delete the files off the caller's thread: a large
        # partition's rmtree must not stall the event loop.
        target = directory.with_name(f".{directory.name}.{uuid.uuid4().hex}-delete")
        directory.rename(target)
        threading.Thread(
            target=shutil.rmtree, args=(target,), kwargs={"ignore_errors": True}, daemon=True
        ).start()

    def get_log(self, topic: str, partition: int) -> Log | None:
        return self.logs.get((topic, partition))

    def iter_logs(self) -> Iterator[tuple[tuple[str, int], Log]]:
        return iter(list(self.logs.items()))

    def enforce_retention(
        self, now_ms: int, limits: Mapping[tuple[str, int], int] | None = None
    ) -> list[tuple[str, int, DeletedSegment]]:
        """Delete expired segments of every log; ``limits`` caps, per partition, the
        offset below which deletion may happen (a leader keeps what its followers and
        consumers may not have seen: its high watermark)."""
        deleted = []
        for (topic, partition), opened in self.iter_logs():
            limit = None if limits is None else limits.get((topic, partition))
            for segment in opened.delete_expired(now_ms, limit):
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
