"""The HTTP side of the probe and the lag monitor (aiohttp): ``/metrics``, ``/status``
(JSON) and ``/healthz``.

``/metrics`` answers in the Prometheus text format, or in OpenMetrics (which carries the
trace-id exemplars of the latency histograms) when the scraper asks for it. ``/status``
returns whatever the ``status`` callable builds; ``/healthz`` answers 200 while the
process serves HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.openmetrics import exposition as openmetrics

__all__ = ["HttpServer", "build_app"]


def build_app(registry: CollectorRegistry, status: Callable[[], dict[str, Any]]) -> web.Application:
    async def metrics(request: web.Request) -> web.Response:
        if "application/openmetrics-text" in request.headers.get("Accept", ""):
            body = openmetrics.generate_latest(registry)  # type: ignore[no-untyped-call]
            return web.Response(
                body=body, headers={"Content-Type": openmetrics.CONTENT_TYPE_LATEST}
            )
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def status_page(_: web.Request) -> web.Response:
        return web.json_response(status(), dumps=_dumps)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/status", status_page)
    app.router.add_get("/healthz", healthz)
    return app


def _dumps(obj: object) -> str:
    return json.dumps(obj, indent=2, sort_keys=False)


class HttpServer:
    """Serves an app on host:port (port 0 picks a free one; ``port`` tells which)."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self._runner = web.AppRunner(app, access_log=None)
        self.host = host
        self.port = port

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise OSError(
                exc.errno, f"cannot serve HTTP on {self.host}:{self.port}: {exc.strerror}"
            ) from exc
        for address in self._runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                self.port = int(address[1])
                break

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        await self._runner.cleanup()
