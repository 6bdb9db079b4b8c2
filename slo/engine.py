"""In-process SLO evaluation, vectorized over all SLOs with numpy.

The engine owns a :class:`~slo.history.History` and the per-SLO constants (windows,
alert conditions, budgets) as arrays. Each tick the caller :meth:`Engine.record`s one
step of increments (from :mod:`slo.sampling`) and :meth:`Engine.evaluate` returns an
:class:`Evaluation`: error ratios and burn rates for every window, the event-weighted
budget remaining over the period, page/ticket alert state with the conditions that fired,
time to exhaustion and no-data state. The cost of a tick is a fixed number of array
operations over (SLOs x windows): it does not depend on window length.

Window semantics match Prometheus 2.x: a window ``W`` at time ``t`` covers the increase
between the steps at ``t - W`` and ``t``; time-slice SLIs count the samples in
``[t - W, t]`` like ``avg_over_time``. Alert thresholds are the same float products
(``factor * (1 - objective)``) that the generated rules compare against.
The engine has no clock: callers pass times (seconds since the epoch, multiples of the
step).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from contracts.durations import parse_whole_seconds
from slo.conventions import EXHAUSTION_WINDOW, SEVERITY_PAGE
from slo.history import ERRORS, STEPS, TOTAL, History, HistoryLayout
from slo.model import SLO, CalendarWindow, Timeslices
from slo.windows import evaluated_windows

__all__ = ["Engine", "Evaluation", "calendar_period_start"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]
_EXHAUSTION_SECONDS: Final = parse_whole_seconds(EXHAUSTION_WINDOW)


def calendar_period_start(t: int, window: CalendarWindow) -> int:
    """Start (epoch seconds) of the calendar week (Monday) or month containing ``t``."""
    local = datetime.fromtimestamp(t, ZoneInfo(window.timezone))
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if window.unit == "week":
        start -= timedelta(days=start.weekday())
    else:
        start = start.replace(day=1)
    return int(start.timestamp())


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One tick's results for N SLOs; (N, K) arrays have one column per window.

    Column ``K - 1`` is the period. Ratios are NaN where a window had no events.
    """

    time: int
    window_seconds: I64
    errors: F64
    total: F64
    coverage: F64
    error_ratio: F64
    burn_rate: F64
    budget_remaining: F64
    condition_firing: B
    page: B
    ticket: B
    time_to_exhaustion_seconds: F64
    no_data: B

    @property
    def period_error_ratio(self) -> F64:
        return self.error_ratio[:, -1]

    @property
    def period_burn_rate(self) -> F64:
        return self.burn_rate[:, -1]


