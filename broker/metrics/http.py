"""The HTTP side of the broker (aiohttp): /metrics, /healthz, /readyz,
/status/groups (consumer groups with lag, status and the reason for it, as JSON) and
/status/partitions (every partition as this broker's metadata shows it: leader, leader
epoch, replicas, ISR, and this broker's own replica: role, log start and end, high
watermark; what test clusters and game days wait on) and /status/cluster (registered
brokers and their state, the active controller, each partition's leader, replicas and
ISR: ``broker.metrics.cluster_status``).

Bound to 127.0.0.1 by default. /healthz answers 200 while the process serves HTTP;
/readyz answers 200 only when the Kafka listener accepts connections and storage is
open, else 503 with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.openmetrics import exposition as openmetrics

from broker.metrics.cluster_status import ClusterStatus

__all__ = ["build_http_app"]


def build_http_app(
    registry: CollectorRegistry | None,
    ready: Callable[[], str | None],
    groups: Callable[[], list[dict[str, Any]]] | None = None,
    extra_routes: Callable[[web.Application], None] | None = None,
    partitions: Callable[[], dict[str, Any]] | None = None,
    cluster: Callable[[], ClusterStatus] | None = None,
) -> web.Application:
    """``ready`` returns None when ready, else the reason it is not; ``groups`` gives
    the consumer-group status served at /status/groups, ``partitions`` and ``cluster``
    the partition and cluster views (404 when not given). A None registry disables
    /metrics (metrics switched off)."""

    async def metrics(request: web.Request) -> web.Response:
        if registry is None:
            return web.Response(status=404, text="metrics are disabled (metrics.enabled: false)\n")
        if "application/openmetrics-text" in request.headers.get("Accept", ""):
            # OpenMetrics carries exemplars (trace ids on latency buckets).
            body = openmetrics.generate_latest(registry)  # type: ignore[no-untyped-call]
            return web.Response(
                body=body, headers={"Content-Type": openmetrics.CONTENT_TYPE_LATEST}
            )
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        reason = ready()
        if reason is None:
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "not ready", "reason": reason}, status=503)

    async def group_status(_: web.Request) -> web.Response:
        return web.json_response({"groups": groups() if groups is not None else []})

    async def partition_status(_: web.Request) -> web.Response:
        return web.json_response(partitions() if partitions is not None else {"partitions": []})

    async def cluster_status(_: web.Request) -> web.Response:
        if cluster is None:
            return web.json_response({"reason": "no cluster view on this server"}, status=404)
        return web.json_response(cluster().to_json())

    app = web.Application()
    app.router.add_get("/status/groups", group_status)
    app.router.add_get("/status/cluster", cluster_status)
    app.router.add_get("/status/partitions", partition_status)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if extra_routes is not None:
        extra_routes(app)
    return app
