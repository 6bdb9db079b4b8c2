"""The HTTP side of the broker (aiohttp): /metrics, /healthz and /readyz.

Bound to 127.0.0.1 by default. /healthz answers 200 while the process serves HTTP;
/readyz answers 200 only when the Kafka listener accepts connections and storage is
open, else 503 with the reason.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["build_http_app"]


def build_http_app(registry: CollectorRegistry, ready: Callable[[], str | None]) -> web.Application:
    """``ready`` returns None when ready, else the reason it is not."""

    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        reason = ready()
        if reason is None:
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "not ready", "reason": reason}, status=503)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app
