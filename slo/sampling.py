"""Turn what a source reads each step into per-step increments for the engine.

A source answers :class:`Query` objects (a selector summed or aggregated, or a PromQL
expression); the :class:`Sampler` turns the answers into, per SLO, the step's error
events, all events and whether the step had data:

- counters (event ratio, latency, probe, simple Sloth queries read locally): the increase
  since the previous reading, with counter resets handled as Prometheus does (a drop
  means the counter restarted from zero). After a gap the increase across it is counted
  at the first step with data again: those events happened; the gap steps themselves
  count as neither good nor bad.
- PromQL event rates (Sloth ``events`` through Prometheus): ``rate(..[step])`` times the
  step.
- PromQL error ratios (Sloth ``raw``): the step's ratio counts as one event of weight
  ``ratio``, which averages ratios over a window as Sloth does.
- time slices (gauge thresholds, and any SLI budgeted by ``Timeslices``): one event per
  step, bad when the slice misses its target, absent when the slice had no data.

A step is a gap when the total side has no data. When the total has data and the bad
(or good) side matches no series, that side is 0: a counter labelled by error code has
no series until the first error, so "no bad series" on a healthy system means no bad
events (and "no good series" means none of the events was good). Latency SLIs are the
exception: a histogram's buckets exist whenever its ``_count`` does, so a missing
bucket means the threshold is not a bucket bound, and that stays a gap rather than
turning every event bad.

State (previous counter readings, slice rings) is kept in numpy arrays and can be
exported and restored with the history, so a restart neither loses nor invents events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from contracts.durations import format_duration
from contracts.promql import Selector
from slo.model import (
    SLO,
    EventRatioSLI,
    GaugeThresholdSLI,
    LatencySLI,
    PromQLErrorRatioSLI,
    PromQLEventsSLI,
    Timeslices,
)

__all__ = ["Query", "Sampler"]

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
QueryKind = Literal["sum", "max", "min", "avg", "promql"]
_KIND_COUNTER, _KIND_RATE, _KIND_RATIO, _KIND_GAUGE = 0, 1, 2, 3
_WORST: Final = {"<": np.nanmax, "<=": np.nanmax, ">": np.nanmin, ">=": np.nanmin}


@dataclass(frozen=True, slots=True)
class Query:
    """One value a source reads per step: ``kind(selector)`` or a PromQL expression."""

    kind: QueryKind
    text: str
    selector: Selector | None = None

    @classmethod
    def of(cls, kind: QueryKind, selector: Selector) -> Query:
        return cls(kind, selector.promql(), selector)

    def promql(self) -> str:
        return self.text if self.kind == "promql" else f"{self.kind}({self.text})"


@dataclass(frozen=True, slots=True)
class _Plan:
    kind: int
    error: Query | None  # bad events (or good when good_mode), rate, ratio, or gauge value
    total: Query | None
    good_mode: bool = False
    # The error (or good) side is 0 at steps where it has no series but the total has data.
    absent_is_zero: bool = False


class Sampler:
    """Per-step increments for N SLOs (see module docstring)."""

    def __init__(self, slos: Sequence[SLO], step_seconds: int, use_promql: bool) -> None:
        self.slos = list(slos)
        self.step_seconds = step_seconds
        self.plans = [_plan(s, step_seconds, use_promql) for s in self.slos]
        n = len(self.slos)
        self.prev_error: F64 = np.full(n, np.nan)
        self.prev_total: F64 = np.full(n, np.nan)
        self.slice_steps = np.array([_slice_steps(s, step_seconds) for s in self.slos], dtype=int)
        width = int(self.slice_steps.max(initial=1)) + 1
        # Rings of the last slice's per-step values: (errors, total) or the gauge value.
        self.ring_error: F64 = np.full((n, width), np.nan)
        self.ring_total: F64 = np.full((n, width), np.nan)
        self.ring_pos = 0
        self.kinds = np.array([p.kind for p in self.plans], dtype=int)
        self.good_mode = np.array([p.good_mode for p in self.plans], dtype=bool)
        self.absent_is_zero = np.array([p.absent_is_zero for p in self.plans], dtype=bool)
        self.timeslices = np.array([isinstance(s.budgeting, Timeslices) for s in self.slos])
        self.slice_limit = np.array(
            [
                1 - s.budgeting.target_ratio if isinstance(s.budgeting, Timeslices) else 0.0
                for s in self.slos
            ]
        )

    def queries(self) -> list[Query]:
        """Every query the source must answer each step (deduplicated, stable order)."""
        seen: dict[Query, None] = {}
        for plan in self.plans:
            for q in (plan.error, plan.total):
                if q is not None:
                    seen.setdefault(q)
        return list(seen)

    def step(self, values: Mapping[Query, float | None]) -> tuple[F64, F64, B]:
        n = len(self.plans)
        a = np.full(n, np.nan)
        b = np.full(n, np.nan)
        for i, plan in enumerate(self.plans):
            if plan.error is not None:
                a[i] = _value(values.get(plan.error))
            if plan.total is not None:
                b[i] = _value(values.get(plan.total))
        a[self.absent_is_zero & np.isnan(a) & ~np.isnan(b)] = 0.0
        errors = np.zeros(n)
        total = np.zeros(n)
        has = np.zeros(n, dtype=bool)
        self._counters(a, b, errors, total, has)
        self._rates(a, b, errors, total, has)
        self._ratios(a, errors, total, has)
        return self._slices(a, errors, total, has)

    def _counters(self, a: F64, b: F64, errors: F64, total: F64, has: B) -> None:
        mask = self.kinds == _KIND_COUNTER
        present = mask & ~np.isnan(a) & ~np.isnan(b)
        inc_a = _increase(self.prev_error, a)
        inc_b = _increase(self.prev_total, b)
        err = np.where(self.good_mode, np.maximum(inc_b - inc_a, 0.0), inc_a)
        errors[present] = err[present]
        total[present] = inc_b[present]
        has[present] = True
        self.prev_error[present] = a[present]
        self.prev_total[present] = b[present]

    def _rates(self, a: F64, b: F64, errors: F64, total: F64, has: B) -> None:
        present = (self.kinds == _KIND_RATE) & ~np.isnan(a) & ~np.isnan(b)
        errors[present] = a[present] * self.step_seconds
        total[present] = b[present] * self.step_seconds
        has[present] = True

    def _ratios(self, a: F64, errors: F64, total: F64, has: B) -> None:
        present = (self.kinds == _KIND_RATIO) & ~np.isnan(a)
        errors[present] = a[present]
        total[present] = 1.0
        has[present] = True

    def _slices(self, a: F64, errors: F64, total: F64, has: B) -> tuple[F64, F64, B]:
        gauge = self.kinds == _KIND_GAUGE
        width = self.ring_error.shape[1]
        self.ring_pos = (self.ring_pos + 1) % width
        self.ring_error[:, self.ring_pos] = np.where(gauge, a, np.where(has, errors, np.nan))
        self.ring_total[:, self.ring_pos] = np.where(has, total, np.nan)
        if not self.timeslices.any():
            return errors, total, has
        ages = (self.ring_pos - np.arange(width)) % width  # 0 = this step
        in_slice = ages[None, :] < self.slice_steps[:, None]
        errs = np.where(in_slice, self.ring_error, np.nan)
        tots = np.where(in_slice, self.ring_total, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            err_sum = np.nansum(errs, axis=1)
            tot_sum = np.nansum(tots, axis=1)
            ratio_bad = err_sum / tot_sum > self.slice_limit
        ratio_has = tot_sum > 0
        gauge_bad, gauge_has = self._gauge_slices(errs)
        bad = np.where(gauge, gauge_bad, ratio_bad)
        slice_has = np.where(gauge, gauge_has, ratio_has)
        ts = self.timeslices
        return (
            np.where(ts, bad.astype(float), errors),
            np.where(ts, 1.0, total),
            np.where(ts, slice_has, has),
        )

    def _gauge_slices(self, values: F64) -> tuple[B, B]:
        n = len(self.plans)
        bad = np.zeros(n, dtype=bool)
        has = ~np.all(np.isnan(values), axis=1)
        for i, slo in enumerate(self.slos):
            sli = slo.sli
            if not isinstance(sli, GaugeThresholdSLI) or not has[i]:
                continue
            worst = float(_WORST[sli.op](values[i]))
            good = {
                "<": worst < sli.threshold,
                "<=": worst <= sli.threshold,
                ">": worst > sli.threshold,
                ">=": worst >= sli.threshold,
            }[sli.op]
            bad[i] = not good
        return bad, has

    # --- persistence ---------------------------------------------------------------------
    def state(self) -> dict[str, F64]:
        return {
            "prev_error": self.prev_error,
            "prev_total": self.prev_total,
            "ring_error": self.ring_error,
            "ring_total": self.ring_total,
            "ring_pos": np.array([self.ring_pos], dtype=float),
        }

    def restore(self, state: Mapping[str, F64], rows: npt.NDArray[np.int64]) -> None:
        """Restore saved state; ``rows[i]`` is SLO i's row in the saved arrays, or -1."""
        known = rows >= 0
        for name in ("prev_error", "prev_total"):
            getattr(self, name)[known] = state[name][rows[known]]
        for name in ("ring_error", "ring_total"):
            saved = state[name]
            if saved.shape[1] == self.ring_error.shape[1]:
                getattr(self, name)[known] = saved[rows[known]]
        self.ring_pos = int(state["ring_pos"][0]) % self.ring_error.shape[1]


