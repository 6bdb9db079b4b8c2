"""A controller driven the way the app drives it, with an in-memory "Raft log".

``ControllerHarness.run(result)`` proposes a result's records (each gets the next log
offset, after an encode/decode round trip as Raft would carry it) and commits them into
the harness's image, then tells the controller. ``submit`` proposes without committing,
so tests can keep records pending.
"""

from __future__ import annotations

import random
import uuid
from typing import TypeVar

from broker.metadata.controller import QuorumController
from broker.metadata.controller_config import ControllerConfig
from broker.metadata.image import BrokerRegistration, MetadataImage
from broker.metadata.records import Listener, MetadataRecord, decode_record, encode_record
from broker.metadata.replies import BrokerHeartbeatReply, ControllerResult, NewTopic, TickReport

R = TypeVar("R")
CLUSTER_ID = "test-cluster"


def listeners_for(node_id: int) -> tuple[Listener, ...]:
    return (Listener("PLAINTEXT", "127.0.0.1", 9092 + node_id, "PLAINTEXT"),)


def incarnation(node_id: int, generation: int = 0) -> uuid.UUID:
    return uuid.UUID(int=(node_id << 32) | (generation + 1))


class ControllerHarness:
    def __init__(self, config: ControllerConfig | None = None, seed: int = 0) -> None:
        ids = random.Random(seed)
        self.config = config or ControllerConfig()
        self.controller = QuorumController(
            self.config, new_topic_id=lambda: uuid.UUID(int=ids.getrandbits(128))
        )
        self.image = MetadataImage.empty(CLUSTER_ID)
        self.log: list[MetadataRecord] = []
        self.now_ms = 0
        self.epochs: dict[int, int] = {}
        self.controller.activate(self.image, self.now_ms)

    def submit(self, result: ControllerResult[R]) -> R:
        for record in result.records:
            self.log.append(decode_record(encode_record(record)))
        if result.records:
            self.controller.on_proposed(len(self.log) - 1)
        return result.reply

    def commit(self) -> None:
        start = self.image.last_offset + 1
        self.image = self.image.replay(
            (record, offset) for offset, record in enumerate(self.log[start:], start)
        )
        self.controller.on_commit(self.image)

    def run(self, result: ControllerResult[R]) -> R:
        reply = self.submit(result)
        self.commit()
        return reply

    def register(self, node_id: int, generation: int = 0) -> int:
        reply = self.run(
            self.controller.register_broker(
                node_id,
                incarnation(node_id, generation),
                listeners_for(node_id),
                self.now_ms,
                cluster_id=CLUSTER_ID,
            )
        )
        assert reply.broker_epoch > 0, reply
        self.epochs[node_id] = reply.broker_epoch
        return reply.broker_epoch

    def heartbeat(self, node_id: int, **flags: bool) -> BrokerHeartbeatReply:
        return self.run(
            self.controller.broker_heartbeat(
                node_id,
                self.epochs[node_id],
                self.now_ms,
                metadata_offset=self.image.last_offset,
                **flags,
            )
        )

    def start_brokers(self, *node_ids: int) -> None:
        for node_id in node_ids:
            self.register(node_id)
            self.heartbeat(node_id)
        assert set(node_ids) <= set(self.image.live_brokers())

    def heartbeat_all(self, *node_ids: int) -> None:
        for node_id in node_ids:
            self.heartbeat(node_id)

    def create_topic(
        self, name: str, partitions: int, replication_factor: int, **configs: str
    ) -> uuid.UUID:
        reply = self.run(
            self.controller.create_topics(
                [
                    NewTopic(
                        name,
                        partitions,
                        replication_factor,
                        configs={k.replace("_", "."): v for k, v in configs.items()},
                    )
                ]
            )
        )[0]
        assert reply.topic_id is not None, reply
        return reply.topic_id

    def broker(self, node_id: int) -> BrokerRegistration:
        broker = self.image.broker(node_id)
        assert broker is not None
        return broker

    def advance(self, ms: int) -> None:
        self.now_ms += ms

    def tick(self) -> TickReport:
        return self.run(self.controller.tick(self.now_ms))
