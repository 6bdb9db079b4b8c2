"""The open-loop arrival schedule: when each message is *meant* to be sent.

A schedule is a sequence of :class:`Phase` s, each a rate that changes linearly from
``rate_from`` to ``rate_to`` messages per second over ``duration_seconds`` (a constant
rate, or a ramp). The expected number of arrivals by time ``t`` is the integral of the
rate, ``N(t)``; arrival ``i`` (0-based) is scheduled at the time ``N(t) = i``. The times
are fixed in advance and do not depend on how fast the target answers: a generator that
falls behind sends late but keeps the schedule, and latency is measured from the
scheduled time, so a stalled broker shows up as latency instead of as fewer samples
(coordinated omission, in Gil Tene's words).

Workers split the schedule round robin: worker ``k`` of ``n`` sends arrivals
``k, k + n, k + 2n, ...``; together they send exactly the whole schedule.

Pure and vectorized (numpy); times are seconds from the start of the run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["ArrivalSchedule", "Phase"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Phase:
    """A stretch of the schedule whose rate moves linearly (messages per second)."""

    duration_seconds: float
    rate_from: float
    rate_to: float

    def __post_init__(self) -> None:
        if not self.duration_seconds > 0:
            raise ValueError("a phase must last longer than zero seconds")
        if self.rate_from < 0 or self.rate_to < 0:
            raise ValueError("rates must not be negative")

    @property
    def arrivals(self) -> float:
        """Expected arrivals in the phase (the area under the rate)."""
        return (self.rate_from + self.rate_to) / 2 * self.duration_seconds

    @property
    def slope(self) -> float:
        return (self.rate_to - self.rate_from) / self.duration_seconds


class ArrivalSchedule:
    """Scheduled send times of a whole run (see module docstring)."""

    def __init__(self, phases: Sequence[Phase]) -> None:
        if not phases:
            raise ValueError("a schedule needs at least one phase")
        self.phases = tuple(phases)
        starts = [0.0]
        counts = [0.0]
        for phase in self.phases:
            starts.append(starts[-1] + phase.duration_seconds)
            counts.append(counts[-1] + phase.arrivals)
        self._starts: F64 = np.array(starts)
        self._counts: F64 = np.array(counts)
        # Arrivals i = 0, 1, ... while N(t_i) = i falls before the end of the schedule.
        self.total = max(0, math.ceil(counts[-1] - 1e-9))

    @property
    def duration_seconds(self) -> float:
        return float(self._starts[-1])

    def rate_at(self, t: float) -> float:
        """Target rate (messages per second) at ``t`` seconds into the run."""
        if t < 0 or t >= self.duration_seconds:
            return 0.0
        j = int(np.searchsorted(self._starts, t, side="right")) - 1
        phase = self.phases[j]
        return phase.rate_from + phase.slope * (t - float(self._starts[j]))

    def expected_by(self, t: float | F64) -> F64:
        """``N(t)``: arrivals expected by ``t`` (vectorized)."""
        times = np.clip(np.asarray(t, dtype=np.float64), 0.0, self.duration_seconds)
        j = np.clip(np.searchsorted(self._starts, times, side="right") - 1, 0, len(self.phases) - 1)
        r0 = np.array([p.rate_from for p in self.phases])[j]
        slope = np.array([p.slope for p in self.phases])[j]
        u = times - self._starts[j]
        return np.asarray(self._counts[j] + r0 * u + slope * u * u / 2, dtype=np.float64)

    def times(self, indices: npt.ArrayLike) -> F64:
        """Scheduled time (seconds from the start) of each arrival index."""
        i = np.asarray(indices, dtype=np.float64)
        if i.size and (i.min() < 0 or i.max() >= self.total):
            raise IndexError(f"arrival index outside 0..{self.total - 1}")
        j = np.clip(np.searchsorted(self._counts, i, side="right") - 1, 0, len(self.phases) - 1)
        r0 = np.array([p.rate_from for p in self.phases])[j]
        slope = np.array([p.slope for p in self.phases])[j]
        k = i - self._counts[j]
        # Solve r0*u + slope*u^2/2 = k for u; this form is stable for any sign of slope
        # and exact for slope 0 (u = k / r0).
        root = np.sqrt(np.maximum(r0 * r0 + 2 * slope * k, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.where(k > 0, 2 * k / (r0 + root), 0.0)
        return np.asarray(self._starts[j] + u, dtype=np.float64)

    def worker_indices(self, worker: int, workers: int, first: int, count: int) -> I64:
        """The next ``count`` arrival indices of ``worker`` (of ``workers``), starting
        with its ``first``-th own arrival; fewer at the end of the schedule."""
        if not 0 <= worker < workers:
            raise ValueError("worker must be in 0..workers-1")
        start = worker + first * workers
        stop = min(self.total, start + count * workers)
        return np.arange(start, stop, workers, dtype=np.int64)

    def worker_total(self, worker: int, workers: int) -> int:
        """How many arrivals ``worker`` sends over the whole run."""
        if worker >= self.total:
            return 0
        return (self.total - 1 - worker) // workers + 1
