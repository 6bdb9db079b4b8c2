"""ClusterNode: this broker's part in the cluster: the metadata log, the controller when
it is a voter, its registration, and applying every committed image to its replicas.

Wiring (all on the event loop):

- the quorum transport (``broker.network.quorum_transport``) carries Raft messages and
  controller RPCs between nodes; a node that is the only voter needs none. A node not
  in ``controller.voters`` is a Raft observer: it dials every voter, and a voter adds it
  to its Raft observers while its connection is up (``add_observer`` when the Hello
  passed, ``remove_observer`` when the last connection closed), so whichever voter leads
  replicates the metadata log to it, which is how it learns who leads;
- ``MetadataLog`` replicates the metadata log; every new committed image goes to the
  replica manager (``ReplicaManager.apply_image``) and to the listeners registered in
  ``image_listeners`` (the group coordinator: offsets partitions gained and lost);
- ``ControllerService`` runs the controller while this node leads the quorum, and
  serves the transport's RPCs; ``ControllerChannel`` reaches whichever node leads;
- ``BrokerLifecycle`` registers and heartbeats; the broker is ready once unfenced;
- data replication: ``ReplicaFetcherManager`` runs a fetcher per leader this node
  follows from (told of every image after the replica manager), and
  ``IsrChangeSender`` carries the leaders' ISR changes to the controller.

Migration: a data directory written before the metadata log (topics in ``.topics``)
has its topics written into the metadata log once, with their ids, as one entry, when
this node first becomes the active controller of a single-voter cluster with no topics
yet; the ``.topics`` directory is then renamed aside.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from broker.cluster.replica_manager import ReplicaManager
from broker.config import BrokerConfig
from broker.error_codes import KafkaError
from broker.metadata.controller_config import ControllerConfig
from broker.metadata.delta import MetadataDelta
from broker.metadata.image import MetadataImage
from broker.metadata.records import Listener, MetadataRecord, Partition, ProducerIds, Topic
from broker.metadata.rpc import ErrorResponse, RpcRequest, RpcResponse
from broker.metrics.controller_collector import QuorumState
from broker.metrics.isr_changes import count_isr_changes
from broker.metrics.stats import ReplicationStats
from broker.network.quorum_config import QuorumTransportConfig
from broker.network.quorum_transport import QuorumTransport
from broker.network.replica_fetcher import FetcherSettings, ReplicaFetcherManager
from broker.node.broker_lifecycle import BrokerLifecycle, FatalRegistrationError
from broker.node.controller_channel import ControllerChannel
from broker.node.controller_service import ControllerService
from broker.node.isr_sender import IsrChangeSender
from broker.node.metadata_log import MetadataLog, NotController
from broker.protocol.replica_requests import ReplicaFetchLimits
from broker.quorum import Message, RaftConfig
from broker.storage.manager import LogManager
from contracts.clock import Clock, SystemClock
from contracts.fields import HostPort

__all__ = ["ClusterNode", "NodeListeners"]

log = logging.getLogger(__name__)

ImageListener = Callable[[MetadataImage, MetadataDelta], None]
R = TypeVar("R", bound=RpcResponse)


@dataclass(frozen=True, slots=True)
class NodeListeners:
    """Where this broker serves: its Kafka address as clients should use it."""

    kafka: HostPort


class ClusterNode:
    def __init__(
        self,
        config: BrokerConfig,
        log_manager: LogManager,
        replicas: ReplicaManager,
        clock: Clock,
        liveness_clock: Clock | None = None,
        stats: ReplicationStats | None = None,
    ) -> None:
        """``clock`` is the data clock the broker was given (tests may drive it by
        hand); membership (sessions, heartbeats, elections) always runs on real elapsed
        time, ``liveness_clock`` (a system clock unless a test injects one): jumping a
        test's data clock forward must not expire every broker's session. ``stats``:
        the replication counters (ISR changes, fetches) this node bumps."""
        self.stats = stats if stats is not None else ReplicationStats()
        self.config = config
        self.settings = config.cluster_settings
        self.log_manager = log_manager
        self.replicas = replicas
        self.clock = clock
        self.liveness_clock = liveness_clock or SystemClock()
        self.node_id = config.node_id
        self.image_listeners: list[ImageListener] = []
        self.transport: QuorumTransport | None = None
        self.metadata_log: MetadataLog | None = None
        self.controller: ControllerService | None = None
        self.channel: ControllerChannel | None = None
        self.lifecycle: BrokerLifecycle | None = None
        self.fetchers: ReplicaFetcherManager | None = None
        self.isr_changes: IsrChangeSender | None = None
        self._migrated = False

    @property
    def voters(self) -> frozenset[int]:
        return frozenset(self.config.voters) or frozenset({self.node_id})

    @property
    def cluster_id(self) -> str:
        return self.log_manager.cluster_id

    # -- start ---------------------------------------------------------------------

    def open(self) -> None:
        """Open the metadata log (blocking; before serving)."""
        raft = RaftConfig(
            cluster_id=self.cluster_id,
            node_id=self.node_id,
            voters=self.voters,
            observers=frozenset() if self.node_id in self.voters else frozenset({self.node_id}),
        )
        self.metadata_log = MetadataLog(
            raft,
            self.log_manager.metadata_log_dir,
            self.cluster_id,
            self._send,
            tick_ms=self.settings.tick_ms,
        )
        self.metadata_log.open()
        self.metadata_log.image_listeners.append(self._on_image)

    async def start(self, kafka: HostPort) -> None:
        """Join the cluster: transport, controller, metadata log, registration."""
        metadata_log = self._require_log()
        if self.node_id in self.voters:
            self.controller = ControllerService(
                metadata_log, self._controller_config(), self.liveness_clock, self.node_id
            )
            metadata_log.image_listeners.append(self._maybe_migrate)
        if self.config.voters and set(self.config.voters) != {self.node_id}:
            await self._start_transport()
        self.channel = ControllerChannel(
            self.node_id, metadata_log, self.controller, self.transport
        )
        if self.controller is not None:
            self.controller.start()
        self._start_replication()
        metadata_log.start()
        self.lifecycle = BrokerLifecycle(
            self.node_id,
            self.cluster_id,
            (Listener("PLAINTEXT", kafka.host, kafka.port, "PLAINTEXT"),),
            self.channel,
            lambda: metadata_log.image.last_offset,
            heartbeat_interval_ms=self.settings.heartbeat_interval_ms,
            duplicate_patience_ms=self.settings.session_timeout_ms
            + 2 * self.settings.heartbeat_interval_ms,
        )
        self.lifecycle.start()

    def _start_replication(self) -> None:
        self.isr_changes = IsrChangeSender(
            self.node_id,
            self.call_controller,
            lambda: self.broker_epoch,
            self.clock,
            stats=self.stats,
        )
        self.replicas.isr_sender = self.isr_changes.send
        s = self.settings
        self.fetchers = ReplicaFetcherManager(
            self.replicas,
            FetcherSettings(
                node_id=self.node_id,
                limits=ReplicaFetchLimits(max_wait_ms=s.replica_fetch_max_wait_ms),
                backoff_ms=s.replica_fetch_backoff_ms,
            ),
            self.clock,
            self.stats,
        )
        self.fetchers.on_image(self._require_log().image)

    async def _start_transport(self) -> None:
        transport = QuorumTransport(
            QuorumTransportConfig(
                node_id=self.node_id,
                cluster_id=self.cluster_id,
                voters=self.config.voters,
                listen=self.settings.controller_listen if self.node_id in self.voters else None,
            ),
            rng=random.Random(),
            clock=self.liveness_clock,
            on_raft_message=self._on_raft_message,
            on_peer_connected=self._on_peer_connected,
            on_peer_disconnected=self._on_peer_disconnected,
        )
        if self.controller is not None:
            transport.on_rpc_request = lambda _sender, request: self._serve_rpc(request)
        await transport.start()
        self.transport = transport

    async def _serve_rpc(self, request: RpcRequest[Any]) -> RpcResponse:
        assert self.controller is not None
        return await self.controller.handle(request)

    async def wait_until_serving(self) -> None:
        """Until the controller unfenced this broker (raises FatalRegistrationError when
        the cluster refuses it: a duplicate node id, another cluster id)."""
        lifecycle = self._require_lifecycle()
        serving = asyncio.ensure_future(lifecycle.unfenced.wait())
        fatal = asyncio.ensure_future(lifecycle.fatal_event.wait())
        try:
            await asyncio.wait({serving, fatal}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            serving.cancel()
            fatal.cancel()
        if lifecycle.fatal is not None:
            raise lifecycle.fatal

    # -- stop ----------------------------------------------------------------------

    async def controlled_shutdown(self) -> bool:
        """Move this broker's leaderships (and the controller's, if it holds it) away
        before stopping; True when done within the configured timeout."""
        lifecycle, metadata_log = self.lifecycle, self.metadata_log
        if lifecycle is None or metadata_log is None:
            return False
        if len(self.voters) == 1:
            return True  # nowhere to move anything
        timeout_s = self.settings.controlled_shutdown_timeout_ms / 1000
        done = await lifecycle.controlled_shutdown(timeout_s)
        if metadata_log.is_leader:
            others = sorted(self.voters - {self.node_id})
            for candidate in others:
                if metadata_log.transfer_leadership(candidate):
                    break
        return done

    async def stop(self) -> None:
        if self.fetchers is not None:
            await self.fetchers.close()
        if self.isr_changes is not None:
            self.replicas.isr_sender = None
            await self.isr_changes.close()
        if self.lifecycle is not None:
            await self.lifecycle.stop()
        if self.controller is not None:
            await self.controller.stop()
        if self.metadata_log is not None:
            await self.metadata_log.stop()
        if self.transport is not None:
            await self.transport.stop()
            self.transport = None

    # -- plumbing ------------------------------------------------------------------

    def _send(self, message: Message) -> None:
        if self.transport is not None:
            self.transport.send_raft(message)

    def _on_raft_message(self, message: Message) -> None:
        if self.metadata_log is not None:
            self.metadata_log.on_message(message)

    def _on_peer_connected(self, node_id: int) -> None:
        if self.metadata_log is not None and self._is_observer_of_ours(node_id):
            self.metadata_log.add_observer(node_id)

    def _on_peer_disconnected(self, node_id: int) -> None:
        if self.metadata_log is not None and self._is_observer_of_ours(node_id):
            self.metadata_log.remove_observer(node_id)
        if self.controller is not None and self.settings.fence_on_disconnect:
            self.controller.broker_disconnected(node_id)

    def _is_observer_of_ours(self, node_id: int) -> bool:
        """A non-voter connected to this voter (observers only ever dial voters)."""
        return self.node_id in self.voters and node_id not in self.voters

    def _on_image(self, image: MetadataImage) -> None:
        changes = self.replicas.apply_image(image)
        count_isr_changes(self.stats, changes)
        if self.fetchers is not None:
            self.fetchers.on_image(image, changes)
        for listener in self.image_listeners:
            try:
                listener(image, changes)
            except Exception:
                log.exception("a metadata listener failed")

    def _controller_config(self) -> ControllerConfig:
        s = self.settings
        return ControllerConfig(
            broker_session_timeout_ms=s.session_timeout_ms,
            default_partitions=self.config.default_partitions,
            default_replication_factor=s.default_replication_factor,
            auto_leader_rebalance=s.auto_leader_rebalance,
            leader_imbalance_check_interval_ms=s.leader_imbalance_check_interval_ms,
            offsets_topic_partitions=self.config.offsets_topic_partitions,
            offsets_topic_replication_factor=s.offsets_topic_replication_factor,
        )

    # -- migration -----------------------------------------------------------------

    def _maybe_migrate(self, image: MetadataImage) -> None:
        controller = self.controller
        if self._migrated or controller is None or not controller.active:
            return
        broker = image.broker(self.node_id)
        if broker is None:
            return  # registered first: partitions must name registered brokers
        self._migrated = True
        legacy = self.log_manager.legacy_topics()
        if not legacy:
            return
        if image.topics or len(self.voters) != 1:
            log.warning(
                "not migrating %d topics from .topics: the metadata log already has topics "
                "or the cluster has several voters",
                len(legacy),
            )
            return
        records: list[MetadataRecord] = []
        node = self.node_id
        for topic in legacy:
            records.append(Topic(topic.name, topic.topic_id, dict(topic.configs)))
            records.extend(
                Partition(topic.topic_id, index, (node,), (node,), node, 0, 0)
                for index in range(topic.partitions)
            )
        next_id = self.log_manager.legacy_next_producer_id
        if next_id > image.next_producer_id:
            records.append(ProducerIds(node, broker.broker_epoch, next_id))
        try:
            _, future = self._require_log().propose(records)
        except NotController:
            self._migrated = False
            return
        future.add_done_callback(lambda f: self._migration_done(f, len(legacy)))

    def _migration_done(self, future: asyncio.Future[int], count: int) -> None:
        if future.cancelled() or future.exception() is not None:
            log.error("migrating topics into the metadata log failed: %s", future.exception())
            self._migrated = False
            return
        self.log_manager.retire_legacy_topics()
        log.info("migrated %d topics from .topics into the metadata log", count)

    def _require_log(self) -> MetadataLog:
        if self.metadata_log is None:
            raise RuntimeError("the cluster node is not open")
        return self.metadata_log

    def _require_lifecycle(self) -> BrokerLifecycle:
        if self.lifecycle is None:
            raise RuntimeError("the cluster node has not started")
        return self.lifecycle

    def fatal_error(self) -> FatalRegistrationError | None:
        return None if self.lifecycle is None else self.lifecycle.fatal

    # -- what handlers see (broker.server.context.ClusterAccess) ----------------------

    async def call_controller(
        self, request: RpcRequest[R], timeout_s: float = 30.0
    ) -> R | ErrorResponse:
        if self.channel is None:
            return ErrorResponse(KafkaError.NOT_CONTROLLER, "the node has not joined yet")
        return await self.channel.call(request, timeout_s)

    @property
    def controller_id(self) -> int | None:
        return None if self.metadata_log is None else self.metadata_log.leader_id

    @property
    def controller_active(self) -> bool:
        """Whether this node is the active controller (a single broker always is, once
        started: the controller of a cluster of one)."""
        return self.controller is not None and self.controller.active

    def controller_image(self) -> MetadataImage | None:
        """The committed metadata image while this node is the active controller."""
        if not self.controller_active or self.metadata_log is None:
            return None
        return self.metadata_log.image

    def quorum_state(self) -> QuorumState:
        """This node's view of the metadata quorum, for metrics."""
        metadata_log = self.metadata_log
        if metadata_log is None:
            return QuorumState(0, 0, {})
        return QuorumState(
            metadata_log.status.term,
            metadata_log.committed_offset,
            metadata_log.voter_lag_records(),
        )

    @property
    def broker_epoch(self) -> int:
        return -1 if self.lifecycle is None else self.lifecycle.broker_epoch
