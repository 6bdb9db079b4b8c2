"""Burrow-style consumer status per partition, evaluated over a window of commits.

Statuses, from best to worst: OK, WARN (falling behind), REWIND (the committed offset
moved backwards), STALL (committing, but the offset does not move while records
wait), STOP (no commits while records wait). A group's status is its worst partition's.

Rules, applied in this order to the last ``window`` commits of a partition:

1. no commit yet: OK ("no commits yet");
2. any commit offset lower than the one before it: REWIND;
3. nothing to consume now (lag 0): OK;
4. STOP when the consumer has been silent longer than the window's span (at least
   ``min_stop_seconds``) *and* the oldest unconsumed record has waited that long too.
   The second condition is what Burrow lacks: on a slow topic a consumer that is idle
   because nothing arrived is not stopped just because its last commit is old;
5. lag 0 at any commit in the window: OK (it keeps up, with bursts);
6. STALL when every commit in the window (at least two) has the same offset;
7. WARN when offsets advance but the lag grows at every commit;
8. otherwise OK.

Every result carries a sentence saying why, for status pages and alerts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from itertools import pairwise

__all__ = ["CommitSample", "LagStatus", "PartitionStatus", "StatusConfig", "evaluate", "worst"]


class LagStatus(IntEnum):
    OK = 0
    WARN = 1
    REWIND = 2
    STALL = 3
    STOP = 4


@dataclass(frozen=True, slots=True)
class CommitSample:
    """One commit: when, which offset, and the partition's high watermark then."""

    time_ms: int
    offset: int
    high_watermark: int

    @property
    def lag(self) -> int:
        return max(0, self.high_watermark - self.offset)


@dataclass(frozen=True, slots=True)
class StatusConfig:
    window: int = 10
    min_stop_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class PartitionStatus:
    status: LagStatus
    reason: str


def _seconds(ms: float) -> str:
    return f"{ms / 1000:.0f} s" if ms >= 10_000 else f"{ms / 1000:.1f} s"


def evaluate(
    samples: Sequence[CommitSample],
    now_ms: int,
    high_watermark: int,
    oldest_unconsumed_ms: int | None,
    config: StatusConfig = StatusConfig(),
) -> PartitionStatus:
    """Status of one partition. ``oldest_unconsumed_ms`` is the timestamp of the record
    at the committed offset (None when there is none)."""
    window = list(samples)[-config.window :]
    if not window:
        return PartitionStatus(LagStatus.OK, "no commits yet")
    last = window[-1]
    for before, after in pairwise(window):
        if after.offset < before.offset:
            return PartitionStatus(
                LagStatus.REWIND,
                f"committed offset moved back from {before.offset} to {after.offset}",
            )
    lag = max(0, high_watermark - last.offset)
    if lag == 0:
        return PartitionStatus(LagStatus.OK, "caught up (lag 0)")
    silence_ms = now_ms - last.time_ms
    span_ms = max(last.time_ms - window[0].time_ms, config.min_stop_seconds * 1000)
    waited_ms = now_ms - oldest_unconsumed_ms if oldest_unconsumed_ms is not None else silence_ms
    if silence_ms > span_ms and waited_ms > span_ms:
        return PartitionStatus(
            LagStatus.STOP,
            f"no commit for {_seconds(silence_ms)} while the oldest unconsumed record has "
            f"waited {_seconds(waited_ms)} (lag {lag} records)",
        )
    if any(s.lag == 0 for s in window):
        return PartitionStatus(
            LagStatus.OK, f"consuming: lag {lag} records, caught up within the window"
        )
    if len(window) >= 2 and all(s.offset == last.offset for s in window):
        return PartitionStatus(
            LagStatus.STALL,
            f"committed offset stuck at {last.offset} over the last {len(window)} commits "
            f"({_seconds(last.time_ms - window[0].time_ms)}) with lag {lag} records",
        )
    if (
        len(window) >= 2
        and last.offset > window[0].offset
        and all(b.lag >= a.lag for a, b in pairwise(window))
        and last.lag > window[0].lag
    ):
        return PartitionStatus(
            LagStatus.WARN,
            f"falling behind: lag grew from {window[0].lag} to {last.lag} records over the "
            f"last {len(window)} commits",
        )
    return PartitionStatus(LagStatus.OK, f"consuming: lag {lag} records")


def worst(statuses: Iterable[PartitionStatus]) -> PartitionStatus:
    """The most severe status (OK with 'no partitions' when there is none)."""
    items = list(statuses)
    if not items:
        return PartitionStatus(LagStatus.OK, "no partitions with commits")
    return max(items, key=lambda s: s.status)
