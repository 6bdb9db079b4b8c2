"""``tidewatch up`` end to end: a subprocess, real clients, the status page rendered by
headless Chromium, a clean stop, and a clear error for a port already in use."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

from contracts.launcher import UpProcess, free_port
from tests.support import tools
from tests.tidewatch import browser

ARTIFACTS = Path(os.environ.get("TIDEWATCH_ARTIFACTS", "artifacts"))


FAST = ("--probe-interval", "0.5", "--slo-step", "2")


def start_up(data_dir: Path) -> UpProcess:
    """``tidewatch up`` on port 0 with fast probe rounds and SLO steps, once ready."""
    return UpProcess(data_dir, *FAST).start()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[UpProcess]:
    up = start_up(tmp_path / "data")
    try:
        yield up
    finally:
        up.stop()


def _port_free(address: str) -> bool:
    """Nothing listens there: a connection is refused (TIME_WAIT leftovers of closed
    connections do not count as a listening port)."""
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def _feed(page: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{page}/api/status", timeout=10) as response:
        feed: dict[str, Any] = json.loads(response.read())
    return feed


def _worth_rendering(page: str) -> bool:
    """The feed has evaluated SLOs, a probe that produced and consumed, and the billing
    group 10 records behind: what the page is checked for."""
    feed = _feed(page)
    probes = feed["probes"]["targets"]
    groups = {g["group"]: g for g in feed["groups"]}
    return (
        bool(feed["slos"])
        and bool(probes)
        and (probes[0]["produced"] or 0) > 0
        and (probes[0]["consumed"] or 0) > 0
        and groups.get("billing", {}).get("lag_records") == 10
    )


@tools.requires(tools.CHROMIUM)
def test_the_status_page_shows_slos_probe_results_and_group_lag(
    running: UpProcess,
) -> None:
    bootstrap = running.bootstrap
    page = running.status_page_url.rstrip("/")
    producer = Producer({"bootstrap.servers": bootstrap})
    produced_at = time.time()
    for i in range(20):
        producer.produce(
            "orders", value=b"order-%d" % i, timestamp=int(produced_at * 1000) - 30_000
        )
    producer.flush(10)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "billing",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe(["orders"])
    read = 0
    deadline = time.monotonic() + 60  # bounds a hang only
    while read < 10 and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            read += 1
            if read == 10:
                consumer.commit(message=message, asynchronous=False)
    consumer.close()
    assert read == 10
    deadline = time.monotonic() + 60  # bounds a hang only
    while not _worth_rendering(page):
        assert time.monotonic() < deadline, f"the status feed never filled: {_feed(page)}"
        time.sleep(0.2)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "status-page.png"
    text = browser.text(browser.render(running.status_page_url, shot))
    assert shot.exists() and shot.stat().st_size > 10_000

    assert "Kafka bootstrap " + bootstrap in text
    assert "ready" in text
    # SLOs: the built-in set is evaluated and has data.
    for slo in ("broker-produce-availability", "consumer-lag", "probe-data-loss"):
        assert f"tidewatch/{slo}" in text
    # Probe: healthy, records produced and consumed, nothing lost.
    probe_row = re.search(r"local healthy (\S+)% \S+ ms \S+ ms (\d+) (\d+) (\d+) (\d+)", text)
    assert probe_row is not None, text
    availability, produced, consumed, lost, duplicates = probe_row.groups()
    assert float(availability) > 99.0
    assert int(produced) > 0
    assert int(consumed) > 0
    assert int(lost) == 0
    assert int(duplicates) == 0
    # The group: 10 of 20 records consumed, so 10 behind, about 30 s old.
    group_row = re.search(r"billing (Empty|Stable) \d+ (OK|WARN|STALL|STOP) 10 ([\d.]+) s", text)
    assert group_row is not None, text
    # Stamped 30 s before they were produced, so as old as that plus the test's time.
    assert 30 - 1 <= float(group_row.group(3)) <= 30 + (time.time() - produced_at) + 1
    assert "orders[0]" in text


def test_stopping_leaves_no_process_and_no_listening_port(tmp_path: Path) -> None:
    up = start_up(tmp_path / "data")
    pid, bootstrap, http = up.pid, up.bootstrap, up.ready.broker.http
    assert not _port_free(bootstrap)
    assert up.stop() == 0
    assert "tidewatch stopped." in up.output()
    assert not up.ready_path.exists()
    assert _port_free(bootstrap)
    assert _port_free(str(http))
    children = subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False
    )
    assert children.stdout.strip() == ""


def test_a_second_instance_on_the_same_port_fails_with_a_message_naming_it(
    running: UpProcess, tmp_path: Path
) -> None:
    bootstrap = running.bootstrap
    second = subprocess.run(
        [
            sys.executable,
            "-m",
            "tidewatch",
            "up",
            "--data-dir",
            str(tmp_path / "other"),
            "--listen",
            bootstrap,
            "--http",
            "127.0.0.1:0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert second.returncode != 0
    message = second.stderr.strip().splitlines()[-1]
    assert bootstrap in message
    assert "in use" in message.lower()


@tools.requires(tools.PROMETHEUS, tools.ALERTMANAGER)
def test_with_prometheus_runs_prometheus_and_alertmanager_with_the_generated_rules(
    tmp_path: Path,
) -> None:
    prometheus, alertmanager = free_port(), free_port()
    up = UpProcess(
        tmp_path / "data",
        *FAST,
        "--with-prometheus",
        "--prometheus",
        f"127.0.0.1:{prometheus}",
        "--alertmanager",
        f"127.0.0.1:{alertmanager}",
    )
    try:
        up.start()
        assert up.ready.prometheus_url == f"http://127.0.0.1:{prometheus}"
        assert up.ready.alertmanager_url == f"http://127.0.0.1:{alertmanager}"

        def query(path: str) -> dict[str, Any]:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{prometheus}{path}", timeout=5
            ) as response:
                document: dict[str, Any] = json.loads(response.read())
            return document

        deadline = time.monotonic() + 40
        scraped = False
        while time.monotonic() < deadline and not scraped:
            try:
                result = query("/api/v1/query?query=up")["data"]["result"]
                scraped = any(r["value"][1] == "1" for r in result)
            except OSError:
                pass
            time.sleep(0.5)
        assert scraped, "Prometheus never scraped the platform"
        groups = query("/api/v1/rules")["data"]["groups"]
        names = {g["name"] for g in groups}
        assert any("tidewatch" in n for n in names)
        assert len(groups) >= 5
        with urllib.request.urlopen(
            f"http://127.0.0.1:{alertmanager}/-/ready", timeout=5
        ) as response:
            assert response.status == 200
    finally:
        assert up.stop() == 0
    assert _port_free(f"127.0.0.1:{prometheus}")
    assert _port_free(f"127.0.0.1:{alertmanager}")
