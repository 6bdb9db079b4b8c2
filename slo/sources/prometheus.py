"""Any Prometheus through its HTTP API: instant queries for live evaluation, range
queries for backtests. Arbitrary PromQL (Sloth specs) works here."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import aiohttp
import numpy as np

from slo.sampling import Query
from slo.sources import RangeData

__all__ = ["PrometheusError", "PrometheusSource"]


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
