"""Per-SLO history as tiered ring buffers of cumulative counters (numpy).

Format. For N SLOs the history keeps three cumulative channels per SLO -- error events,
all events and steps with data (``CHANNELS``) -- as float64 sums since the history began.
Each :class:`Tier` is a ring ``(N, slots, 3)`` holding the cumulative values at the
boundaries ``k * resolution_seconds``; boundary ``k`` lives in slot ``k % slots``. The
default layout keeps every step for 6h, 5-minute boundaries for 3 days and hourly ones
for the longest period (at least 35 days), about 50 KB per SLO.

Invariants. Cumulative values never decrease; a boundary that no step reached (before
the first step, or during a gap) holds the value of the last step before it, so a gap
adds nothing. The amount in any window ``(t - W, t]`` is ``cum(t) - cum(t - W)``: two
lookups, whatever ``W`` is, so the cost of a tick does not grow with window length.
``cum(t - W)`` comes from the finest tier that still covers ``W``; between two
boundaries it is interpolated linearly (exact when ``t - W`` falls on a boundary, as it
does for every window that is a multiple of the tier resolution).

Concurrency: not thread-safe; one owner (the engine) calls :meth:`record` in time order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["CHANNELS", "History", "HistoryLayout", "Tier"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
CHANNELS: Final = ("errors", "total", "steps_with_data")
ERRORS, TOTAL, STEPS = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Tier:
    resolution_seconds: int
    slots: int

    @property
    def span_seconds(self) -> int:
        """The longest window this tier answers (two slots of margin for interpolation)."""
        return self.resolution_seconds * (self.slots - 2)


@dataclass(frozen=True, slots=True)
class HistoryLayout:
    step_seconds: int
    tiers: tuple[Tier, ...]

    def __post_init__(self) -> None:
        previous = self.step_seconds
        for tier in self.tiers:
            if tier.resolution_seconds % previous:
                raise ValueError("each tier resolution must be a multiple of the previous one")
            previous = tier.resolution_seconds

    @classmethod
    def default(
        cls, step_seconds: int = 60, longest_window_seconds: int = 35 * 86_400
    ) -> HistoryLayout:
        """Every step for 6h, 5-minute boundaries for 3 days, hourly for the longest window."""
        fine = max(step_seconds, 300 // step_seconds * step_seconds or step_seconds)
        coarse = max(fine, 3600 // fine * fine)
        longest = max(longest_window_seconds, 35 * 86_400) + step_seconds
        return cls(
            step_seconds,
            (
                Tier(step_seconds, 6 * 3600 // step_seconds + 3),
                Tier(fine, 3 * 86_400 // fine + 3),
                Tier(coarse, -(-longest // coarse) + 3),
            ),
        )

    @property
    def longest_window_seconds(self) -> int:
        return self.tiers[-1].span_seconds

    def bytes_per_slo(self) -> int:
        return sum(t.slots for t in self.tiers) * len(CHANNELS) * 8


class History:
    """Cumulative error/total/step counts of N SLOs over time (see module docstring)."""

    def __init__(self, n: int, layout: HistoryLayout) -> None:
        self.layout = layout
        self.n = n
        self.rings = [np.zeros((n, t.slots, len(CHANNELS))) for t in layout.tiers]
        self.cum: F64 = np.zeros((n, len(CHANNELS)))
        self.start: int | None = None
        self.now: int | None = None

    def record(self, t: int, errors: F64, total: F64, has_data: npt.NDArray[np.bool_]) -> None:
        """Add one step's increments at time ``t`` (a multiple of the step, increasing)."""
        step = self.layout.step_seconds
        if t % step:
            raise ValueError(f"time {t} is not a multiple of the step ({step} s)")
        if self.now is not None and t <= self.now:
            raise ValueError(f"time {t} is not after the last step {self.now}")
        if self.start is None:
            self.start = t
        self._carry_to(t - step)  # boundaries in a gap keep the last value
        increments = np.stack(
            [np.where(has_data, errors, 0.0), np.where(has_data, total, 0.0), has_data], axis=1
        )
        self.cum += increments
        self.now = t
        self._write_boundaries(t, t)

    def _carry_to(self, t: int) -> None:
        if self.now is not None and t > self.now:
            self._write_boundaries(self.now + 1, t)

    def _write_boundaries(self, first: int, last: int) -> None:
        """Write ``cum`` to every tier boundary in ``[first, last]``."""
        for tier, ring in zip(self.layout.tiers, self.rings, strict=True):
            res = tier.resolution_seconds
            k_first, k_last = -(-first // res), last // res
            if k_last < k_first:
                continue
            k_first = max(k_first, k_last - tier.slots + 1)
            slots = np.arange(k_first, k_last + 1) % tier.slots
            ring[:, slots, :] = self.cum[:, None, :]

    def at(self, times: I64) -> F64:
        """Cumulative values at ``times`` ((N, K) seconds) -> (N, K, 3).

        Each element is answered by the finest tier covering ``now - time`` (the work is
        one gather per element, whichever tier answers); times before the history began
        give 0, times at or after ``now`` give the current values.
        """
        if self.now is None:
            return np.zeros((*times.shape, len(CHANNELS)))
        now = self.now
        flat_times = times.reshape(-1)
        rows = np.repeat(np.arange(self.n), times.shape[1])
        ages = now - flat_times
        out = self.cum[rows]
        pending = ages > 0
        last = len(self.layout.tiers) - 1
        for k, (tier, ring) in enumerate(zip(self.layout.tiers, self.rings, strict=True)):
            use = pending if k == last else pending & (ages <= tier.span_seconds)
            index = np.flatnonzero(use)
            if index.size:
                out[index] = self._interpolate(tier, ring, rows[index], flat_times[index], now)
                pending[index] = False
        return out.reshape(*times.shape, len(CHANNELS))

    def _interpolate(self, tier: Tier, ring: F64, rows: I64, times: I64, now: int) -> F64:
        res = tier.resolution_seconds
        assert self.start is not None
        # Before the first step everything is zero: anchor the curve at (start - step, 0)
        # so that windows reaching past the beginning count the whole history exactly.
        anchor = self.start - self.layout.step_seconds
        oldest = (now // res - tier.slots + 1) * res
        clamped = np.maximum(np.maximum(times, oldest), anchor)
        k0 = clamped // res
        t0 = np.maximum(k0 * res, anchor)
        t1 = np.minimum(k0 * res + res, now)
        v0: F64 = ring[rows, k0 % tier.slots]
        later = ring[rows, (k0 + 1) % tier.slots]
        v1: F64 = np.where((k0 * res + res <= now)[:, None], later, self.cum[rows])
        weight: F64 = ((clamped - t0) / np.maximum(t1 - t0, 1))[:, None]
        result: F64 = v0 + (v1 - v0) * weight
        return result

    def window_sums(self, window_seconds: I64) -> F64:
        """Sums over ``(now - W, now]`` for each (N, K) window -> (N, K, 3)."""
        if self.now is None:
            return np.zeros((*window_seconds.shape, len(CHANNELS)))
        current = self.cum[:, None, :]
        return current - self.at(self.now - window_seconds)
