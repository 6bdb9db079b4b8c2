"""Keeping the probe topic: finding it, creating it, growing it with the cluster.

:class:`TopicKeeper` owns the probe's admin client. It reads metadata through a fresh
connection to a bootstrap server (never auto-creating the topic), creates the topic
with one partition per broker when it is missing (``topic.partitions`` overrides),
replication factor min(3, brokers) (``topic.replication_factor`` overrides) and an
explicit replica assignment that makes each broker the preferred leader of one
partition (``synthetics.coverage.spread_assignments``); it adds partitions, led by the
brokers that lead none, when brokers were added, then waits until the new partitions
show in the metadata (propagation is asynchronous on real clusters). It never shrinks
a topic and never moves replicas or leaders; see ``synthetics.coverage`` for how gaps
and a different layout are reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.errors import KafkaError

from contracts.clock import Clock
from synthetics.config import TargetConfig
from synthetics.coverage import (
    ClusterView,
    coverage,
    desired_partitions,
    desired_replication,
    spread_assignments,
)
from synthetics.kafka_client import check_broker

__all__ = ["ProbeSetupError", "TopicKeeper"]

log = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = 36


class ProbeSetupError(RuntimeError):
    """The target cannot be probed as configured (for example: no topic, create off)."""


class TopicKeeper:
    def __init__(self, config: TargetConfig, options: dict[str, Any], clock: Clock) -> None:
        self.config = config
        self.topic = config.topic.name
        self.options = options
        self.clock = clock
        self._admin: AIOKafkaAdminClient | None = None

    async def start(self) -> None:
        self._admin = AIOKafkaAdminClient(**self.options)
        await self._admin.start()

    async def close(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            with contextlib.suppress(KafkaError, OSError):
                await admin.close()

    async def bootstrap_view(self) -> ClusterView:
        """Metadata from the first bootstrap server that answers; the error of each
        server otherwise (the exact TLS, SASL or connection failure)."""
        errors = []
        for server in self.config.connection.bootstrap_servers:
            host, _, port = server.rpartition(":")
            check = await check_broker(
                host.strip("[]"), int(port), self.topic, self.options, self.clock
            )
            if check.ok and check.view is not None:
                return check.view
            errors.append(f"{server}: {check.error}")
        raise ProbeSetupError("no bootstrap server answered: " + "; ".join(errors))

    async def ensure(self, view: ClusterView) -> ClusterView:
        """The topic with at least the wanted partitions (``view`` when nothing to do)."""
        topic = self.config.topic
        wanted = desired_partitions(len(view.brokers), topic.partitions)
        if view.topic_exists and len(view.partitions) >= wanted:
            return view
        if not topic.create:
            if view.topic_exists:
                return view
            raise ProbeSetupError(f"topic {self.topic} does not exist and topic.create is false")
        if self._admin is None:
            raise ProbeSetupError("the admin client is not started")
        if not view.topic_exists:
            await self._create(view, wanted)
        else:
            await self._grow(view, wanted)
        return await self._await_partitions(wanted)

    async def _create(self, view: ClusterView, wanted: int) -> None:
        assert self._admin is not None
        topic = self.config.topic
        replicas = desired_replication(len(view.brokers), topic.replication_factor)
        brokers = [b.node_id for b in view.brokers]
        assignments = spread_assignments(brokers, range(wanted), replicas)
        configs = dict(topic.config)
        new_topic = (
            NewTopic(self.topic, -1, -1, {p: list(r) for p, r in assignments.items()}, configs)
            if assignments
            else NewTopic(self.topic, wanted, replicas, topic_configs=configs)
        )
        response = await self._admin.create_topics([new_topic])
        for error in _error_codes(response.to_object()):
            if error not in (0, _TOPIC_ALREADY_EXISTS):
                raise ProbeSetupError(f"cannot create topic {self.topic}: error code {error}")
        log.info(
            "probe %s: created topic %s (%d partitions, %d replicas each)",
            self.config.name,
            self.topic,
            wanted,
            replicas,
        )

    async def _grow(self, view: ClusterView, wanted: int) -> None:
        """New partitions led first by the brokers leading none, with the replica count
        of the existing partitions."""
        assert self._admin is not None
        current = len(view.partitions)
        replicas = len(view.partitions[0].replicas)
        assignments = spread_assignments(
            [b.node_id for b in view.brokers],
            range(current, wanted),
            replicas,
            leaders=coverage(view).uncovered,
        )
        new = [list(r) for _, r in sorted(assignments.items())] if assignments else None
        await self._admin.create_partitions({self.topic: NewPartitions(wanted, new)})
        log.info(
            "probe %s: topic %s grown from %d to %d partitions",
            self.config.name,
            self.topic,
            current,
            wanted,
        )

    async def _await_partitions(self, wanted: int) -> ClusterView:
        deadline = self.clock.monotonic() + self.config.connection.request_timeout_seconds
        while True:
            view = await self.bootstrap_view()
            if view.topic_exists and len(view.partitions) >= wanted:
                return view
            if self.clock.monotonic() > deadline:
                raise ProbeSetupError(f"topic {self.topic} did not show {wanted} partitions")
            await asyncio.sleep(0.2)


def _error_codes(obj: Any) -> list[int]:
    """Every ``error_code`` in a decoded response, wherever it sits."""
    codes: list[int] = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == "error_code" and isinstance(value, int):
                codes.append(value)
            else:
                codes.extend(_error_codes(value))
    elif isinstance(obj, list | tuple):
        for item in obj:
            codes.extend(_error_codes(item))
    return codes
