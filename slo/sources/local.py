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
    """Reads every target's ``/metrics`` each step; a failed target is a gap for its SLIs."""

    def __init__(self, urls: Sequence[str], timeout_seconds: float = 5.0) -> None:
        self.urls = list(urls)
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self.errors: dict[str, str] = {}

    async def _fetch(self, session: aiohttp.ClientSession, url: str) -> list[Sample]:
        try:
            async with session.get(url) as response:
                response.raise_for_status()
                samples = parse_exposition(await response.text())
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self.errors[url] = f"{type(exc).__name__}: {exc}"
            return []
        self.errors.pop(url, None)
        return samples

    async def read(self, queries: Sequence[Query], t: int) -> dict[Query, float | None]:
        async with aiohttp.ClientSession(timeout=self.timeout) as session:
            results = await asyncio.gather(*(self._fetch(session, u) for u in self.urls))
        index = SampleIndex(s for samples in results for s in samples)
        return index.answer_all(queries)
