"""``tidewatch up --brokers N``: N broker processes forming one cluster on this machine.

The brokers are ``tidewatch broker`` child processes started side by side by
``contracts.broker_cluster.BrokerCluster``: node ids 1..N, all controller voters, each
with its own data dir under ``<up data dir>/brokers`` (``b1``, ``b2``... with their
log, ready and config files beside them), bound to 127.0.0.1 on free ports (the quorum
ports are picked just before the start, since voters must know each other's). Topics
created without a replication factor get min(3, N) replicas. Stopping sends SIGTERM to
every broker at once, by its PID, then SIGKILL to any left after the grace period. Each
broker first tries to hand its leaderships over (a controlled shutdown); when the whole
cluster stops, the last ones have nobody to hand them to and no controller quorum left,
so their wait is capped at ``CONTROLLED_SHUTDOWN_TIMEOUT_MS`` (5 s, not the broker's
default 30 s) and the whole stop takes seconds.

The platform's page, health and metrics (probe and SLO series) are served by an HTTP
server of its own. Its status feed is the brokers' HTTP views, read every
``refresh_seconds`` in the background: each broker's ``/status/cluster`` (the cluster
section: ``tidewatch.status_page.cluster``) and its ``/api/status`` (its replicas'
offsets and traffic, shown for the partitions it leads, and the consumer groups it
coordinates). A data dir holding a cluster of another size is refused (Raft voters
cannot change by restarting with another count).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry

from broker.metrics.cluster_status import ClusterStatus
from broker.metrics.http import build_http_app
from contracts.broker_cluster import BrokerCluster
from contracts.fields import ConfigError, HostPort
from contracts.ready_file import BrokerReady
from synthetics.http import HttpServer
from tidewatch.brokers import Routes
from tidewatch.status_page.cluster import cluster_section

__all__ = ["CLUSTER_ID", "MAX_BROKERS", "LocalCluster"]

log = logging.getLogger(__name__)

CLUSTER_ID = "tidewatch-up"
MAX_BROKERS = 9  # every broker is a controller voter, all on this machine
CONTROLLED_SHUTDOWN_TIMEOUT_MS = 5_000
MAX_DEFAULT_REPLICATION_FACTOR = 3
DEFAULT_REFRESH_SECONDS = 1.0
_READ_TIMEOUT_SECONDS = 3.0


class LocalCluster:
    """See the module docstring. One owner (the platform's event loop) drives it."""

    def __init__(
        self,
        size: int,
        data_dir: Path,
        *,
        http: HostPort,
        cluster: str,
        registry: CollectorRegistry,
        routes: Routes,
        refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
    ) -> None:
        base_dir = data_dir / "brokers"
        _check_cluster_size(base_dir, size)
        self.data_dir = data_dir
        self.label = cluster
        self.refresh_seconds = refresh_seconds
        replication_factor = min(MAX_DEFAULT_REPLICATION_FACTOR, size)
        self.cluster = BrokerCluster(
            size,
            base_dir,
            {
                "cluster": cluster,
                "replication": {
                    "default_replication_factor": replication_factor,
                    "controlled_shutdown_timeout_ms": CONTROLLED_SHUTDOWN_TIMEOUT_MS,
                },
            },
            cluster_id=CLUSTER_ID,
        )
        app = build_http_app(registry, self.not_ready_reason, self.groups, routes)
        self._http = HttpServer(app, http.host, http.port)
        self._http_started = False
        self._views: dict[int, ClusterStatus | None] = dict.fromkeys(self.cluster.brokers)
        self._snapshots: dict[int, dict[str, Any] | None] = dict.fromkeys(self.cluster.brokers)
        self._refresher: asyncio.Task[None] | None = None
        self._started = time.monotonic()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start every broker (waiting until each serves), the HTTP server, and the
        background refresh of the brokers' views (one refresh done before returning)."""
        try:
            await asyncio.to_thread(self.cluster.start)
            await self._http.start()
            self._http_started = True
            await self.refresh()
        except BaseException:
            await self.stop()
            raise
        self._refresher = asyncio.create_task(self._refresh_forever(), name="cluster-view")

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        if self._http_started:
            await self._http.stop()
            self._http_started = False
        await asyncio.to_thread(self.cluster.stop)

    # -- where things are ----------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        return self.cluster.bootstrap

    @property
    def http_address(self) -> HostPort:
        return HostPort(self._http.host, self._http.port)

    @property
    def broker_metrics_urls(self) -> tuple[str, ...]:
        return tuple(f"{b.http_url}/metrics" for b in self.cluster.brokers.values())

    @property
    def broker_http_addresses(self) -> tuple[HostPort, ...]:
        addresses = (b.ready.http for b in self.cluster.brokers.values())
        return tuple(a for a in addresses if a is not None)

    def ready_info(self) -> BrokerReady:
        first = next(iter(self.cluster.brokers.values())).ready
        return BrokerReady(
            pid=os.getpid(),
            node_id=first.node_id,
            cluster=self.label,
            data_dir=self.data_dir.resolve(),
            kafka=first.kafka,
            advertised=first.advertised,
            http=self.http_address,
        )

    def broker_ready_infos(self) -> tuple[BrokerReady, ...]:
        return tuple(b.ready for b in self.cluster.brokers.values())

    # -- the brokers' views --------------------------------------------------------------

    async def refresh(self) -> None:
        """Read every broker's views once (a broker that does not answer shows so)."""
        timeout = aiohttp.ClientTimeout(total=_READ_TIMEOUT_SECONDS)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            nodes = list(self.cluster.brokers)
            views = await asyncio.gather(*(self._read_view(session, n) for n in nodes))
            snapshots = await asyncio.gather(*(self._read_snapshot(session, n) for n in nodes))
        self._views = dict(zip(nodes, views, strict=True))
        self._snapshots = dict(zip(nodes, snapshots, strict=True))

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds)  # a refresh period, not a wait on state
            try:
                await self.refresh()
            except Exception:
                log.exception("reading the brokers' views failed; retrying")

    async def _read_json(self, session: aiohttp.ClientSession, node: int, path: str) -> Any:
        broker = self.cluster.brokers[node]
        if not broker.running:
            return None
        try:
            async with session.get(f"{broker.http_url}{path}") as response:
                response.raise_for_status()
                return await response.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.debug("broker %d did not answer %s: %s", node, path, exc)
            return None

    async def _read_view(self, session: aiohttp.ClientSession, node: int) -> ClusterStatus | None:
        document = await self._read_json(session, node, "/status/cluster")
        if document is None:
            return None
        try:
            return ClusterStatus.from_json(document)
        except ValueError as exc:
            log.warning("broker %d served a cluster view this version cannot read: %s", node, exc)
            return None

    async def _read_snapshot(
        self, session: aiohttp.ClientSession, node: int
    ) -> dict[str, Any] | None:
        document = await self._read_json(session, node, "/api/status")
        return document if isinstance(document, dict) else None

    # -- the feed ------------------------------------------------------------------------

    def not_ready_reason(self) -> str | None:
        stopped = [n for n, b in self.cluster.brokers.items() if not b.running]
        if stopped:
            return f"broker {', '.join(map(str, stopped))} not running"
        if not any(self._views.values()):
            return "no broker has answered yet"
        return None

    def groups(self) -> list[dict[str, Any]]:
        """Every broker's consumer groups (each is coordinated by one broker; while a
        coordinator moves, the first broker listing a group wins)."""
        groups: dict[str, dict[str, Any]] = {}
        for snapshot in self._snapshots.values():
            for group in (snapshot or {}).get("groups", []):
                groups.setdefault(group["group"], group)
        return [groups[name] for name in sorted(groups)]

    def status(self) -> dict[str, Any]:
        cluster = cluster_section(self._views)
        leaders = {(p["topic"], p["partition"]): p["leader"] for p in cluster["partitions"]}
        partitions = [
            row
            for node, snapshot in self._snapshots.items()
            for row in (snapshot or {}).get("partitions", [])
            if leaders.get((row["topic"], row["partition"])) == node
        ]
        answered = [s["broker"] for s in self._snapshots.values() if s is not None]
        first = answered[0] if answered else {}
        return {
            "broker": {
                "bootstrap": self.bootstrap,
                "version": first.get("version"),
                "flush_policy": first.get("flush_policy"),
                "ready": self.not_ready_reason() is None,
                "uptime_seconds": time.monotonic() - self._started,
                "cluster": self.label,
                "node_id": None,
                "brokers": len(self.cluster.brokers),
            },
            "partitions": sorted(partitions, key=lambda p: (p["topic"], p["partition"])),
            "groups": self.groups(),
            "cluster": cluster,
        }


def _check_cluster_size(base_dir: Path, size: int) -> None:
    """Refuse a data dir that holds broker data dirs of a cluster of another size."""
    existing = sorted(p.name for p in base_dir.glob("b*") if p.is_dir())
    expected = [f"b{node}" for node in range(1, size + 1)]
    if existing and existing != sorted(expected):
        raise ConfigError(
            "",
            "--brokers",
            f"{base_dir} holds a cluster of {len(existing)} brokers, not {size}: start it "
            f"with --brokers {len(existing)} or use another --data-dir",
        )
