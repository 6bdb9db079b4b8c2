"""A broker's services without sockets or Raft, for unit tests that drive handlers or
the dispatcher directly: the real ``BrokerApp`` parts, with the metadata decided by a
real controller in the same thread (``LocalMetadata``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from broker.app import BrokerApp
from broker.config import BrokerConfig
from broker.server.authorizer import AllowAll
from broker.server.context import BrokerServices
from broker.server.producer_ids import ProducerIdBlocks
from contracts.clock import Clock, ManualClock
from contracts.fields import HostPort
from tests.support.local_metadata import LocalMetadata

__all__ = ["LocalBroker", "leader_of_three_replicas", "local_broker"]


@dataclass
class LocalBroker:
    app: BrokerApp
    metadata: LocalMetadata
    services: BrokerServices

    def close(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.run_until_complete(self.app.groups.close())
        if self.app.offsets_logs is not None:
            self.app.offsets_logs.close()
        loop.run_until_complete(self.app.replicas.close())


def local_broker(
    config: BrokerConfig,
    clock: Clock | None,
    loop: asyncio.AbstractEventLoop,
    peers: tuple[int, ...] = (),
) -> LocalBroker:
    """Storage opened, node 0 registered (and ``peers``: brokers that never fetch), no
    topics yet; ``loop`` runs what must be awaited; close with ``close(loop)``. A
    broker alone leads every offsets partition; with ``controller.voters`` configured
    the offsets topic is created on the first FindCoordinator, as in a cluster."""
    app = BrokerApp(replace(config, http=None), clock=clock or ManualClock())
    app.log_manager.open()
    metadata = LocalMetadata(app.replicas, peers=peers)
    if app.offsets_logs is not None:
        loop.run_until_complete(app.offsets_logs.lead_all(app.groups))
    else:
        metadata.image_listeners.append(app.offsets_leadership.on_image)
    services = BrokerServices(
        config=app.config,
        replicas=app.replicas,
        clock=app.clock,
        stats=app.stats,
        authorizer=AllowAll(),
        cluster_id=app.log_manager.cluster_id,
        advertised=HostPort("127.0.0.1", 9092),
        groups=app.groups,
        cluster=metadata,
        producer_ids=ProducerIdBlocks(metadata, config.node_id),
    )
    return LocalBroker(app, metadata, services)


@contextmanager
def leader_of_three_replicas(data_dir: Path, topic: str) -> Iterator[LocalBroker]:
    """Node 0 leading partition 0 of ``topic``, replicated on brokers 0, 1 and 2 (1 and
    2 registered and never fetching), on a manual clock and its own event loop."""
    loop = asyncio.new_event_loop()
    broker = local_broker(BrokerConfig(data_dir=data_dir), ManualClock(), loop, peers=(1, 2))
    broker.metadata.create_topic(topic, assignments={0: (0, 1, 2)})
    try:
        yield broker
    finally:
        broker.close(loop)
        loop.close()
