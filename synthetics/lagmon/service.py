"""``tidewatch lag`` as a service: every configured cluster polled each interval, the
broker's group metrics on /metrics, groups with lag, status and reason on /status."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry

from contracts.clock import Clock, SystemClock
from synthetics import catalog as c
from synthetics.http import HttpServer, build_app
from synthetics.lagmon.collector import LagCollector
from synthetics.lagmon.config import LagConfig
from synthetics.lagmon.monitor import ClusterMonitor
from synthetics.lagmon.tracker import GroupLag
from synthetics.metrics import BoundMetrics, Instruments

__all__ = ["LagService", "group_json"]


class LagService:
    def __init__(
        self,
        config: LagConfig,
        registry: CollectorRegistry | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.registry = registry if registry is not None else CollectorRegistry()
        self.monitors = [ClusterMonitor(cl, config, self.clock) for cl in config.clusters]
        self.instruments = Instruments(self.registry, c.LAGMON_CATALOG)
        self.registry.register(
            LagCollector(lambda: [(m.cluster.name, m.snapshot) for m in self.monitors])
        )
        self.http: HttpServer | None = None

    async def poll(self) -> None:
        """Poll every cluster once, concurrently, and update the monitor's own metrics."""
        await asyncio.gather(*(m.poll() for m in self.monitors))
        for m in self.monitors:
            metrics = BoundMetrics(self.instruments, m.cluster.name)
            metrics.set(c.LAGMON_UP, 1 if m.up else 0)
            metrics.touch(c.LAGMON_POLL_ERRORS)
            if not m.up:
                metrics.inc(c.LAGMON_POLL_ERRORS)
            if m.last_poll_seconds is not None:
                metrics.observe(c.LAGMON_POLL_DURATION, m.last_poll_seconds)

    def status(self) -> dict[str, Any]:
        return {
            "clusters": [
                {
                    "cluster": m.cluster.name,
                    "up": m.up,
                    "error": m.last_error,
                    "last_poll_unix_seconds": (
                        None if m.last_poll_ns is None else round(m.last_poll_ns / 1e9, 3)
                    ),
                    "groups": [group_json(g) for g in m.snapshot],
                }
                for m in self.monitors
            ]
        }

    async def run(
        self, stop: asyncio.Event, on_ready: Callable[[HttpServer | None], None] | None = None
    ) -> None:
        if self.config.http is not None:
            host, port = self.config.http
            self.http = HttpServer(build_app(self.registry, self.status), host, port)
            await self.http.start()
        if on_ready is not None:
            on_ready(self.http)
        try:
            next_poll = self.clock.monotonic()
            while not stop.is_set():
                await self.poll()
                next_poll += self.config.interval_seconds
                now = self.clock.monotonic()
                if next_poll < now:
                    next_poll = now + self.config.interval_seconds
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), next_poll - now)
        finally:
            for m in self.monitors:
                await m.close()
            if self.http is not None:
                await self.http.stop()


def group_json(g: GroupLag) -> dict[str, object]:
    """The broker's /status/groups shape, plus the coordinator."""
    return {
        "group": g.group_id,
        "coordinator": g.coordinator,
        "state": g.state,
        "members": g.members,
        "status": g.status.status.name,
        "reason": g.status.reason,
        "lag_records": g.lag_records,
        "max_lag_seconds": round(g.max_lag_seconds, 3),
        "partitions": [
            {
                "topic": p.topic,
                "partition": p.partition,
                "committed_offset": p.committed_offset,
                "high_watermark": p.high_watermark,
                "log_start_offset": p.log_start_offset,
                "lag_records": p.lag_records,
                "lag_seconds": round(p.lag_seconds, 3),
                "retention_headroom_seconds": p.retention_headroom_seconds,
                "status": p.status.status.name,
                "reason": p.status.reason,
            }
            for p in g.partitions
        ],
    }
