"""The offsets topic of a broker alone (no ``controller.voters``): local logs, not a
replicated topic (a cluster uses ``replicated_offsets``).

``LocalOffsetsLogs`` owns N logs under ``<data_dir>/.coordinator/offsets-<p>`` (layout
and re-homing in ``offsets_layout``), opens them at start and reports every one led
here; ``LocalOffsetsLog`` is the ``OffsetsLog`` of one of them. These partitions are
private: clients do not see them as a topic.

"Committed" follows the flush policy, as for any partition: under ``durable`` a record
is committed once an fsync covers it (``Flusher.wait_durable``, shared rounds); under
``interval`` once it is written, and the background flush round fsyncs it within the
interval (the documented exposure window). Event-loop thread only, except ``open``,
which does disk I/O and runs before serving (in an executor).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from pathlib import Path

from broker.cluster.flusher import Flusher
from broker.cluster.partition import Partition
from broker.coordinator.offsets_layout import (
    COORDINATOR_DIR,
    OFFSETS_LOG_CONFIG,
    partition_dir,
    prepare_layout,
)
from broker.coordinator.offsets_log import AppendedOffsets
from broker.coordinator.service import GroupService
from broker.metadata.offsets_topic import OFFSETS_TOPIC
from broker.records.batch import check_batch
from broker.storage.errors import LogStorageError
from broker.storage.log import Log
from broker.storage.log_config import LogConfig

__all__ = ["LocalOffsetsLog", "LocalOffsetsLogs"]

log = logging.getLogger(__name__)

_INTERNAL_ID = uuid.UUID("00000000-0000-0000-0000-00000000c0de")


class LocalOffsetsLog:
    """An ``OffsetsLog`` over a local Log (a hidden Partition, so the Flusher serves it)."""

    def __init__(self, index: int, offsets_log: Log, flusher: Flusher) -> None:
        self.log = offsets_log
        self.flusher = flusher
        self.partition = Partition(
            OFFSETS_TOPIC,
            _INTERNAL_ID,
            index,
            offsets_log,
            durable=flusher.durable,
            on_high_watermark=lambda _: None,
        )

    @property
    def log_start_offset(self) -> int:
        return self.log.log_start_offset

    @property
    def log_end_offset(self) -> int:
        return self.log.log_end_offset

    def read(self, offset: int, max_bytes: int) -> bytes | memoryview:
        return self.log.read(offset, max_bytes, self.log.log_end_offset).data

    def append(self, batch: bytes) -> AppendedOffsets:
        info = self.partition.append(batch, check_batch(batch))
        self.flusher.mark_dirty(self.partition)
        return AppendedOffsets(info.base_offset, info.last_offset)

    async def wait_committed(self, last_offset: int) -> None:
        if self.flusher.durable and self.log.flushed_offset <= last_offset:
            await self.flusher.wait_durable(self.partition)

    def drop_history_below(self, offset: int) -> None:
        self.log.advance_log_start(offset)


class LocalOffsetsLogs:
    def __init__(
        self,
        data_dir: Path,
        partitions: int,
        flusher: Flusher,
        clock_ms: Callable[[], int],
        *,
        config: LogConfig = OFFSETS_LOG_CONFIG,
    ) -> None:
        self.directory = data_dir / COORDINATOR_DIR
        self.partitions = partitions
        self.flusher = flusher
        self.config = config
        self._clock_ms = clock_ms
        self.logs: dict[int, LocalOffsetsLog] = {}

    def open(self) -> dict[int, LocalOffsetsLog]:
        """Bring the layout to ``partitions`` partitions (re-homing existing offsets)
        and open every partition's log. Disk I/O: run it in an executor."""
        prepare_layout(self.directory, self.partitions, self._clock_ms, self.config)
        for index in range(self.partitions):
            opened, recovery = Log.open(
                partition_dir(self.directory, index), self.config, self._clock_ms
            )
            if recovery.truncated_bytes:
                log.warning(
                    "offsets partition %d: dropped %d bytes of torn tail (%s)",
                    index,
                    recovery.truncated_bytes,
                    recovery.reason,
                )
            self.logs[index] = LocalOffsetsLog(index, opened, self.flusher)
        return dict(self.logs)

    async def lead_all(self, groups: GroupService) -> int:
        """Open the logs and tell ``groups`` this node leads every partition; returns
        the records replayed once every partition is loaded."""
        handles = await asyncio.get_running_loop().run_in_executor(None, self.open)
        for index, handle in sorted(handles.items()):
            groups.on_become_leader(index, handle)
        return await groups.wait_loaded()

    def close(self) -> None:
        """Close every log; one the disk will not close cleanly is logged (the next
        start recovers it by a scan, as it always scans these logs)."""
        for index, offsets_log in self.logs.items():
            try:
                offsets_log.log.close()
            except LogStorageError as exc:
                log.error("offsets partition %d: %s", index, exc)
        self.logs.clear()
