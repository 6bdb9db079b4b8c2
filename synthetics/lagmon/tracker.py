"""Lag per group and partition from what an external client can read, judged with the
broker's own status logic (``contracts.lag.status``). Pure: readings and times in, lag out.

A reading is what one poll saw for a partition: the group's committed offset, the high
watermark, the log start offset and the timestamp of the first unconsumed record (the
record at the committed offset, or at the log start when retention already deleted it;
read by fetching that one record, so the lag in seconds is exact, not interpolated).

- lag in records: high watermark - committed offset, never negative;
- lag in seconds: now - that timestamp when the lag is positive, else 0; never negative;
- retention headroom: that timestamp + the topic's ``retention.ms`` - now. This is a
  lower bound: Kafka deletes a segment when its *newest* record is older than
  ``retention.ms``, and a client cannot see segment boundaries (the broker's own metric
  is exact). Absent when caught up or when the topic keeps data forever;
- status: ``contracts.lag.status.evaluate`` over a window of commit samples.

Commit samples: Kafka's OffsetFetch does not say when an offset was committed, so a
sample is recorded when a poll sees the committed offset change (and at the first poll),
stamped with the poll time. Consequences, documented for users: a consumer that keeps
committing the same offset looks the same as one that stopped committing, so STALL
shows as STOP; and a group is judged STOP only after it has been watched for
``min_stop_seconds``.

Memory: samples are kept for the partitions of the last poll only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from contracts.lag.model import GroupLag, PartitionLag, lag_figures
from contracts.lag.status import CommitSample, StatusConfig, evaluate, worst

__all__ = ["GroupLag", "GroupReading", "LagBook", "PartitionLag", "PartitionReading"]


@dataclass(frozen=True, slots=True)
class PartitionReading:
    topic: str
    partition: int
    committed_offset: int
    high_watermark: int
    log_start_offset: int
    first_unconsumed_timestamp_ms: int | None = None  # None: caught up, or unknown
    retention_ms: int | None = None  # None: unknown; -1: keep forever


@dataclass(frozen=True, slots=True)
class GroupReading:
    group_id: str
    coordinator: int
    state: str = ""
    members: int = 0
    partitions: tuple[PartitionReading, ...] = ()


class LagBook:
    """Commit samples per group and partition across polls, and the lag they give."""

    def __init__(self, config: StatusConfig | None = None) -> None:
        self.config = config or StatusConfig()
        self._samples: dict[tuple[str, str, int], deque[CommitSample]] = {}

    def update(self, readings: Sequence[GroupReading], now_ms: int) -> list[GroupLag]:
        seen: set[tuple[str, str, int]] = set()
        groups = []
        for g in sorted(readings, key=lambda r: r.group_id):
            partitions = []
            for r in sorted(g.partitions, key=lambda r: (r.topic, r.partition)):
                key = (g.group_id, r.topic, r.partition)
                seen.add(key)
                window = self._samples.get(key)
                if window is None:
                    window = self._samples[key] = deque(maxlen=self.config.window)
                if not window or window[-1].offset != r.committed_offset:
                    window.append(CommitSample(now_ms, r.committed_offset, r.high_watermark))
                partitions.append(self._lag(r, window, now_ms))
            groups.append(
                GroupLag(
                    g.group_id,
                    g.state,
                    g.members,
                    worst(p.status for p in partitions),
                    tuple(partitions),
                    coordinator=g.coordinator,
                )
            )
        for key in [k for k in self._samples if k not in seen]:
            del self._samples[key]
        return groups

    def _lag(
        self, r: PartitionReading, window: Sequence[CommitSample], now_ms: int
    ) -> PartitionLag:
        oldest = r.first_unconsumed_timestamp_ms if r.high_watermark > r.committed_offset else None
        lag, lag_seconds = lag_figures(r.committed_offset, r.high_watermark, oldest, now_ms)
        headroom = None
        if oldest is not None and r.retention_ms is not None and r.retention_ms >= 0:
            headroom = max(0.0, (oldest + r.retention_ms - now_ms) / 1000)
        status = evaluate(window, now_ms, r.high_watermark, oldest, self.config)
        return PartitionLag(
            r.topic,
            r.partition,
            r.committed_offset,
            r.high_watermark,
            r.log_start_offset,
            lag,
            lag_seconds,
            headroom,
            status,
        )
