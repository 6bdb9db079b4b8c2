"""``tidewatch up --brokers 3`` end to end: three broker processes, the status feed and
page showing the cluster (brokers, controller, replica sets), Prometheus scraping every
broker, and a stop that leaves no broker process behind. ``--brokers`` validation runs
in-process (no processes)."""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from confluent_kafka import Producer

from contracts.launcher import UpProcess, free_port
from tests.support import tools
from tests.tidewatch import browser
from tidewatch.cli import cli

ARTIFACTS = Path(os.environ.get("TIDEWATCH_ARTIFACTS", "artifacts"))
FAST = ("--probe-interval", "0.5", "--slo-step", "2")
WAIT_SECONDS = 90.0  # bounds a hang only


def _feed(page: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{page}/api/status", timeout=10) as response:
        feed: dict[str, Any] = json.loads(response.read())
    return feed


def _wait_for_feed(page: str, condition: Callable[[dict[str, Any]], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition(feed := _feed(page)):
        assert time.monotonic() < deadline, f"waited for {what}; the feed: {feed}"
        time.sleep(0.2)


def _settled(feed: dict[str, Any]) -> bool:
    """Three alive brokers, a controller, and every partition of the probe topic and of
    'orders' with three replicas, all in sync."""
    cluster = feed.get("cluster") or {}
    partitions = cluster.get("partitions", [])
    topics = {p["topic"] for p in partitions}
    return (
        [b["state"] for b in cluster.get("brokers", [])] == ["alive"] * 3
        and cluster.get("controller_id") in (1, 2, 3)
        and {"orders", "tidewatch-probe"} <= topics
        and all(len(p["replicas"]) == 3 and sorted(p["isr"]) == [1, 2, 3] for p in partitions)
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@tools.requires(tools.CHROMIUM)
def test_up_with_three_brokers_shows_the_cluster_and_stops_every_broker(tmp_path: Path) -> None:
    up = UpProcess(tmp_path / "data", *FAST, "--brokers", "3")
    try:
        up.start()
        brokers = up.ready.brokers
        assert [b.node_id for b in brokers] == [1, 2, 3]
        assert len({b.pid for b in brokers} | {up.pid}) == 4
        assert up.bootstrap == ",".join(b.bootstrap for b in brokers)
        producer = Producer({"bootstrap.servers": up.bootstrap})
        producer.produce("orders", value=b"first order")
        assert producer.flush(30) == 0
        page = up.status_page_url.rstrip("/")

        _wait_for_feed(page, _settled, "three brokers, a controller and in-sync replicas")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        text = browser.text(browser.render(up.status_page_url, ARTIFACTS / "status-cluster.png"))

        # The feed was settled; the page is checked for what it draws (a busy machine
        # may fence a broker or shrink an ISR in between, and the page would say so).
        assert re.search(r"Active controller: broker [123] · 3 brokers", text), text
        for broker in brokers:
            assert re.search(rf"broker {broker.node_id} {broker.bootstrap} [a-z ]+ ", text), text
        replicas = r"[123] ([123], ){2}[123] ([123], )*[123]"
        assert re.search(rf"orders\[0\] {replicas} (in sync|under-replicated)", text), text
        assert re.search(rf"tidewatch-probe\[0\] {replicas} ", text), text
    finally:
        code = up.stop(grace_seconds=120)  # bounds a hang only
    assert code == 0
    assert "tidewatch stopped." in up.output()
    assert [b.pid for b in brokers if _alive(b.pid)] == []


def _scraped_up(prometheus: str) -> dict[str, str] | None:
    """Prometheus's ``up`` series that are 1: the job of each instance (None while
    Prometheus does not answer yet)."""
    try:
        query = f"{prometheus}/api/v1/query?query=up"
        with urllib.request.urlopen(query, timeout=10) as response:
            result = json.loads(response.read())["data"]["result"]
    except OSError:
        return None
    return {s["metric"]["instance"]: s["metric"]["job"] for s in result if s["value"][1] == "1"}


@tools.requires(tools.PROMETHEUS, tools.ALERTMANAGER)
def test_with_prometheus_every_broker_is_scraped_as_a_broker_and_the_platform_apart(
    tmp_path: Path,
) -> None:
    prometheus, alertmanager = free_port(), free_port()
    up = UpProcess(
        tmp_path / "data",
        *FAST,
        *("--brokers", "3", "--with-prometheus"),
        *("--prometheus", f"127.0.0.1:{prometheus}", "--alertmanager", f"127.0.0.1:{alertmanager}"),
    )
    try:
        up.start()
        url = up.ready.prometheus_url
        assert url is not None
        brokers = {str(b.http): "tidewatch-broker" for b in up.ready.brokers}
        wanted = {**brokers, str(up.ready.broker.http): "tidewatch-probe"}
        deadline = time.monotonic() + WAIT_SECONDS
        while (scraped := _scraped_up(url)) != wanted:
            assert time.monotonic() < deadline, f"scraped {scraped}, wanted {wanted}"
            time.sleep(0.5)
    finally:
        assert up.stop(grace_seconds=120) == 0  # bounds a hang only


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--brokers", "0"], "0 is not in the range 1<=x<=9", id="zero brokers"),
        pytest.param(["--brokers", "10"], "10 is not in the range 1<=x<=9", id="ten brokers"),
        pytest.param(["--brokers", "two"], "'two' is not a valid integer", id="not a number"),
        pytest.param(
            ["--brokers", "3", "--listen", "127.0.0.1:9092"],
            "with --brokers 3 every broker binds 127.0.0.1 on a free port",
            id="a fixed listener for a cluster",
        ),
    ],
)
def test_a_bad_broker_count_is_refused_with_its_reason(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["up", *args])

    assert result.exit_code == 2
    assert message in result.output


def test_help_documents_the_broker_count() -> None:
    result = CliRunner().invoke(cli, ["up", "--help"])

    assert result.exit_code == 0
    assert "--brokers INTEGER RANGE" in result.output
