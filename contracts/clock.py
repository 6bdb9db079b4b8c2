"""The one clock, injected wherever time matters so that tests drive time by hand.

Two kinds of time, never mixed:

- wall-clock time since the epoch, for timestamps that leave the process: record
  timestamps and retention in milliseconds (:meth:`Clock.time_ms`, Kafka's unit),
  probe send times in nanoseconds (:meth:`Clock.time_ns`, because end-to-end latencies
  on one machine are a few milliseconds). ``time_ms()`` is always
  ``time_ns() // 1_000_000`` of the same instant;
- monotonic seconds from an arbitrary origin (:meth:`Clock.monotonic`), for durations,
  timeouts and schedules, which must not jump when the wall clock is set.

Both units of wall-clock time are in the protocol because both are read on hot paths
(every produced batch, every probe record); deriving one from the other at each call
site would spread the conversion over the tree.
"""

from __future__ import annotations

import time
from typing import Final, Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]

_NS_PER_MS: Final = 1_000_000
_NS_PER_SECOND: Final = 1_000_000_000


class Clock(Protocol):
    def time_ns(self) -> int:
        """Wall-clock nanoseconds since the epoch."""
        ...

    def time_ms(self) -> int:
        """Wall-clock milliseconds since the epoch (``time_ns() // 1_000_000``)."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, for durations and timeouts."""
        ...


class SystemClock:
    """The machine's clocks."""

    def time_ns(self) -> int:
        return time.time_ns()

    def time_ms(self) -> int:
        return time.time_ns() // _NS_PER_MS

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to; both kinds of time move together.

    Starts at ``time_ns`` on the wall clock (November 2023 by default) and at 0.0 on
    the monotonic clock.
    """

    def __init__(self, time_ns: int = 1_700_000_000 * _NS_PER_SECOND) -> None:
        self._ns = time_ns
        self._monotonic = 0.0

    def time_ns(self) -> int:
        return self._ns

    def time_ms(self) -> int:
        return self._ns // _NS_PER_MS

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        """Move both clocks forward by ``seconds`` (not backwards: time is monotonic)."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back ({seconds} s)")
        self._ns += round(seconds * _NS_PER_SECOND)
        self._monotonic += seconds
