"""The probe's broker check: a fresh connection and a Metadata request to every broker,
concurrently, each ``broker_check_interval``, with per-broker metrics and states.

Which brokers: those in the last metadata, then those that left it but still hold a
replica of a probe partition. A broker that dies is fenced and drops out of the
metadata; checking it anyway keeps its connection errors counting while it is down (its
availability drops while the others' stays up), until it is back or no longer a replica.

Concurrency: one event loop; :meth:`BrokerChecks.run` must not overlap itself.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from contracts.clock import Clock
from synthetics import catalog as c
from synthetics.coverage import BrokerCheck, BrokerInfo, ClusterView
from synthetics.kafka_client import check_broker
from synthetics.metrics import BoundMetrics
from synthetics.status import BrokerState

__all__ = ["BrokerChecks"]

log = logging.getLogger(__name__)


class BrokerChecks:
    """Every broker seen (``states``: address and last check) and how to check them."""

    def __init__(self, name: str, topic: str, metrics: BoundMetrics, clock: Clock) -> None:
        self.name = name
        self.topic = topic
        self.metrics = metrics
        self.clock = clock
        self.states: dict[int, BrokerState] = {}
        self._known: dict[int, BrokerInfo] = {}

    def remember(self, view: ClusterView) -> None:
        """The brokers of a fresh metadata view (their addresses may have changed)."""
        for b in view.brokers:
            self._known[b.node_id] = b
            self.states.setdefault(b.node_id, BrokerState(b.address)).address = b.address

    def to_check(self, view: ClusterView) -> list[BrokerInfo]:
        """The brokers in the metadata, then those out of it that hold a replica."""
        listed = {b.node_id for b in view.brokers}
        holding = {r for p in view.partitions for r in p.replicas} - listed
        return [*view.brokers, *(self._known[n] for n in sorted(holding) if n in self._known)]

    def failing(self) -> tuple[int, ...]:
        return tuple(
            node
            for node, state in sorted(self.states.items())
            if state.check is not None and not state.check.ok
        )

    async def run(
        self, view: ClusterView, options: dict[str, Any]
    ) -> tuple[list[BrokerInfo], list[BrokerCheck]]:
        """Check every broker of ``view`` (see the module docstring) with the client
        ``options``; the brokers checked and their checks, in the same order."""
        brokers = self.to_check(view)
        checks = await asyncio.gather(
            *(check_broker(b.host, b.port, self.topic, options, self.clock) for b in brokers)
        )
        for broker, check in zip(brokers, checks, strict=True):
            self.states.setdefault(broker.node_id, BrokerState(broker.address)).check = check
            self._record(broker, check)
        return brokers, list(checks)

    def _record(self, broker: BrokerInfo, check: BrokerCheck) -> None:
        m, node = self.metrics, broker.node_id
        m.inc(c.CONNECTION_ATTEMPTS, node)
        m.touch(c.CONNECTION_ERRORS, node)
        if check.connect_seconds is not None:
            m.observe(c.CONNECTION_LATENCY, check.connect_seconds, node)
        if check.ok:
            assert check.metadata_seconds is not None
            m.observe(c.METADATA_LATENCY, check.metadata_seconds, node)
            return
        m.inc(c.CONNECTION_ERRORS, node)
        log.warning("probe %s: broker %d (%s): %s", self.name, node, broker.address, check.error)
