"""A partition led by this node: its log, leader epoch and high watermark.

The high watermark is the offset below which data is visible to consumers. On a single
node it equals the log end offset, except under the durable flush policy, where it is
the flushed offset: consumers never see data that a power loss could take back.
Replication will move it to "replicated to every in-sync replica" without changing the
readers. Event-loop thread only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from broker.records.batch import BatchHeader
from broker.storage.log import AppendInfo, Log, ReadInfo

__all__ = ["Partition"]


class Partition:
    __slots__ = (
        "_on_high_watermark",
        "bytes_appended",
        "bytes_fetched",
        "durable",
        "high_watermark",
        "index",
        "key",
        "leader_epoch",
        "log",
        "records_appended",
        "records_fetched",
        "retention_deleted_bytes",
        "topic",
        "topic_id",
    )

    def __init__(
        self,
        topic: str,
        topic_id: uuid.UUID,
        index: int,
        log: Log,
        *,
        durable: bool,
        on_high_watermark: Callable[[tuple[str, int]], None],
        leader_epoch: int = 0,
    ) -> None:
        self.topic = topic
        self.topic_id = topic_id
        self.index = index
        self.key = (topic, index)
        self.log = log
        self.durable = durable
        self.leader_epoch = leader_epoch
        self.high_watermark = log.log_end_offset
        self._on_high_watermark = on_high_watermark
        # Plain counters read by the metrics collector at scrape time.
        self.records_appended = 0
        self.bytes_appended = 0
        self.records_fetched = 0
        self.bytes_fetched = 0
        self.retention_deleted_bytes = 0

    def append(self, batch: bytes | memoryview, header: BatchHeader) -> AppendInfo:
        info = self.log.append(batch, header, self.leader_epoch)
        if not info.duplicate:
            self.records_appended += info.records
            self.bytes_appended += info.size_bytes
            if not self.durable:
                self.advance_high_watermark(info.last_offset + 1)
        return info

    def advance_high_watermark(self, offset: int) -> None:
        offset = min(offset, self.log.log_end_offset)
        if offset > self.high_watermark:
            self.high_watermark = offset
            self._on_high_watermark(self.key)

    def read(self, offset: int, max_bytes: int, min_one: bool = True) -> ReadInfo:
        return self.log.read(offset, max_bytes, self.high_watermark, min_one)

    @property
    def log_start_offset(self) -> int:
        return self.log.log_start_offset

    @property
    def log_end_offset(self) -> int:
        return self.log.log_end_offset

    @property
    def size_bytes(self) -> int:
        return self.log.size_bytes

    @property
    def segment_count(self) -> int:
        return self.log.segment_count

    @property
    def max_timestamp_ms(self) -> int:
        return self.log.max_timestamp

    def after_retention(self) -> None:
        """Retention may have moved the log start past the high watermark (all data
        deleted); keep the invariant log_start <= high watermark <= log end."""
        if self.high_watermark < self.log.log_start_offset:
            self.high_watermark = self.log.log_start_offset
