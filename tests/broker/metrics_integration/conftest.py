"""Fixtures of the broker metrics integration tests: two brokers after traffic, one
with the compatibility names on, scraped by a real Prometheus (one set per package
run: the Prometheus and promtool tests share them)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from contracts.launcher import BrokerProcess
from tests.broker.groups_integration.conftest import (  # noqa: F401 - fixtures
    pytest_configure,
    start_member,
)
from tests.broker.metrics_integration.prometheus import Prometheus
from tests.support import tools


@dataclass
class Scraped:
    prometheus: Prometheus
    default: BrokerProcess
    compat: BrokerProcess


def start_broker(directory: Path, name: str, config: dict[str, object]) -> BrokerProcess:
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return BrokerProcess(directory / name, "--config", str(path)).start()


@pytest.fixture(scope="package")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scraped]:
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
        targets = {
            "default": default.http_url.removeprefix("http://"),
            "compat": compat.http_url.removeprefix("http://"),
        }
        # Prometheus first: its first scrape takes seconds, the traffic meanwhile.
        prometheus = Prometheus(directory / "prom", targets)
        for broker in brokers:
            generate_traffic(broker.bootstrap)
        yield Scraped(prometheus, default, compat)
    finally:
        if prometheus is not None:
            prometheus.stop()
        for broker in brokers:
            broker.stop()
