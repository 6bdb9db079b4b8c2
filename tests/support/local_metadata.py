"""Metadata for unit tests of one broker without Raft: a real ``QuorumController``
(through ``ControllerHarness``) decides, and every committed image goes straight to the
``ReplicaManager`` under test, as ``ClusterNode`` would deliver it.

    metadata = LocalMetadata(replicas)          # registers and unfences node 0
    topic = metadata.create_topic("orders", 2)  # partitions led here, logs created

``peers`` registers more brokers (that never fetch) for replicated topics led here
(``create_topic(..., assignments={0: (0, 1, 2)})``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from broker.cluster.replica_manager import ReplicaManager
from broker.metadata.controller_config import ControllerConfig
from broker.metadata.image import MetadataImage, TopicImage
from broker.metadata.replies import NewPartitions, NewTopic
from broker.metadata.rpc import ErrorResponse, RpcRequest, RpcResponse, dispatch
from tests.broker.metadata.harness import ControllerHarness

__all__ = ["LocalMetadata"]

R = TypeVar("R", bound=RpcResponse)


class LocalMetadata:
    def __init__(
        self, replicas: ReplicaManager, node_id: int | None = None, peers: tuple[int, ...] = ()
    ) -> None:
        self.replicas = replicas
        self.node_id = replicas.node_id if node_id is None else node_id
        self.harness = ControllerHarness(ControllerConfig(default_partitions=1))
        self.harness.start_brokers(self.node_id, *peers)
        # Told of every image after the replica manager, as ClusterNode's listeners.
        self.image_listeners: list[Callable[[MetadataImage], None]] = []
        self._publish()

    def _publish(self) -> None:
        self.replicas.apply_image(self.harness.image)
        for listener in self.image_listeners:
            listener(self.harness.image)

    def publish(self) -> None:
        """Apply the controller's latest image (after a change made on ``harness``)."""
        self._publish()

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        configs: Mapping[str, str | None] | None = None,
        assignments: Mapping[int, tuple[int, ...]] | None = None,
    ) -> TopicImage:
        new = (
            NewTopic(name, partitions, 1, configs=dict(configs or {}))
            if assignments is None
            else NewTopic(name, assignments=dict(assignments), configs=dict(configs or {}))
        )
        (reply,) = self.harness.run(self.harness.controller.create_topics([new]))
        assert reply.topic_id is not None, reply
        self._publish()
        topic = self.harness.image.topic(name)
        assert topic is not None
        return topic

    def delete_topic(self, name: str) -> None:
        (reply,) = self.harness.run(self.harness.controller.delete_topics([name]))
        assert reply.message is None, reply
        self._publish()

    def add_partitions(self, name: str, total: int) -> None:
        (reply,) = self.harness.run(
            self.harness.controller.create_partitions([NewPartitions(name, total)])
        )
        assert reply.message is None, reply
        self._publish()

    def set_configs(self, name: str, configs: Mapping[str, str | None]) -> None:
        (reply,) = self.harness.run(self.harness.controller.alter_configs({name: dict(configs)}))
        assert reply.message is None, reply
        self._publish()

    # -- broker.server.context.ClusterAccess: handlers' controller calls, served here ---

    async def call_controller(
        self, request: RpcRequest[R], timeout_s: float = 30.0
    ) -> R | ErrorResponse:
        result: Any = dispatch(self.harness.controller, request, self.harness.now_ms)
        reply: R = self.harness.run(result)
        self._publish()
        return reply

    @property
    def controller_id(self) -> int | None:
        return self.node_id

    @property
    def broker_epoch(self) -> int:
        return self.harness.epochs[self.node_id]
