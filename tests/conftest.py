"""Shared fixtures: real brokers in subprocesses on 127.0.0.1, stopped by PID."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.launcher import BrokerProcess
from tests.support.tools import require_tool


def pytest_runtest_setup(item: pytest.Item) -> None:
    """``@requires(TOOL)`` marks: skip, or fail under TIDEWATCH_REQUIRE_TOOLS, before any
    fixture starts a server for nothing."""
    for mark in item.iter_markers("requires_tools"):
        for tool in mark.args:
            require_tool(tool)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    """A fresh broker for one test."""
    process = BrokerProcess(tmp_path / "data").start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def shared_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """One broker for every test of a module (tests use distinct topic names)."""
    process = BrokerProcess(tmp_path_factory.mktemp("shared") / "data").start()
    try:
        yield process
    finally:
        process.stop()
