"""Fixtures of the interop suite: kcat must be installed, topic names are unique per
test, and a raw protocol client is at hand. Brokers come from tests/conftest.py
(``shared_broker`` per module, ``broker`` per test)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator

import pytest

from contracts.launcher import BrokerProcess
from tests.interop.wire import WireClient

_counter = itertools.count()
# Fixtures of this suite that are broker processes (besides tests/conftest.py's).
BROKER_FIXTURES = ("shared_broker", "broker", "fetch_broker", "durable_broker")
# What the broker logs when it drops a client or a handler fails.
TROUBLE = re.compile(r"closing connection|ERROR|Traceback")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "drops_connections: the test provokes the broker into closing a connection"
    )


@pytest.fixture(autouse=True)
def _broker_drops_no_client(request: pytest.FixtureRequest) -> Iterator[None]:
    """No client may be disconnected for a protocol violation, and no request may fail
    inside the broker, unless the test is about exactly that."""
    brokers: list[BrokerProcess] = [
        request.getfixturevalue(name) for name in BROKER_FIXTURES if name in request.fixturenames
    ]
    seen = [len(b.output()) for b in brokers]
    yield
    if request.node.get_closest_marker("drops_connections"):
        return
    for broker, before in zip(brokers, seen, strict=True):
        output = broker.output()
        new = output[before:] if len(output) >= before else output  # restarted: all new
        trouble = [line for line in new.splitlines() if TROUBLE.search(line)]
        assert not trouble, "the broker reported trouble:\n" + "\n".join(trouble)


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
