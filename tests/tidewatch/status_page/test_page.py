"""The status page's cluster section as headless Chromium renders it from a fixed feed
(the page served by ``add_status_routes`` on 127.0.0.1, port 0, in a thread)."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from tests.support import tools
from tests.tidewatch import browser
from tests.tidewatch.status_page.cluster_views import fixed_views
from tidewatch.status_page import add_status_routes
from tidewatch.status_page.cluster import cluster_section


def feed(cluster: dict[str, Any] | None) -> dict[str, Any]:
    """A status feed with nothing but its broker line and, when given, a cluster."""
    data: dict[str, Any] = {
        "broker": {"bootstrap": "127.0.0.1:40001,127.0.0.1:40002", "ready": True},
        "partitions": [],
        "groups": [],
        "slos": [],
        "slo_history": {},
        "probes": {"targets": []},
        "alerts": [],
    }
    if cluster is not None:
        data["cluster"] = cluster
    return data


@contextmanager
def serving(data: dict[str, Any]) -> Iterator[str]:
    """The status page serving ``data``; yields its URL."""
    loop = asyncio.new_event_loop()
    app = web.Application()
    add_status_routes(app, lambda: dict(data))
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.run_until_complete(runner.cleanup())
        loop.close()


@tools.requires(tools.CHROMIUM)
def test_the_cluster_section_shows_brokers_controller_and_flags_partitions() -> None:
    with serving(feed(cluster_section(fixed_views()))) as url:
        dom = browser.render(url)
    text = browser.text(dom)

    assert "Active controller: broker 2" in text
    assert "1 under-replicated · 1 offline" in text
    assert re.search(r"broker 1 127\.0\.0\.1:40001 alive voter", text), text
    assert re.search(r"broker 2 127\.0\.0\.1:40002 alive active controller · voter", text), text
    assert re.search(r"broker 3 127\.0\.0\.1:40003 fenced voter", text), text
    assert "orders[0] 1 1, 2, 3 1, 2, 3 in sync" in text
    assert "orders[1] 2 3, 2, 1 2, 1 under-replicated" in text
    assert "payments[0] none 3 3 offline" in text
    flagged = re.findall(r'<tr class="flagged[^"]*">\s*<td class="text">([^<]+)<', dom)
    assert flagged == ["orders[1]", "payments[0]"]


@tools.requires(tools.CHROMIUM)
def test_a_single_broker_feed_shows_no_cluster_section() -> None:
    with serving(feed(None)) as url:
        dom = browser.render(url)

    assert re.search(r'<section id="cluster-section" hidden', dom), dom
    assert "Kafka bootstrap 127.0.0.1:40001" in browser.text(dom)
