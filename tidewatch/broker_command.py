"""``tidewatch broker``: the broker's command with the status page on its HTTP server.

The broker package knows nothing of the status page; this is where the two meet,
through the broker's HTTP route hook (``broker.cli.RoutesFor``).
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from broker.app import BrokerApp
from broker.cli import broker_command
from tidewatch.status_page import add_status_routes

__all__ = ["broker"]


def status_page_routes(app: BrokerApp) -> Callable[[web.Application], None]:
    """The status page (``/``) fed by the broker's own snapshot."""
    return lambda http: add_status_routes(http, app.status_snapshot)


broker = broker_command(routes_for=status_page_routes)
