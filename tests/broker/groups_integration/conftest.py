"""Fixtures for the consumer-group integration tests: members in subprocesses that are
always stopped, and brokers started with a YAML config file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts.launcher import BrokerProcess
from tests.broker.groups_integration.members import GroupMember


def pytest_configure(config: pytest.Config) -> None:
    # kafka-python 3.0 loads its protocol schemas with importlib.resources' legacy
    # read_text/open_text, deprecated since Python 3.11: not ours to fix.
    for api in ("read_text", "open_text"):
        config.addinivalue_line("filterwarnings", f"ignore:{api} is deprecated:DeprecationWarning")


@pytest.fixture
def start_member(tmp_path: Path) -> Iterator[Callable[..., GroupMember]]:
    """Start group members; every one still running at teardown is killed by PID."""
    started: list[GroupMember] = []

    def start(family: str, bootstrap: str, group: str, topic: str, **kwargs: Any) -> GroupMember:
        name = kwargs.pop("name", f"{family}-{len(started)}")
        member = GroupMember(family, bootstrap, group, topic, tmp_path, name, **kwargs)
        started.append(member)
        return member

    yield start
    for member in started:
        member.kill()


@pytest.fixture
def configured_broker(tmp_path: Path) -> Iterator[Callable[..., BrokerProcess]]:
    """Start brokers with a config file built from a mapping; stopped at teardown."""
    brokers: list[BrokerProcess] = []

    def start(config: dict[str, Any], *args: str, name: str = "broker") -> BrokerProcess:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        process = BrokerProcess(tmp_path / name, "--config", str(path), *args).start()
        brokers.append(process)
        return process

    yield start
    for process in brokers:
        process.stop()