class Engine:
    """Evaluates N SLOs from one shared history (see module docstring)."""

    def __init__(
        self, slos: Sequence[SLO], step_seconds: int = 60, layout: HistoryLayout | None = None
    ) -> None:
        self.slos = list(slos)
        n = len(self.slos)
        longest = max((_longest_period(s) for s in self.slos), default=35 * 86_400)
        self.layout = layout or HistoryLayout.default(step_seconds, longest)
        self.step_seconds = self.layout.step_seconds
        if self.layout.longest_window_seconds < longest:
            raise ValueError("the history layout is shorter than the longest SLO period")
        self.history = History(n, self.layout)
        per_slo = [evaluated_windows(s) for s in self.slos]
        k = max((len(w) for w in per_slo), default=0) + 1
        self.windows: I64 = np.zeros((n, k), dtype=np.int64)
        for i, (slo, windows) in enumerate(zip(self.slos, per_slo, strict=True)):
            padded = windows + [slo.period_seconds] * (k - len(windows))
            self.windows[i] = padded
        # Time-slice SLIs count samples at both ends of a window, as avg_over_time does.
        slices = np.array([isinstance(s.budgeting, Timeslices) for s in self.slos], dtype=bool)
        self.extension: I64 = np.where(slices, self.step_seconds, 0).astype(np.int64)[:, None]
        self.budget: F64 = np.array([s.error_budget_ratio for s in self.slos], dtype=np.float64)
        self._build_conditions(per_slo)
        self._calendar = {
            i: s.window for i, s in enumerate(self.slos) if isinstance(s.window, CalendarWindow)
        }
        self.period_seconds: F64 = np.array([s.period_seconds for s in self.slos], dtype=float)
        self.no_data_seconds: F64 = np.array(
            [s.alerting.no_data_seconds or math.inf for s in self.slos], dtype=float
        )
        self.last_data: F64 = np.full(n, np.nan)

    def _build_conditions(self, per_slo: list[list[int]]) -> None:
        n = len(self.slos)
        c = max((len(s.alerting.conditions) for s in self.slos), default=0)
        self.cond_long: I64 = np.zeros((n, c), dtype=np.int64)
        self.cond_short: I64 = np.zeros((n, c), dtype=np.int64)
        self.cond_threshold: F64 = np.full((n, c), np.inf)
        self.cond_page: B = np.zeros((n, c), dtype=bool)
        self.cond_enabled: B = np.zeros((n, c), dtype=bool)
        self.exhaustion_col: I64 = np.zeros(n, dtype=np.int64)
        for i, slo in enumerate(self.slos):
            columns = {w: j for j, w in enumerate(per_slo[i])}
            self.exhaustion_col[i] = columns[_EXHAUSTION_SECONDS]
            for j, cond in enumerate(slo.alerting.conditions):
                self.cond_long[i, j] = columns[cond.long_seconds]
                self.cond_short[i, j] = columns[cond.short_seconds]
                # Same float product as the rule's "(factor * budget)".
                self.cond_threshold[i, j] = cond.factor * slo.error_budget_ratio
                self.cond_page[i, j] = cond.severity == SEVERITY_PAGE
                self.cond_enabled[i, j] = slo.alerting.notification(cond.severity).enabled

    @property
    def now(self) -> int | None:
        return self.history.now

    def record(self, t: int, errors: F64, total: F64, has_data: B) -> None:
        """One step of increments (N,) at time ``t``; steps without data are gaps."""
        self.history.record(t, errors, total, has_data)
        self.last_data[has_data] = t

    def _window_lengths(self, t: int) -> I64:
        windows = self.windows.copy()
        for i, window in self._calendar.items():
            windows[i, -1] = max(t - calendar_period_start(t, window), self.step_seconds)
        return windows

    def evaluate(self) -> Evaluation:
        """Evaluate every SLO at the last recorded step, from the history."""
        t = self.history.now
        if t is None:
            raise RuntimeError("nothing recorded yet")
        windows = self._window_lengths(t)
        sums = self.history.window_sums(windows + self.extension)
        assert self.history.start is not None
        history_seconds = t - self.history.start + self.step_seconds
        return self.evaluate_sums(t, windows, sums, history_seconds)

    def window_lengths(self, t: int) -> I64:
        """(N, K) window lengths at ``t`` (calendar periods depend on the date)."""
        return self._window_lengths(t)

    def evaluate_sums(
        self, t: int, windows: I64, sums: F64, history_seconds: float = math.inf
    ) -> Evaluation:
        """Evaluate from window sums ``(N, K, 3)`` computed elsewhere (e.g. by Prometheus)."""
        errors, total, steps = sums[..., ERRORS], sums[..., TOTAL], sums[..., STEPS]
        with np.errstate(divide="ignore", invalid="ignore"):
            # Divide both sums by the window first, as rate() does, so that the ratio is the
            # same float Prometheus computes for the generated rules.
            seconds = (windows + self.extension).astype(np.float64)
            ratio = np.where(total > 0, (errors / seconds) / (total / seconds), np.nan)
            burn = ratio / self.budget[:, None]
            elapsed = np.minimum(windows + self.extension, history_seconds)
            coverage = np.clip(steps / (elapsed / self.step_seconds), 0.0, 1.0)
        rows = np.arange(len(self.slos))[:, None]
        short = ratio[rows, self.cond_short]
        long_ = ratio[rows, self.cond_long]
        firing = (short > self.cond_threshold) & (long_ > self.cond_threshold) & self.cond_enabled
        page: B = np.asarray((firing & self.cond_page).any(axis=1))
        ticket: B = np.asarray((firing & ~self.cond_page).any(axis=1))
        period_ratio = ratio[:, -1]
        remaining = np.where(total[:, -1] > 0, 1 - period_ratio / self.budget, 1.0)
        exhaustion = _time_to_exhaustion(
            burn[np.arange(len(self.slos)), self.exhaustion_col], remaining, self.period_seconds
        )
        first = float(self.history.start if self.history.start is not None else t)
        since = np.where(np.isnan(self.last_data), first - self.step_seconds, self.last_data)
        no_data = (t - since) >= self.no_data_seconds
        return Evaluation(
            time=t,
            window_seconds=windows,
            errors=errors,
            total=total,
            coverage=coverage,
            error_ratio=ratio,
            burn_rate=burn,
            budget_remaining=remaining,
            condition_firing=firing,
            page=page,
            ticket=ticket,
            time_to_exhaustion_seconds=exhaustion,
            no_data=no_data,
        )


def _time_to_exhaustion(burn: F64, remaining: F64, period: F64) -> F64:
    with np.errstate(divide="ignore", invalid="ignore"):
        ttl = np.where(burn > 0, remaining * period / burn, np.inf)
    return np.where(remaining <= 0, 0.0, np.nan_to_num(ttl, nan=np.inf))


def _longest_period(slo: SLO) -> int:
    if isinstance(slo.window, CalendarWindow):
        return 31 * 86_400 if slo.window.unit == "month" else 7 * 86_400
    return slo.period_seconds
