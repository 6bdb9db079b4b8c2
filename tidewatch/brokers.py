"""What ``tidewatch up`` runs its probe, SLO engine and status page against.

``Brokers`` is the platform's one view of its Kafka side, with two shapes:

- ``EmbeddedBroker`` (the default): one broker in the platform's own process. Its HTTP
  server is the platform's: it serves the status page and the shared registry, so one
  ``/metrics`` carries broker, probe and SLO series.
- ``tidewatch.local_cluster.LocalCluster`` (``--brokers N``): N broker processes forming
  one cluster, and an HTTP server of the platform's own for the page and its metrics.

Either serves the platform's HTTP routes (``routes``) and its registry once started.
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry

from broker.app import BrokerApp
from broker.config import BrokerConfig
from contracts.fields import HostPort
from contracts.ready_file import BrokerReady

__all__ = ["Brokers", "EmbeddedBroker", "Routes"]


class Routes(Protocol):
    def __call__(self, app: web.Application, /) -> None: ...


class Brokers(Protocol):
    """The Kafka side of the platform. Addresses are known only after ``start``;
    ``stop`` undoes whatever ``start`` did, even half of it."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    @property
    def bootstrap(self) -> str:
        """Every broker's Kafka address, comma-separated."""
        ...

    @property
    def http_address(self) -> HostPort:
        """Where the platform's page, health and metrics are served."""
        ...

    @property
    def broker_metrics_urls(self) -> tuple[str, ...]:
        """Broker ``/metrics`` endpoints other than the platform's own."""
        ...

    def ready_info(self) -> BrokerReady:
        """The broker fields of the ``up`` ready file (pid: this process)."""
        ...

    def broker_ready_infos(self) -> tuple[BrokerReady, ...]:
        """Each broker process's ready document; empty when the broker is in-process."""
        ...

    def status(self) -> dict[str, Any]:
        """The status page feed's broker part: ``broker``, ``partitions``, ``groups``
        and, for a cluster, ``cluster``."""
        ...


class EmbeddedBroker:
    """One broker in this process, hosting the platform's HTTP routes and registry."""

    def __init__(self, config: BrokerConfig, registry: CollectorRegistry, routes: Routes) -> None:
        self.app = BrokerApp(config, registry=registry)
        self.app.http_routes = routes

    async def start(self) -> None:
        await self.app.start()

    async def stop(self) -> None:
        await self.app.stop()

    @property
    def bootstrap(self) -> str:
        assert self.app.bootstrap is not None, "the broker has not started"
        return str(self.app.bootstrap)

    @property
    def http_address(self) -> HostPort:
        assert self.app.http_address is not None, "the broker has not started"
        return self.app.http_address

    @property
    def broker_metrics_urls(self) -> tuple[str, ...]:
        return ()  # the broker's metrics are on the platform's own endpoint

    def ready_info(self) -> BrokerReady:
        return self.app.ready_info()

    def broker_ready_infos(self) -> tuple[BrokerReady, ...]:
        return ()

    def status(self) -> dict[str, Any]:
        return self.app.status_snapshot()
