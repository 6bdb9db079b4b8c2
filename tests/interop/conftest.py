"""Fixtures of the interop suite: kcat must be installed, topic names are unique per
test, and a raw protocol client is at hand. Brokers come from tests/conftest.py
(``shared_broker`` per module, ``broker`` per test)."""

from __future__ import annotations

import itertools
import re
import shutil
from collections.abc import Callable, Iterator

import pytest

from tests.interop.wire import WireClient
from tests.support.broker_process import BrokerProcess

_counter = itertools.count()


@pytest.fixture(scope="session", autouse=True)
def _kcat_installed() -> None:
    if shutil.which("kcat") is None:
        pytest.fail("kcat is not installed: run scripts/install-system-deps.sh (Debian kcat)")


@pytest.fixture
def new_topic(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Make a topic name unique in the run, readable from the test's name."""
    stem = re.sub(r"[^a-zA-Z0-9._-]+", "-", request.node.name).strip("-")[:80]

    def make(suffix: str = "") -> str:
        return f"{stem}{'-' + suffix if suffix else ''}-{next(_counter)}"

    return make


@pytest.fixture
def topic(new_topic: Callable[[str], str]) -> str:
    return new_topic("")


@pytest.fixture
def wire(shared_broker: BrokerProcess) -> Iterator[WireClient]:
    with WireClient(shared_broker.bootstrap) as client:
        yield client
