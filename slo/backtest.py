"""Replay SLOs over recorded history and report when they would have paged and ticketed.

An *incident* is a run of steps where the shortest window's burn rate exceeds 1 (the budget burns
faster than it can last), runs less than ``merge_seconds`` apart being one incident.
For each incident: when page and ticket alerts first fired (detection time, from the
incident start) and when they stopped (reset time, from the incident end), the SRE
workbook's two measures of an alert's quality.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from slo.conventions import SEVERITY_PAGE, SEVERITY_TICKET
from slo.engine import Engine
from slo.model import SLO
from slo.sampling import Sampler
from slo.sources import RangeData

__all__ = ["AlertSpan", "BacktestResult", "Incident", "replay"]


@dataclass(frozen=True, slots=True)
class AlertSpan:
    severity: str
    start: int
    end: int  # last firing step


@dataclass(frozen=True, slots=True)
class Incident:
    start: int
    end: int
    peak_burn_rate: float
    page_at: int | None = None
    page_until: int | None = None
    ticket_at: int | None = None
    ticket_until: int | None = None

    @property
    def page_detection_seconds(self) -> int | None:
        return None if self.page_at is None else self.page_at - self.start

    @property
    def page_reset_seconds(self) -> int | None:
        return None if self.page_until is None else self.page_until - self.end

    @property
    def ticket_detection_seconds(self) -> int | None:
        return None if self.ticket_at is None else self.ticket_at - self.start

    @property
    def ticket_reset_seconds(self) -> int | None:
        return None if self.ticket_until is None else self.ticket_until - self.end


@dataclass(frozen=True, slots=True)
class BacktestResult:
    slo_id: str
    start: int
    end: int
    step_seconds: int
    alerts: tuple[AlertSpan, ...]
    incidents: tuple[Incident, ...]
    budget_remaining_ratio: float
    steps_without_data: int
    extra: dict[str, float] = field(default_factory=dict)


def _runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """(first, last) index of each run of True."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def replay(
    slos: Sequence[SLO],
    data: RangeData,
    start: int,
    step_seconds: int,
    use_promql: bool,
    merge_seconds: int = 1800,
) -> list[BacktestResult]:
    engine = Engine(slos, step_seconds=step_seconds)
    sampler = Sampler(slos, step_seconds, use_promql=use_promql)
    queries = sampler.queries()
    steps = len(next(iter(data.values()))) if data else 0
    n = len(slos)
    page = np.zeros((steps, n), dtype=bool)
    ticket = np.zeros((steps, n), dtype=bool)
    burn5m = np.full((steps, n), np.nan)
    gaps = np.zeros(n, dtype=int)
    remaining = np.ones(n)
    for i in range(steps):
        values = {q: (None if np.isnan(data[q][i]) else float(data[q][i])) for q in queries}
        errors, total, has = sampler.step(values)
        engine.record(start + i * step_seconds, errors, total, has)
        ev = engine.evaluate()
        page[i], ticket[i], gaps = ev.page, ev.ticket, gaps + ~has
        burn5m[i] = ev.burn_rate[:, 0]
        remaining = ev.budget_remaining
    results = []
    for j, slo in enumerate(slos):
        times = start + np.arange(steps) * step_seconds
        spans = [
            AlertSpan(sev, int(times[a]), int(times[b]))
            for sev, mask in ((SEVERITY_PAGE, page[:, j]), (SEVERITY_TICKET, ticket[:, j]))
            for a, b in _runs(mask)
        ]
        spans.sort(key=lambda s: (s.start, s.severity))
        incidents = _incidents(times, burn5m[:, j], spans, merge_seconds, step_seconds)
        results.append(
            BacktestResult(
                slo.id,
                start,
                int(times[-1]) if steps else start,
                step_seconds,
                tuple(spans),
                tuple(incidents),
                float(remaining[j]),
                int(gaps[j]),
            )
        )
    return results


def _incidents(
    times: npt.NDArray[np.int64],
    burn: npt.NDArray[np.float64],
    spans: list[AlertSpan],
    merge_seconds: int,
    step_seconds: int,
) -> list[Incident]:
    merge_steps = merge_seconds // step_seconds
    runs: list[tuple[int, int]] = []
    for a, b in _runs(np.nan_to_num(burn, nan=0.0) > 1.0):
        if runs and a - runs[-1][1] <= merge_steps:
            runs[-1] = (runs[-1][0], b)
        else:
            runs.append((a, b))
    out = []
    for k, (a, b) in enumerate(runs):
        # The first bad step's events happened during the step before it was observed.
        start, end = int(times[a]) - step_seconds, int(times[b])
        next_start = int(times[runs[k + 1][0]]) if k + 1 < len(runs) else None
        fields: dict[str, int] = {}
        for span in spans:
            overlaps = span.end >= start and (next_start is None or span.start < next_start)
            key = span.severity
            if overlaps and f"{key}_at" not in fields:
                fields[f"{key}_at"] = max(span.start, start)
                fields[f"{key}_until"] = span.end
        peak = float(np.nanmax(burn[a : b + 1]))
        out.append(Incident(start, end, peak, **fields))
    return out
