"""Any Prometheus through its HTTP API: instant queries for live evaluation, range
queries for backtests. Arbitrary PromQL (Sloth specs) works here."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import aiohttp
import numpy as np

from contracts.durations import format_duration
from slo.engine import Engine, Evaluation
from slo.model import SLO, PromQLErrorRatioSLI
from slo.rules.sli import event_rates, slice_error_expr
from slo.sampling import Query
from slo.sources import RangeData

__all__ = ["PrometheusError", "PrometheusEvaluator", "PrometheusSource", "window_queries"]


class PrometheusError(RuntimeError):
    """Prometheus answered with an error (bad query, unreachable)."""


class PrometheusSource:
    def __init__(self, base_url: str, timeout_seconds: float = 30.0, parallel: int = 8) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self.parallel = asyncio.Semaphore(parallel)

    async def _get(self, session: aiohttp.ClientSession, path: str, params: dict[str, str]) -> Any:
        async with self.parallel:
            try:
                async with session.get(self.base_url + path, params=params) as response:
                    body = await response.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                raise PrometheusError(f"{self.base_url}: {exc}") from exc
        if body.get("status") != "success":
            raise PrometheusError(f"{params.get('query')}: {body.get('error', body)}")
        return body["data"]

    async def read(self, queries: Sequence[Query], t: int) -> dict[Query, float | None]:
        async with aiohttp.ClientSession(timeout=self.timeout) as session:
            answers = await asyncio.gather(
                *(
                    self._get(session, "/api/v1/query", {"query": q.promql(), "time": str(t)})
                    for q in queries
                )
            )
        out: dict[Query, float | None] = {}
        for q, data in zip(queries, answers, strict=True):
            result = data.get("result") or []
            if data.get("resultType") == "scalar":
                out[q] = float(result[1])
            else:
                out[q] = float(result[0]["value"][1]) if result else None
        return out

    async def read_range(
        self, queries: Sequence[Query], start: int, end: int, step: int
    ) -> RangeData:
        times = np.arange(start, end + 1, step)
        async with aiohttp.ClientSession(timeout=self.timeout) as session:
            answers = await asyncio.gather(
                *(
                    self._get(
                        session,
                        "/api/v1/query_range",
                        {
                            "query": q.promql(),
                            "start": str(start),
                            "end": str(end),
                            "step": str(step),
                        },
                    )
                    for q in queries
                )
            )
        out: RangeData = {}
        for q, data in zip(queries, answers, strict=True):
            values = np.full(len(times), np.nan)
            for series in (data.get("result") or [])[:1]:
                for ts, value in series["values"]:
                    index = round((float(ts) - start) / step)
                    if 0 <= index < len(times):
                        values[index] = float(value)
            out[q] = values
        return out


def window_queries(slo: SLO, window_seconds: int, step_seconds: int) -> tuple[str, str]:
    """PromQL for (error events, all events) of ``slo`` over one window.

    Event SLIs use the generated rules' rate expressions times the window length; time
    slices count bad and judged slices with a subquery at the step; Sloth ``raw`` ratios
    give the ratio itself over one "event".
    """
    window = format_duration(window_seconds)
    slices = slice_error_expr(slo)
    if slices is not None:
        sub = f"({slices.strip()})[{window}:{format_duration(step_seconds)}]"
        return f"sum_over_time({sub})", f"count_over_time({sub})"
    if isinstance(slo.sli, PromQLErrorRatioSLI):
        query = slo.sli.error_ratio_query.replace("{{.window}}", window)
        return f"({query})", f"(({query}) * 0 + 1)"
    rates = event_rates(slo, window)
    assert rates is not None
    return f"({rates[0]}) * {window_seconds}", f"({rates[1]}) * {window_seconds}"


class PrometheusEvaluator:
    """Evaluates SLOs from window sums that Prometheus computes over its own history."""

    def __init__(self, engine: Engine, source: PrometheusSource) -> None:
        self.engine = engine
        self.source = source

    async def evaluate(self, t: int) -> Evaluation:
        engine = self.engine
        windows = engine.window_lengths(t)
        keys: list[tuple[int, int, int]] = []
        queries: list[Query] = []
        for i, slo in enumerate(engine.slos):
            for k, seconds in enumerate(windows[i]):
                span = int(seconds + engine.extension[i, 0])
                for channel, text in enumerate(window_queries(slo, span, engine.step_seconds)):
                    keys.append((i, k, channel))
                    queries.append(Query("promql", text))
        answers = await self.source.read(queries, t)
        sums = np.full((*windows.shape, 3), np.nan)
        for (i, k, channel), q in zip(keys, queries, strict=True):
            value = answers[q]
            sums[i, k, channel] = np.nan if value is None else value
        has = ~np.isnan(sums[..., 1])
        sums[..., 2] = np.where(has, (windows + engine.extension) / engine.step_seconds, 0.0)
        sums = np.nan_to_num(sums, nan=0.0)
        engine.last_data[has[:, 0]] = t
        return engine.evaluate_sums(t, windows, sums)
