"""Fixtures for the robustness tests: brokers started with a config file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.launcher import BrokerProcess
from tests.broker.robustness.support import write_config

StartBroker = Callable[..., BrokerProcess]


@pytest.fixture
def start_broker(tmp_path: Path) -> Iterator[StartBroker]:
    """A factory: ``start_broker(config={...}, data_dir=..., *extra_args)`` starts a broker
    whose YAML config file holds ``config``; every broker it started is stopped at the end.
    Only the broker's own data goes to ``data_dir``."""
    started: list[BrokerProcess] = []

    def start(
        *args: str, config: dict[str, Any] | None = None, data_dir: Path | None = None
    ) -> BrokerProcess:
        n = len(started)
        extra = list(args)
        if config is not None:
            extra += ["--config", str(write_config(tmp_path / f"broker-{n}.yaml", config))]
        # The log and ready files stay in tmp_path even when ``data_dir`` is elsewhere
        # (the full-disk tests' tmpfs): they must not take space from the disk under test.
        process = BrokerProcess(
            data_dir or tmp_path / f"data-{n}",
            *extra,
            log_path=tmp_path / f"broker-{n}.log",
            ready_path=tmp_path / f"broker-{n}-ready.json",
        )
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()
