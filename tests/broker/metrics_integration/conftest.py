"""Fixtures of the broker metrics integration tests: two brokers after traffic, one
with the compatibility names on, and a three-broker cluster (compatibility names on,
a replicated topic), all scraped by a real Prometheus (one set per package run: the
Prometheus, promtool and replication metrics tests share them)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from contracts.broker_cluster import BrokerCluster
from contracts.launcher import BrokerProcess
from tests.broker.groups_integration.conftest import (  # noqa: F401 - fixtures
    pytest_configure,
    start_member,
)
from tests.broker.metrics_integration.prometheus import Prometheus
from tests.support import tools
from tests.support.clusters import create_topic, running_cluster

# A topic on every broker of the cluster (one partition led by each): follower lag
# series exist from the start.
REPLICATED_TOPIC = "replicated"


@dataclass
class Scraped:
    prometheus: Prometheus
    default: BrokerProcess
    compat: BrokerProcess
    cluster: BrokerCluster


def start_broker(directory: Path, name: str, config: dict[str, object]) -> BrokerProcess:
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return BrokerProcess(directory / name, "--config", str(path)).start()


@pytest.fixture(scope="package")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerCluster]:
    """Three brokers (cluster label ``scraped``, compatibility names on) with
    ``REPLICATED_TOPIC``: three partitions, replication factor 3, all in sync."""
    config = {"cluster": "scraped", "metrics": {"compat": True}}
    with running_cluster(3, tmp_path_factory.mktemp("replicated"), config) as cluster:
        create_topic(cluster.bootstrap, REPLICATED_TOPIC, partitions=3)
        for partition in range(3):
            cluster.wait_for_isr(REPLICATED_TOPIC, partition, {1, 2, 3})
        yield cluster


@pytest.fixture(scope="package")
def scraped(
    tmp_path_factory: pytest.TempPathFactory, replicated: BrokerCluster
) -> Iterator[Scraped]:
    tools.require_tool(tools.PROMETHEUS)
    # Imported here, once pytest_configure has silenced kafka-python's deprecations.
    from tests.broker.metrics_integration.traffic import generate_traffic

    directory = tmp_path_factory.mktemp("prometheus")
    brokers: list[BrokerProcess] = []
    prometheus: Prometheus | None = None
    try:
        brokers.append(start_broker(directory, "default", {"cluster": "scraped"}))
        brokers.append(
            start_broker(directory, "compat", {"cluster": "scraped", "metrics": {"compat": True}})
        )
        default, compat = brokers
        targets: dict[str, str | list[str]] = {
            "default": default.http_url.removeprefix("http://"),
            "compat": compat.http_url.removeprefix("http://"),
            "cluster": [b.http_url.removeprefix("http://") for b in replicated.brokers.values()],
        }
        # Prometheus first: its first scrape takes seconds, the traffic meanwhile.
        prometheus = Prometheus(directory / "prom", targets)
        for broker in brokers:
            generate_traffic(broker.bootstrap)
        yield Scraped(prometheus, default, compat, replicated)
    finally:
        if prometheus is not None:
            prometheus.stop()
        for broker in brokers:
            broker.stop()
