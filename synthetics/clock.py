"""Clocks for the probe and the lag monitor, injected so tests can drive time by hand.

Wall-clock time is in nanoseconds because probe records carry their send time and
end-to-end latencies on one machine are a few milliseconds.
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    def time_ns(self) -> int:
        """Wall-clock nanoseconds since the epoch (record send times, lag in seconds)."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, for durations and schedules."""
        ...


class SystemClock:
    def time_ns(self) -> int:
        return time.time_ns()

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, time_ns: int = 1_700_000_000_000_000_000) -> None:
        self._ns = time_ns
        self._mono = 0.0

    def time_ns(self) -> int:
        return self._ns

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._ns += int(seconds * 1_000_000_000)
        self._mono += seconds
