"""A poll that meets a retriable Kafka error (a leader or coordinator moved under the
clients' cached metadata) rebuilds its clients and reads again within the same poll; a
second failure, or a non-retriable one, marks the cluster down with the reason."""

from __future__ import annotations

import pytest
from aiokafka.errors import KafkaError, NodeNotReadyError, UnknownError
from prometheus_client import CollectorRegistry

from synthetics.lagmon.config import parse_lag_config
from synthetics.lagmon.monitor import ClusterMonitor
from synthetics.lagmon.service import LagService
from synthetics.lagmon.tracker import GroupReading


class ScriptedMonitor(ClusterMonitor):
    """Reads fail with the scripted errors, in order, then succeed with no groups."""

    def __init__(self, base: ClusterMonitor, errors: list[KafkaError]) -> None:
        super().__init__(base.cluster, base.config, base.clock)
        self.errors = errors
        self.starts = 0
        self.closes = 0

    async def start(self) -> None:
        self.starts += 1
        self._admin = object()

    async def close(self) -> None:
        self.closes += 1
        self._admin = None

    async def _read(self) -> list[GroupReading]:
        if self.errors:
            raise self.errors.pop(0)
        return []


def monitor(errors: list[KafkaError]) -> ScriptedMonitor:
    config = parse_lag_config(
        {"http": "off", "clusters": [{"name": "c", "bootstrap_servers": "127.0.0.1:1"}]},
        "lag.yaml",
        {},
    )
    return ScriptedMonitor(LagService(config, CollectorRegistry()).monitors[0], errors)


@pytest.mark.parametrize(
    ("errors", "up", "starts"),
    [
        pytest.param([NodeNotReadyError()], True, 2, id="one retriable error is retried"),
        pytest.param(
            [NodeNotReadyError(), NodeNotReadyError()], False, 2, id="a second one fails the poll"
        ),
        pytest.param([UnknownError()], False, 1, id="a non-retriable error is not retried"),
    ],
)
async def test_a_retriable_error_is_read_again_with_fresh_clients_once(
    errors: list[KafkaError], up: bool, starts: int
) -> None:
    m = monitor(errors)
    await m.poll()
    assert m.up is up
    assert m.starts == starts
    assert (m.last_error is None) is up
