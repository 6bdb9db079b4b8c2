"""The serve loop and its HTTP endpoints (a real aiohttp server on 127.0.0.1)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from slo import conventions
from slo.sampling import Query
from slo.service import SLOService, make_app
from slo.spec import load_text
from tests.slo.support import API_SPEC, serving


class FakeSource:
    """Counters that grow by 1000 requests and ``errors`` errors per step."""

    def __init__(self, errors: float) -> None:
        self.errors = errors
        self.steps = 0

    async def read(self, queries: Sequence[Query], t: int) -> dict[Query, float | None]:
        self.steps += 1
        bad, total = queries
        return {bad: self.errors * self.steps, total: 1000.0 * self.steps}


@pytest.fixture
async def served() -> AsyncIterator[tuple[SLOService, str]]:
    service = SLOService(load_text(API_SPEC, "api.yaml"), FakeSource(errors=100), clock=lambda: 0)
    for minute in range(10):
        await service.tick(minute * 60)
    async with serving(make_app(service)) as url:
        yield service, url


async def _get(url: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        return await response.text()


async def test_metrics_use_sloth_names_and_only_names_from_the_catalog(
    served: tuple[SLOService, str],
) -> None:
    _, url = served
    families = {f.name: f for f in text_string_to_metric_families(await _get(url + "/metrics"))}
    catalog = {m.name for m in conventions.ENGINE_METRICS}
    window_names = {conventions.sli_error_ratio_rule(w) for w in ("5m", "1h", "30d")}
    assert window_names <= set(families)
    assert set(families) - window_names - catalog == {
        conventions.sli_error_ratio_rule(w) for w in ("30m", "2h", "6h", "1d", "3d")
    }
    (remaining,) = families[conventions.RULE_PERIOD_BUDGET_REMAINING].samples
    assert remaining.labels == {
        "sloth_id": "api-requests",
        "sloth_service": "api",
        "sloth_slo": "requests",
    }
    assert remaining.value == pytest.approx(-99.0)  # 10% errors against a 0.1% budget
    firing = {
        s.labels["sloth_severity"]: s.value for s in families["tidewatch_slo_alert_firing"].samples
    }
    assert firing == {"page": 1.0, "ticket": 1.0}


async def test_status_and_health_endpoints_answer_json(served: tuple[SLOService, str]) -> None:
    _, url = served
    async with aiohttp.ClientSession() as session:
        async with session.get(url + "/status") as response:
            body = await response.json()
        async with session.get(url + "/healthz") as response:
            health = await response.json()
    (row,) = body["slos"]
    assert row["id"] == "api-requests"
    assert row["page"]["firing"] is True
    assert health == {"ok": True, "ticks": 10}


async def test_run_ticks_on_step_boundaries_and_saves_history_on_stop(tmp_path: Path) -> None:
    state = tmp_path / "history.npz"
    slos = load_text(API_SPEC, "api.yaml")
    service = SLOService(slos, FakeSource(errors=0), clock=lambda: 125.0, state_path=state)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    while service.ticks == 0:
        await asyncio.sleep(0.01)
    stop.set()
    await task
    assert service.engine.now == 120
    assert state.exists()
    again = SLOService(slos, FakeSource(errors=0), clock=lambda: 185.0, state_path=state)
    assert again.restored == 1
    assert again.engine.now == 120
    assert await again.tick(120) is None  # a step already evaluated is skipped
