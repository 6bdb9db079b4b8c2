"""The generated Alertmanager configuration: amtool accepts it, pages and tickets reach
their receivers, and a real Alertmanager inhibits what the configuration says it does."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alerts.alertmanager import RECEIVER_PAGE, RECEIVER_TICKET
from alerts.build import ALERTMANAGER_FILE, build
from alerts.replication import DOWN_BROKER_TICKETS
from contracts.alerts import (
    ACTIVE_CONTROLLER_COUNT,
    BROKER_DISK_NEARLY_FULL,
    BROKER_FENCED,
    BROKER_STORAGE_ERRORS,
    BROKER_UNREACHABLE,
    CONSUMER_LAG_BEYOND_SLA,
    CONSUMER_LAG_STATUS,
    FOLLOWER_LAG_HIGH,
    ISR_FLAPPING,
    OFFLINE_PARTITIONS,
    PROBE_RECORDS_LOST,
    REPLICATION_ALERTS,
    REQUEST_ERRORS_HIGH,
    RETENTION_HEADROOM_LOW,
    UNCLEAN_LEADER_ELECTION,
    UNDER_MIN_ISR,
    UNDER_REPLICATED_PARTITIONS,
)
from contracts.launcher import free_port
from tests.alerts.support import AMTOOL, needs_amtool
from tests.support import tools

CONFIG = build().files[ALERTMANAGER_FILE]


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / ALERTMANAGER_FILE
    path.write_text(CONFIG, encoding="utf-8")
    return path


def _amtool(*args: str) -> str:
    assert AMTOOL is not None
    result = subprocess.run(
        [AMTOOL, *args], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@needs_amtool
def test_amtool_accepts_the_generated_configuration(config_file: Path) -> None:
    out = _amtool("check-config", str(config_file))
    assert "SUCCESS" in out


ROUTES = {
    "a_page_reaches_the_page_receiver": (
        ["severity=page", "alertname=TidewatchBrokerUnreachable", "cluster=local"],
        RECEIVER_PAGE,
    ),
    "an_slo_page_reaches_the_page_receiver": (
        ["severity=page", "sloth_severity=page", "sloth_id=tidewatch-consumer-lag"],
        RECEIVER_PAGE,
    ),
    "a_ticket_reaches_the_ticket_receiver": (
        ["severity=ticket", "alertname=TidewatchPartitionHotSpot", "topic=orders"],
        RECEIVER_TICKET,
    ),
    "a_replication_page_reaches_the_page_receiver": (
        ["severity=page", f"alertname={UNDER_MIN_ISR}", "cluster=local", "topic=orders"],
        RECEIVER_PAGE,
    ),
    "a_replication_ticket_reaches_the_ticket_receiver": (
        ["severity=ticket", f"alertname={FOLLOWER_LAG_HIGH}", "cluster=local", "replica=2"],
        RECEIVER_TICKET,
    ),
    "an_alert_without_severity_falls_back_to_tickets": (
        ["alertname=SomethingUnlabelled"],
        RECEIVER_TICKET,
    ),
}


@needs_amtool
@pytest.mark.parametrize("case", sorted(ROUTES))
def test_amtool_routes_alerts_by_severity(config_file: Path, case: str) -> None:
    labels, receiver = ROUTES[case]
    out = _amtool("config", "routes", "test", f"--config.file={config_file}", *labels)
    assert out.split() == [receiver]


# --- inhibition, on a real Alertmanager ----------------------------------------------------


@pytest.fixture
def alertmanager(config_file: Path, tmp_path: Path) -> Iterator[str]:
    alertmanager_path = tools.require_tool(tools.ALERTMANAGER)
    port = free_port()
    storage = tmp_path / "am-data"
    storage.mkdir()
    process = subprocess.Popen(
        [
            alertmanager_path,
            f"--config.file={config_file}",
            f"--storage.path={storage}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        assert process.stderr is not None
        process.stderr.close()


def _post(url: str, alerts: list[dict[str, str]]) -> None:
    body = json.dumps([{"labels": labels} for labels in alerts]).encode()
    request = urllib.request.Request(
        f"{url}/api/v2/alerts", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


Key = Callable[[dict[str, str]], tuple[str, str]]


def _by_name_and_severity(labels: dict[str, str]) -> tuple[str, str]:
    return labels["alertname"], labels.get("severity", "")


def _states(url: str, key: Key = _by_name_and_severity) -> dict[tuple[str, str], dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=5) as response:
        alerts = json.loads(response.read())
    return {key(a["labels"]): a for a in alerts}


def _inhibited(
    url: str, expected: set[tuple[str, str]], n: int, key: Key = _by_name_and_severity
) -> dict[tuple[str, str], bool]:
    """Poll until all ``n`` alerts are known and the expected ones inhibited (bounded)."""
    deadline = time.monotonic() + 15
    while True:
        states = _states(url, key)
        inhibited = {k: bool(v["status"]["inhibitedBy"]) for k, v in states.items()}
        done = len(states) == n and all(inhibited.get(k) for k in expected)
        if done or time.monotonic() > deadline:
            return inhibited
        time.sleep(0.2)


SLO = {"sloth_id": "tidewatch-broker-produce-availability", "service": "tidewatch"}
LAG = {"cluster": "local", "group": "billing", "topic": "orders", "service": "tidewatch"}


def test_a_page_silences_the_ticket_of_the_same_slo_but_not_of_another(alertmanager: str) -> None:
    name = "TidewatchBrokerProduceAvailabilityBurnRate"
    other = {"sloth_id": "tidewatch-broker-fetch-availability", "service": "tidewatch"}
    _post(
        alertmanager,
        [
            {"alertname": name, "severity": "page", **SLO},
            {"alertname": name, "severity": "ticket", **SLO},
            {
                "alertname": "TidewatchBrokerFetchAvailabilityBurnRate",
                "severity": "ticket",
                **other,
            },
        ],
    )
    inhibited = _inhibited(alertmanager, {(name, "ticket")}, 3)
    assert inhibited == {
        (name, "page"): False,
        (name, "ticket"): True,
        ("TidewatchBrokerFetchAvailabilityBurnRate", "ticket"): False,
    }


def test_an_unreachable_broker_silences_lag_alerts_of_its_cluster_only(alertmanager: str) -> None:
    _post(
        alertmanager,
        [
            {"alertname": BROKER_UNREACHABLE, "severity": "page", "cluster": "local"},
            {"alertname": CONSUMER_LAG_BEYOND_SLA, "severity": "page", **LAG},
            {"alertname": PROBE_RECORDS_LOST, "severity": "page", "cluster": "local"},
            {
                "alertname": CONSUMER_LAG_STATUS,
                "severity": "ticket",
                **LAG,
                "cluster": "other",
            },
        ],
    )
    expected = {(CONSUMER_LAG_BEYOND_SLA, "page"), (PROBE_RECORDS_LOST, "page")}
    inhibited = _inhibited(alertmanager, expected, 4)
    assert inhibited == {
        (BROKER_UNREACHABLE, "page"): False,
        (CONSUMER_LAG_BEYOND_SLA, "page"): True,
        (PROBE_RECORDS_LOST, "page"): True,
        (CONSUMER_LAG_STATUS, "ticket"): False,
    }


def test_a_retention_page_silences_its_ticket_for_the_same_group_and_topic(
    alertmanager: str,
) -> None:
    name = RETENTION_HEADROOM_LOW
    _post(
        alertmanager,
        [
            {"alertname": name, "severity": "page", **LAG},
            {"alertname": name, "severity": "ticket", **LAG},
            {"alertname": BROKER_STORAGE_ERRORS, "severity": "page", "cluster": "local"},
            {"alertname": REQUEST_ERRORS_HIGH, "severity": "ticket", "cluster": "local"},
        ],
    )
    expected = {(name, "ticket"), (REQUEST_ERRORS_HIGH, "ticket")}
    inhibited = _inhibited(alertmanager, expected, 4)
    assert inhibited == {
        (name, "page"): False,
        (name, "ticket"): True,
        (BROKER_STORAGE_ERRORS, "page"): False,
        (REQUEST_ERRORS_HIGH, "ticket"): True,
    }


def test_a_disk_page_silences_the_disk_ticket_of_the_same_broker_only(alertmanager: str) -> None:
    name = BROKER_DISK_NEARLY_FULL
    node = {"cluster": "local", "service": "tidewatch"}
    _post(
        alertmanager,
        [
            {"alertname": name, "severity": "page", "broker": "0", **node},
            {"alertname": name, "severity": "ticket", "broker": "0", **node},
            {"alertname": name, "severity": "ticket", "broker": "1", **node},
        ],
    )
    deadline = time.monotonic() + 15
    while True:
        with urllib.request.urlopen(f"{alertmanager}/api/v2/alerts", timeout=5) as response:
            alerts = json.loads(response.read())
        inhibited = {
            (a["labels"]["severity"], a["labels"]["broker"]): bool(a["status"]["inhibitedBy"])
            for a in alerts
        }
        if inhibited.get(("ticket", "0")) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert inhibited == {("page", "0"): False, ("ticket", "0"): True, ("ticket", "1"): False}


# The subject labels each replication alert carries (alerts/replication.py).
REPLICATION_SUBJECTS: dict[str, dict[str, str]] = {
    OFFLINE_PARTITIONS: {"topic": "orders"},
    UNDER_MIN_ISR: {"topic": "orders"},
    ACTIVE_CONTROLLER_COUNT: {},
    UNCLEAN_LEADER_ELECTION: {},
    UNDER_REPLICATED_PARTITIONS: {"topic": "orders"},
    FOLLOWER_LAG_HIGH: {"replica": "2"},
    ISR_FLAPPING: {"broker": "1"},
    BROKER_FENCED: {"node": "2"},
}


def _replication_alert(name: str, cluster: str) -> dict[str, str]:
    severity = "ticket" if name in DOWN_BROKER_TICKETS else "page"
    return {
        "alertname": name,
        "severity": severity,
        "service": "tidewatch",
        "cluster": cluster,
        **REPLICATION_SUBJECTS[name],
    }


def _by_name_and_cluster(labels: dict[str, str]) -> tuple[str, str]:
    return labels["alertname"], labels["cluster"]


def test_a_down_broker_silences_the_replication_tickets_of_its_cluster_never_the_pages(
    alertmanager: str,
) -> None:
    # Broker 2 of "local" is down: its partitions are under-replicated, its follower lag
    # grows, the controller fences it, ISRs shrink -- and, worse, some partitions went
    # below min ISR or offline, which must still page. Cluster "other" is unaffected.
    assert set(REPLICATION_SUBJECTS) == set(REPLICATION_ALERTS)
    down = {"alertname": BROKER_UNREACHABLE, "severity": "page", "cluster": "local"}
    local = [_replication_alert(name, "local") for name in REPLICATION_ALERTS]
    other = [_replication_alert(name, "other") for name in DOWN_BROKER_TICKETS]
    _post(alertmanager, [down, *local, *other])
    expected = {(name, "local") for name in DOWN_BROKER_TICKETS}
    n = 1 + len(local) + len(other)
    inhibited = _inhibited(alertmanager, expected, n, key=_by_name_and_cluster)
    assert inhibited == {
        (BROKER_UNREACHABLE, "local"): False,
        **{(name, "local"): name in DOWN_BROKER_TICKETS for name in REPLICATION_ALERTS},
        **{(name, "other"): False for name in DOWN_BROKER_TICKETS},
    }
    assert set(DOWN_BROKER_TICKETS) == {
        UNDER_REPLICATED_PARTITIONS,
        FOLLOWER_LAG_HIGH,
        ISR_FLAPPING,
        BROKER_FENCED,
    }


def test_a_replication_page_is_not_silenced_even_if_it_shared_a_ticket_name(
    alertmanager: str,
) -> None:
    # The down-broker rule matches tickets only: a page of one of those alert names (none
    # exists today) would still go out, while the ticket next to it is silenced.
    down = {"alertname": BROKER_UNREACHABLE, "severity": "page", "cluster": "local"}
    ticket = {**_replication_alert(UNDER_REPLICATED_PARTITIONS, "local"), "topic": "audit"}
    page = {**_replication_alert(UNDER_REPLICATED_PARTITIONS, "local"), "severity": "page"}
    _post(alertmanager, [down, ticket, page])
    inhibited = _inhibited(alertmanager, {(UNDER_REPLICATED_PARTITIONS, "ticket")}, 3)
    assert inhibited == {
        (BROKER_UNREACHABLE, "page"): False,
        (UNDER_REPLICATED_PARTITIONS, "ticket"): True,
        (UNDER_REPLICATED_PARTITIONS, "page"): False,
    }
