"""Exact consumer lag per group and partition, from committed offsets and the stored
timestamps of the records they point at.

- lag in records: high watermark - committed offset (never negative);
- lag in seconds: now - timestamp of the first unconsumed record (the record at the
  committed offset, or at the log start if retention already deleted it); zero when
  caught up; never NaN or negative (a record stamped in the future counts as 0);
- retention headroom: seconds until retention.ms deletes the segment holding the first
  unconsumed record (absent when caught up or when the topic keeps data forever);
- status: contracts.lag.status over a window of commits fed by the coordinator.

Timestamps are read from the log once per committed offset and cached.
"""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import replace

from broker.cluster.replica_manager import ReplicaManager
from broker.coordinator.assignment import decode_assignment
from broker.coordinator.coordinator import GroupCoordinator
from broker.coordinator.group import CommittedOffset, ConsumerGroup
from contracts.clock import Clock
from contracts.lag.model import GroupLag, PartitionLag, lag_figures
from contracts.lag.status import CommitSample, StatusConfig, evaluate, worst

__all__ = ["GroupLag", "LagTracker", "PartitionLag"]

_CACHE_LIMIT = 100_000


class LagTracker:
    def __init__(
        self,
        coordinator: GroupCoordinator,
        replicas: ReplicaManager,
        clock: Clock,
        config: StatusConfig | None = None,
    ) -> None:
        self.coordinator = coordinator
        self.replicas = replicas
        self.clock = clock
        self.config = config or StatusConfig()
        self._samples: dict[tuple[str, str, int], deque[CommitSample]] = {}
        self._timestamps: dict[tuple[uuid.UUID, int, int], int | None] = {}
        coordinator.on_commit.append(self.observe)
        coordinator.on_delete.append(self.forget)
        coordinator.on_unload.append(self.forget)

    def observe(self, group: str, topic: str, partition: int, committed: CommittedOffset) -> None:
        p = self.replicas.get(topic, partition)
        hw = p.high_watermark if p is not None else committed.offset
        when = (
            committed.commit_timestamp_ms
            if committed.commit_timestamp_ms >= 0
            else self.clock.time_ms()
        )
        window = self._samples.get((group, topic, partition))
        if window is None:
            window = self._samples[(group, topic, partition)] = deque(maxlen=self.config.window)
        window.append(CommitSample(when, committed.offset, hw))

    def _timestamp(self, topic: str, partition: int, offset: int) -> int | None:
        p = self.replicas.get(topic, partition)
        if p is None:
            return None
        # Keyed by topic id: a topic deleted and created again reuses its offsets.
        key = (p.topic_id, partition, offset)
        if key in self._timestamps:
            return self._timestamps[key]
        ts = p.log.record_timestamp(offset)
        if len(self._timestamps) >= _CACHE_LIMIT:
            self._timestamps.clear()
        self._timestamps[key] = ts
        return ts

    def _owners(self, group: ConsumerGroup) -> dict[tuple[str, int], tuple[str, str, str]]:
        owners: dict[tuple[str, int], tuple[str, str, str]] = {}
        if group.protocol_type != "consumer":
            return owners
        for member in group.members.values():
            for topic, partitions in decode_assignment(member.assignment).items():
                for partition in partitions:
                    owners[(topic, partition)] = (
                        member.member_id,
                        member.client_id,
                        member.client_host,
                    )
        return owners

    def partition_lag(
        self, group_id: str, topic: str, partition: int, committed: CommittedOffset, now_ms: int
    ) -> PartitionLag | None:
        p = self.replicas.get(topic, partition)
        if p is None:
            return None
        hw = p.high_watermark
        start = p.log_start_offset
        oldest_ms: int | None = None
        headroom: float | None = None
        if hw > committed.offset:
            first = max(committed.offset, start)
            oldest_ms = self._timestamp(topic, partition, first)
            retention_ms = p.log.config.retention_ms
            segment_ts = p.log.segment_max_timestamp(first)
            if retention_ms >= 0 and segment_ts is not None and segment_ts >= 0:
                headroom = max(0.0, (segment_ts + retention_ms - now_ms) / 1000)
        lag, lag_seconds = lag_figures(committed.offset, hw, oldest_ms, now_ms)
        status = evaluate(
            self._samples.get((group_id, topic, partition), ()), now_ms, hw, oldest_ms, self.config
        )
        return PartitionLag(
            topic, partition, committed.offset, hw, start, lag, lag_seconds, headroom, status
        )

    def snapshot(self) -> list[GroupLag]:
        """Lag of every group with committed offsets or members, sorted by group id."""
        now = self.clock.time_ms()
        out = []
        for group in self.coordinator.listed():
            owners = self._owners(group)
            partitions = []
            for (topic, partition), committed in sorted(group.offsets.items()):
                lag = self.partition_lag(group.group_id, topic, partition, committed, now)
                if lag is None:
                    continue
                owner = owners.get((topic, partition))
                if owner is not None:
                    lag = replace(lag, member_id=owner[0], client_id=owner[1], client_host=owner[2])
                partitions.append(lag)
            out.append(
                GroupLag(
                    group.group_id,
                    group.state.value,
                    len(group.members),
                    worst(p.status for p in partitions),
                    tuple(partitions),
                    rebalances_total=group.rebalances_total,
                )
            )
        return out

    def forget(self, group_id: str) -> None:
        """Drop a deleted or unloaded group's commit history: a new group of the same
        name starts afresh instead of being judged (REWIND, STALL) on the old one's
        commits, and a group coordinated elsewhere is reported by its new coordinator."""
        for key in [k for k in self._samples if k[0] == group_id]:
            del self._samples[key]
