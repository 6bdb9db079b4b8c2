"""A partition this node holds a replica of: its log, its role and its high watermark.

The high watermark (HW) is the offset below which data is visible to consumers. As
leader, it is decided by the partition's ``LeaderReplicaState``
(``broker.replication``): the minimum log end offset over the in-sync replicas, the
leader counting its own log end, or its flushed offset under the durable flush policy,
so consumers never see data a power loss or a failover could take back. A single replica
is its own ISR, so its HW is its log end (flushed offset). As follower, it is the
leader's HW as far as this replica has the data (``FollowerReplicaState``).
``high_watermark`` is a plain attribute (read on every fetch), kept in step by the
methods below. Two wake-ups leave it: ``on_high_watermark`` when the HW moves (consumer
fetches wait for that) and ``on_log_end`` after every leader append (follower fetches
wait for that: they copy data before it is committed). Event-loop thread only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from broker.records.batch import BatchHeader
from broker.replication import FollowerReplicaState, LeaderReplicaState, LeaderUpdate
from broker.storage.log import AppendInfo, Log, ReadInfo

__all__ = ["Partition"]


class Partition:
    __slots__ = (
        "_clock_ms",
        "_on_high_watermark",
        "_on_log_end",
        "_on_update",
        "bytes_appended",
        "bytes_fetched",
        "durable",
        "follower",
        "high_watermark",
        "index",
        "key",
        "leader",
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
        clock_ms: Callable[[], int] | None = None,
        on_update: Callable[[Partition, LeaderUpdate], None] | None = None,
        on_log_end: Callable[[tuple[str, int]], None] | None = None,
    ) -> None:
        """``on_high_watermark(key)``: the HW advanced (wake fetches waiting on it).
        ``on_update``: every leader event's result (acks=all waiters to answer).
        ``on_log_end(key)``: the leader appended (wake follower fetches)."""
        self.topic = topic
        self.topic_id = topic_id
        self.index = index
        self.key = (topic, index)
        self.log = log
        self.durable = durable
        self.high_watermark = log.log_end_offset
        self.leader: LeaderReplicaState | None = None
        self.follower: FollowerReplicaState | None = None
        self._clock_ms = clock_ms or (lambda: 0)
        self._on_high_watermark = on_high_watermark
        self._on_update = on_update
        self._on_log_end = on_log_end
        # Plain counters read by the metrics collector at scrape time.
        self.records_appended = 0
        self.bytes_appended = 0
        self.records_fetched = 0
        self.bytes_fetched = 0
        self.retention_deleted_bytes = 0

    # -- role --------------------------------------------------------------------------

    @property
    def leader_epoch(self) -> int:
        if self.leader is not None:
            return self.leader.leader_epoch
        if self.follower is not None:
            return self.follower.leader_epoch
        latest = self.log.epoch_cache.latest_epoch
        return max(latest, 0)

    @property
    def is_leader(self) -> bool:
        return self.leader is not None

    def lead(self, leader: LeaderReplicaState, update: LeaderUpdate | None) -> None:
        self.leader, self.follower = leader, None
        self.high_watermark = leader.high_watermark
        if update is not None:
            self.apply(update)

    def follow(self, follower: FollowerReplicaState) -> None:
        self.leader, self.follower = None, follower
        self.set_follower_high_watermark()

    def stop(self) -> None:
        self.leader = self.follower = None

    def set_follower_high_watermark(self) -> None:
        """After a follower fetch: the HW the leader sent, as far as we have the data."""
        follower = self.follower
        if follower is not None:
            hw = follower.high_watermark(self.log)
            if hw != self.high_watermark:
                self.high_watermark = hw
                self._on_high_watermark(self.key)

    def apply(self, update: LeaderUpdate) -> None:
        """Take a leader event's result: the new HW (waking fetches) and the waiters."""
        if update.high_watermark != self.high_watermark:
            self.high_watermark = update.high_watermark
            self._on_high_watermark(self.key)
        if self._on_update is not None and update.completed:
            self._on_update(self, update)

    # -- data --------------------------------------------------------------------------

    def append(self, batch: bytes | memoryview, header: BatchHeader) -> AppendInfo:
        """Append as leader (the caller checked leadership), stamping the leader epoch."""
        info = self.log.append(batch, header, self.leader_epoch)
        if not info.duplicate:
            self.records_appended += info.records
            self.bytes_appended += info.size_bytes
            leader = self.leader
            if leader is not None:
                self.apply(leader.on_leader_append(self.log.log_end_offset, self._clock_ms()))
                if self._on_log_end is not None:
                    self._on_log_end(self.key)
            elif not self.durable:
                self.advance_high_watermark(info.last_offset + 1)
        return info

    def on_flushed(self, offset: int) -> None:
        """The log is durable up to ``offset`` (the durable flush policy's round)."""
        leader = self.leader
        if leader is not None:
            self.apply(leader.on_leader_flushed(offset, self._clock_ms()))
        elif self.follower is None:
            self.advance_high_watermark(offset)

    def advance_high_watermark(self, offset: int) -> None:
        """For a log with no replication role (a private internal log)."""
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
