"""Scrape Prometheus text exposition from HTTP endpoints (no Prometheus needed)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from slo.sampling import Query
from slo.sources.samples import Sample, SampleIndex

__all__ = ["LocalSource", "parse_exposition"]


def parse_exposition(text: str) -> list[Sample]:
    return [
        Sample(s.name, dict(s.labels), float(s.value))
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


class LocalSource:
    """Reads every target's ``/metrics`` each step; a failed target is a gap for its SLIs.

    "Its SLIs" are the queries on a metric name the target exposed when it was last read:
    while it is down they answer no data, rather than a partial sum over the other
    targets (which would look like a counter reset) or, for a bad selector whose series
    only that target has, zero errors.
    """

    def __init__(self, urls: Sequence[str], timeout_seconds: float = 5.0) -> None:
        self.urls = list(urls)
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self.errors: dict[str, str] = {}
        self.exposed: dict[str, frozenset[str]] = {}  # metric names at the last good read

    async def _fetch(self, session: aiohttp.ClientSession, url: str) -> list[Sample] | None:
        try:
            async with session.get(url) as response:
                response.raise_for_status()
                samples = parse_exposition(await response.text())
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self.errors[url] = f"{type(exc).__name__}: {exc}"
            return None
        self.errors.pop(url, None)
        self.exposed[url] = frozenset(s.name for s in samples)
        return samples

    async def read(self, queries: Sequence[Query], t: int) -> dict[Query, float | None]:
        async with aiohttp.ClientSession(timeout=self.timeout) as session:
            results = await asyncio.gather(*(self._fetch(session, u) for u in self.urls))
        missing: set[str] = set()
        for url, samples in zip(self.urls, results, strict=True):
            if samples is None:
                missing |= self.exposed.get(url, frozenset())
        index = SampleIndex(s for samples in results if samples for s in samples)
        answers = index.answer_all(queries)
        for q in queries:
            if q.selector is not None and q.selector.metric in missing:
                answers[q] = None
        return answers
