"""Recorded history: OpenMetrics text with timestamps (what ``promtool tsdb
create-blocks-from openmetrics`` also reads), replayed step by step for backtests."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from slo.sampling import Query
from slo.sources import RangeData
from slo.sources.samples import Sample, SampleIndex

__all__ = ["RecordedHistory"]

LOOKBACK_SECONDS = 300  # Prometheus's default staleness lookback


class RecordedHistory:
    """Series from an OpenMetrics file: per series sorted timestamps and values."""

    def __init__(self, text: str) -> None:
        points: dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[float, float]]]
        points = defaultdict(list)
        for family in text_string_to_metric_families(text):  # type: ignore[no-untyped-call]
            for s in family.samples:
                if s.timestamp is None:
                    raise ValueError(f"sample {s.name} has no timestamp")
                key = (s.name, tuple(sorted(s.labels.items())))
                points[key].append((float(s.timestamp), float(s.value)))
        self.series: dict[
            tuple[str, tuple[tuple[str, str], ...]],
            tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]],
        ] = {}
        for key, pts in points.items():
            pts.sort()
            self.series[key] = (np.array([p[0] for p in pts]), np.array([p[1] for p in pts]))

    @property
    def bounds(self) -> tuple[float, float]:
        starts = [ts[0] for ts, _ in self.series.values()]
        ends = [ts[-1] for ts, _ in self.series.values()]
        return min(starts), max(ends)

    def _at(self, t: float) -> list[Sample]:
        out = []
        for (name, labels), (ts, values) in self.series.items():
            i = int(np.searchsorted(ts, t, side="right")) - 1
            if i >= 0 and t - ts[i] <= LOOKBACK_SECONDS:
                out.append(Sample(name, dict(labels), float(values[i])))
        return out

    def read_range(self, queries: Sequence[Query], start: int, end: int, step: int) -> RangeData:
        times = range(start, end + 1, step)
        out: RangeData = {q: np.full(len(times), np.nan) for q in queries}
        for i, t in enumerate(times):
            answers = SampleIndex(self._at(t)).answer_all(queries)
            for q, value in answers.items():
                if value is not None:
                    out[q][i] = value
        return out
