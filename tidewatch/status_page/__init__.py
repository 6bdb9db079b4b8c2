"""The status page: one self-contained HTML page (no CDN assets) and its JSON feed.

``add_status_routes(app, snapshot)`` serves ``/`` (the page), ``/static/*`` and
``/api/status`` (``snapshot()`` as JSON). The page polls the feed every two seconds
and renders SLOs with budget and burn-rate charts, alerts, probes, consumer groups
with lag and status, and partitions with offsets and traffic. Sections whose part is
not running say so instead of failing.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

__all__ = ["STATIC_DIR", "add_status_routes"]

STATIC_DIR = Path(__file__).parent / "static"

Snapshot = Callable[[], dict[str, Any]]


def add_status_routes(app: web.Application, snapshot: Snapshot) -> None:
    async def page(_: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / "index.html")

    async def status(_: web.Request) -> web.Response:
        data = snapshot()
        data.setdefault("generated_at", time.time())
        return web.json_response(data, dumps=_dumps)

    app.router.add_get("/", page)
    app.router.add_get("/status", page)
    app.router.add_get("/api/status", status)
    app.router.add_static("/static/", STATIC_DIR, show_index=False)


def _dumps(value: object) -> str:
    return json.dumps(_finite(value), default=str)


def _finite(value: object) -> object:
    """JSON has no NaN or infinity: send null instead (the page shows a dash)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