def _value(value: float | None) -> float:
    return np.nan if value is None else float(value)


def _increase(previous: F64, current: F64) -> F64:
    with np.errstate(invalid="ignore"):
        reset = current < previous
        inc = np.where(reset, current, current - previous)
    return np.where(np.isnan(previous) | np.isnan(current), 0.0, inc)


def _slice_steps(slo: SLO, step_seconds: int) -> int:
    if not isinstance(slo.budgeting, Timeslices):
        return 1
    steps = max(1, slo.budgeting.slice_seconds // step_seconds)
    # A gauge slice longer than a step is a subquery over [slice:], both ends included.
    return steps + 1 if isinstance(slo.sli, GaugeThresholdSLI) and steps > 1 else steps


def _plan(slo: SLO, step_seconds: int, use_promql: bool) -> _Plan:
    sli = slo.sli
    latency = isinstance(sli, LatencySLI)
    if isinstance(sli, LatencySLI):
        sli = sli.as_events()
    if isinstance(sli, PromQLEventsSLI) and (use_promql or sli.local is None):
        window = format_duration(step_seconds)
        return _Plan(
            _KIND_RATE,
            Query("promql", _with_window(sli.error_query, window)),
            Query("promql", _with_window(sli.total_query, window)),
            absent_is_zero=True,
        )
    if isinstance(sli, PromQLEventsSLI):
        assert sli.local is not None
        sli = sli.local
    if isinstance(sli, PromQLErrorRatioSLI):
        window = format_duration(step_seconds)
        return _Plan(
            _KIND_RATIO, Query("promql", _with_window(sli.error_ratio_query, window)), None
        )
    if isinstance(sli, GaugeThresholdSLI):
        return _Plan(_KIND_GAUGE, Query.of(sli.aggregate, sli.query), None)
    assert isinstance(sli, EventRatioSLI)
    side = sli.bad if sli.bad is not None else sli.good
    assert side is not None
    return _Plan(
        _KIND_COUNTER,
        Query.of("sum", side),
        Query.of("sum", sli.total),
        good_mode=sli.bad is None,
        absent_is_zero=not latency,
    )


def _with_window(query: str, window: str) -> str:
    return query.replace("{{.window}}", window).replace("{{ .window }}", window).strip()
