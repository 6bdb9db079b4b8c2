"""Notifications against a real Alertmanager (started here, on 127.0.0.1).

The engine's notifier posts a firing page alert to /api/v2/alerts; Alertmanager lists
it and delivers it to a webhook receiver; the notifier then posts it resolved and the
webhook receives the resolution.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from aiohttp import web

from contracts.launcher import free_port
from slo.engine import Engine
from slo.notify import AlertmanagerClient, AlertmanagerError, Notifier
from tests.slo.support import api_slo, serving
from tests.support import tools

ALERTMANAGER = tools.find_tool(tools.ALERTMANAGER)
pytestmark = tools.requires(tools.ALERTMANAGER)


class Webhook:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        return web.Response()


@pytest.fixture
async def webhook() -> AsyncIterator[tuple[Webhook, int]]:
    hook = Webhook()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    port = free_port()
    async with serving(app, port):
        yield hook, port


@pytest.fixture
def alertmanager(tmp_path: Path, webhook: tuple[Webhook, int]) -> Iterator[str]:
    assert ALERTMANAGER is not None
    _, hook_port = webhook
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        f"""
route:
  receiver: hook
  group_by: [alertname, sloth_id, severity]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:{hook_port}/hook
        send_resolved: true
"""
    )
    port = free_port()
    process = subprocess.Popen(
        [
            ALERTMANAGER,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + 20
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(f"{url}/-/ready") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("Alertmanager did not become ready")


async def _until(predicate: Any, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.2)
    raise AssertionError("condition not met in time")


def _burning_engine() -> tuple[Engine, Notifier]:
    slo = api_slo()
    engine = Engine([slo], step_seconds=60)
    notifier = Notifier([slo], 60, generator_url="http://tidewatch.test/status")
    return engine, notifier


async def test_firing_then_resolved_alerts_reach_alertmanager_and_its_receiver(
    alertmanager: str, webhook: tuple[Webhook, int]
) -> None:
    hook, _ = webhook
    await _wait_ready(alertmanager)
    client = AlertmanagerClient(alertmanager)
    engine, notifier = _burning_engine()
    now = int(time.time()) // 60 * 60
    start = now - 120 * 60
    for i in range(120):  # an hour clean, then an hour of 50% errors: page fires
        bad = 50.0 if i >= 60 else 0.0
        engine.record(start + i * 60, np.array([bad]), np.array([100.0]), np.array([True]))
    ev = engine.evaluate()
    assert ev.page[0]
    firing = notifier.step(ev)
    assert {a["labels"]["severity"] for a in firing} == {"page", "ticket"}
    await client.post(firing)

    async def listed() -> bool:
        async with (
            aiohttp.ClientSession() as s,
            s.get(f"{alertmanager}/api/v2/alerts") as r,
        ):
            alerts = await r.json()
        pages = [a for a in alerts if a["labels"].get("sloth_severity") == "page"]
        return bool(pages) and pages[0]["labels"]["sloth_id"] == "api-requests"

    await _until(listed)
    await _until(
        lambda: _async(
            any(
                a["status"] == "firing" and a["labels"]["severity"] == "page"
                for msg in hook.received
                for a in msg["alerts"]
            )
        )
    )
    page = next(
        a for msg in hook.received for a in msg["alerts"] if a["labels"]["severity"] == "page"
    )
    assert page["labels"]["alertname"] == "ApiRequestsBurnRate"
    assert page["annotations"]["runbook_url"] == "runbooks/slo-error-budget-burn.md"
    assert "1h/5m" in page["annotations"]["burn_rate_windows"]

    for i in range(120, 240):  # errors stop: the alert resolves
        engine.record(start + i * 60, np.array([0.0]), np.array([100.0]), np.array([True]))
    ev = engine.evaluate()
    assert not ev.page[0]
    update = notifier.step(ev)
    ends = {a["labels"]["severity"]: datetime.fromisoformat(a["endsAt"]) for a in update}
    # Resolved now; the ticket (1x over 3d/6h) still fires and is re-sent.
    assert ends["page"] <= datetime.now(UTC)
    assert ends["ticket"] > ends["page"]
    await client.post(update)
    await _until(
        lambda: _async(
            any(
                a["status"] == "resolved" and a["labels"]["severity"] == "page"
                for msg in hook.received
                for a in msg["alerts"]
            )
        )
    )
    assert [a["labels"]["severity"] for a in notifier.step(ev)] == ["ticket"]


async def _async(value: bool) -> bool:
    return value


async def test_an_unreachable_alertmanager_is_a_clear_error() -> None:
    client = AlertmanagerClient(f"http://127.0.0.1:{free_port()}", timeout_seconds=2)
    with pytest.raises(AlertmanagerError, match=r"127\.0\.0\.1"):
        await client.post([{"labels": {"alertname": "X"}}])
