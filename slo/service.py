"""The evaluation loop (``tidewatch slo serve``) and its HTTP endpoints.

Each step: read the source, turn readings into increments, record and evaluate, post
alert changes to Alertmanager, and every ``save_every`` steps persist the history. The
clock and sleep are injected; the HTTP app serves ``/metrics`` (catalog names, Sloth
compatible), ``/status`` (JSON) and ``/healthz``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from slo import store
from slo.engine import Engine, Evaluation
from slo.exposition import EngineCollector, Snapshot
from slo.model import SLO
from slo.notify import AlertmanagerClient, AlertmanagerError, Notifier
from slo.report import status_rows
from slo.sampling import Sampler
from slo.sources import Source
from slo.sources.prometheus import PrometheusEvaluator, PrometheusSource

__all__ = ["SLOService", "make_app"]

log = logging.getLogger(__name__)


class SLOService:
    def __init__(
        self,
        slos: Sequence[SLO],
        source: Source,
        step_seconds: int = 60,
        clock: Callable[[], float] = time.time,
        state_path: Path | None = None,
        alertmanager: AlertmanagerClient | None = None,
        save_every: int = 5,
    ) -> None:
        self.slos = list(slos)
        self.source = source
        self.clock = clock
        self.engine = Engine(self.slos, step_seconds=step_seconds)
        self.step_seconds = step_seconds
        use_promql = isinstance(source, PrometheusSource)
        self.sampler = Sampler(self.slos, step_seconds, use_promql=use_promql)
        self.evaluator = (
            PrometheusEvaluator(self.engine, source)
            if isinstance(source, PrometheusSource)
            else None
        )
        self.queries = self.sampler.queries()
        self.state_path = state_path
        self.alertmanager = alertmanager
        self.notifier = Notifier(self.slos, step_seconds, clock=clock)
        self.save_every = save_every
        self.last: Evaluation | None = None
        self.tick_seconds = 0.0
        self.ticks = 0
        self.restored = 0
        if state_path is not None and state_path.exists() and self.evaluator is None:
            self.restored = store.load(state_path, self.engine, self.sampler)

    def snapshot(self) -> Snapshot:
        return self.slos, self.last, self.tick_seconds

    async def tick(self, t: int) -> Evaluation | None:
        """Evaluate at step time ``t``; steps at or before the last one are skipped."""
        if self.engine.now is not None and t <= self.engine.now:
            return None
        started = time.perf_counter()
        if self.evaluator is not None:
            ev = await self.evaluator.evaluate(t)
        else:
            values = await self.source.read(self.queries, t)
            self.engine.record(t, *self.sampler.step(values))
            ev = self.engine.evaluate()
        self.last = ev
        self.ticks += 1
        alerts = self.notifier.step(ev)
        if self.alertmanager is not None and alerts:
            try:
                await self.alertmanager.post(alerts)
            except AlertmanagerError as exc:
                log.warning("alertmanager: %s", exc)
        if self.ticks % self.save_every == 0:
            self.save()
        self.tick_seconds = time.perf_counter() - started
        return ev

    def save(self) -> None:
        if self.state_path is not None and self.evaluator is None:
            store.save(self.state_path, self.engine, self.sampler)

    async def run(self, stop: asyncio.Event) -> None:
        """Tick on every step boundary of the clock until ``stop`` is set."""
        try:
            while not stop.is_set():
                now = self.clock()
                t = int(now // self.step_seconds * self.step_seconds)
                await self.tick(t)
                delay = t + self.step_seconds - self.clock()
                try:
                    await asyncio.wait_for(stop.wait(), timeout=max(delay, 0.0))
                except TimeoutError:
                    pass
        finally:
            self.save()


def make_app(service: SLOService) -> web.Application:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(service.snapshot))

    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def status(_: web.Request) -> web.Response:
        if service.last is None:
            return web.json_response({"slos": [], "evaluated": False})
        rows = status_rows(service.slos, service.last)
        return web.json_response({"slos": rows, "evaluated": True})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True, "ticks": service.ticks})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/status", status)
    app.router.add_get("/healthz", healthz)
    return app
