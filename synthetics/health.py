"""A target's health for the status endpoint: ``ok``, ``degraded``, ``down`` or
``starting``, with one sentence per problem. Pure: times and counts are passed in.

- ``starting``: the probe has not reached the cluster yet (no metadata so far);
- ``down``: metadata unavailable, or every produce attempt resolved in the recent
  window (a few intervals) failed;
- ``degraded``: some produce attempts failed recently; acknowledged records overdue;
  anomalies (lost, corrupted, duplicated, reordered, late) in the anomaly window
  (5 minutes by default); brokers failing their connection check; brokers leading no
  probe partition (coverage gap);
- ``ok`` otherwise.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["ANOMALIES", "Health", "HealthInputs", "RecentEvents", "assess"]

ANOMALIES = ("lost", "corrupted", "duplicated", "reordered", "late")


class RecentEvents:
    """How many events of each kind happened in the last ``window_seconds``.

    Times are monotonic seconds passed by the caller; memory is bounded by ``limit``
    entries (the oldest are dropped first)."""

    def __init__(self, window_seconds: float, limit: int = 100_000) -> None:
        self.window_seconds = window_seconds
        self._events: deque[tuple[float, str, int]] = deque(maxlen=limit)

    def add(self, kind: str, at: float, count: int = 1) -> None:
        if count > 0:
            self._events.append((at, kind, count))

    def counts(self, now: float) -> dict[str, int]:
        horizon = now - self.window_seconds
        while self._events and self._events[0][0] < horizon:
            self._events.popleft()
        out: dict[str, int] = {}
        for _, kind, count in self._events:
            out[kind] = out.get(kind, 0) + count
        return out


@dataclass(frozen=True, slots=True)
class HealthInputs:
    started: bool
    up: bool
    last_error: str | None = None
    produce_ok: int = 0  # resolved in the recent window
    produce_failed: int = 0
    overdue_partitions: tuple[int, ...] = ()
    uncovered_brokers: tuple[int, ...] = ()
    failing_brokers: tuple[int, ...] = ()
    anomalies: Mapping[str, int] = field(default_factory=dict)  # in the anomaly window
    anomaly_window_seconds: float = 300.0


@dataclass(frozen=True, slots=True)
class Health:
    state: str
    reasons: tuple[str, ...] = ()


def _ids(ids: tuple[int, ...]) -> str:
    return ", ".join(str(i) for i in ids)


def assess(h: HealthInputs) -> Health:
    if not h.started:
        return Health("starting", (f"not connected yet: {h.last_error or 'connecting'}",))
    down = []
    if not h.up:
        down.append(f"cluster metadata unavailable: {h.last_error or 'no answer'}")
    if h.produce_failed and not h.produce_ok:
        down.append(f"every recent produce failed ({h.produce_failed} attempts)")
    if down:
        return Health("down", tuple(down))
    degraded = []
    if h.produce_failed:
        total = h.produce_failed + h.produce_ok
        degraded.append(f"{h.produce_failed} of {total} recent produce attempts failed")
    if h.overdue_partitions:
        degraded.append(
            f"acknowledged records unread past the end-to-end SLA on partitions "
            f"{_ids(h.overdue_partitions)}"
        )
    minutes = h.anomaly_window_seconds / 60
    for kind in ANOMALIES:
        count = h.anomalies.get(kind, 0)
        if count:
            degraded.append(f"{count} records {kind} in the last {minutes:g} min")
    if h.failing_brokers:
        degraded.append(f"brokers failing the connection check: {_ids(h.failing_brokers)}")
    if h.uncovered_brokers:
        degraded.append(
            f"brokers leading no probe partition (not measured): {_ids(h.uncovered_brokers)}"
        )
    return Health("degraded" if degraded else "ok", tuple(degraded))
