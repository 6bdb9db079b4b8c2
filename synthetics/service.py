"""``tidewatch probe`` as a service: every configured target probed concurrently, one
metrics registry, one HTTP endpoint (``/metrics``, ``/status``, ``/healthz``)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry

from contracts.clock import Clock
from synthetics.config import ProbeConfig
from synthetics.http import HttpServer, build_app
from synthetics.metrics import Instruments
from synthetics.probe import TargetProbe

__all__ = ["STATE_ORDER", "ProbeService"]

STATE_ORDER = ("ok", "starting", "degraded", "down")


class ProbeService:
    def __init__(
        self,
        config: ProbeConfig,
        registry: CollectorRegistry | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.registry = registry if registry is not None else CollectorRegistry()
        self.instruments = Instruments(self.registry)
        self.probes = [TargetProbe(t, self.instruments, clock, rng=rng) for t in config.targets]
        self.http: HttpServer | None = None

    def status(self) -> dict[str, Any]:
        targets = [p.status() for p in self.probes]
        worst = max((t["state"] for t in targets), key=STATE_ORDER.index, default="ok")
        return {"state": worst, "targets": targets}

    async def run(
        self, stop: asyncio.Event, on_ready: Callable[[HttpServer | None], None] | None = None
    ) -> None:
        """Serve HTTP and probe every target until ``stop`` is set, then close all."""
        if self.config.http is not None:
            host, port = self.config.http
            self.http = HttpServer(build_app(self.registry, self.status), host, port)
            await self.http.start()
        if on_ready is not None:
            on_ready(self.http)
        try:
            await asyncio.gather(*(p.run(stop) for p in self.probes))
        finally:
            for probe in self.probes:
                with contextlib.suppress(Exception):
                    await probe.close()
            if self.http is not None:
                await self.http.stop()
