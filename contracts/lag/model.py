"""Lag figures per group and partition: one shape for the broker, which measures from
its own log, and for the external lag monitor, which measures through a client. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts.lag.status import PartitionStatus

__all__ = ["GroupLag", "PartitionLag", "lag_figures"]


@dataclass(frozen=True, slots=True)
class PartitionLag:
    topic: str
    partition: int
    committed_offset: int
    high_watermark: int
    log_start_offset: int
    lag_records: int
    lag_seconds: float
    retention_headroom_seconds: float | None
    status: PartitionStatus
    member_id: str = ""
    client_id: str = ""
    client_host: str = ""


@dataclass(frozen=True, slots=True)
class GroupLag:
    group_id: str
    state: str
    members: int
    status: PartitionStatus
    partitions: tuple[PartitionLag, ...] = field(default=())
    rebalances_total: int = 0
    # Node id of the group's coordinator (the external monitor's ``broker`` label).
    coordinator: int = -1

    @property
    def lag_records(self) -> int:
        return sum(p.lag_records for p in self.partitions)

    @property
    def max_lag_seconds(self) -> float:
        return max((p.lag_seconds for p in self.partitions), default=0.0)


def lag_figures(
    committed_offset: int, high_watermark: int, oldest_unconsumed_ms: int | None, now_ms: int
) -> tuple[int, float]:
    """(lag in records, lag in seconds): never negative, and 0 seconds when caught up or
    when the first unconsumed record's timestamp is unknown or in the future."""
    lag = max(0, high_watermark - committed_offset)
    if lag == 0 or oldest_unconsumed_ms is None:
        return lag, 0.0
    return lag, max(0.0, (now_ms - oldest_unconsumed_ms) / 1000)
