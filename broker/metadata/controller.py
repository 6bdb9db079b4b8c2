"""``QuorumController``: the metadata decisions of the active controller, sans-I/O.

Runs on the node whose Raft core leads the metadata quorum. Every request handler returns
``ControllerResult(records, reply)``: the app proposes the records to Raft and sends the
reply when they commit (at once when there are none). Time comes in as ``now_ms``; topic
ids from the injected ``new_topic_id``; nothing here touches a socket, disk or clock.

The view. Decisions are made against the committed image plus this controller's own
records that are proposed but not yet committed (KRaft's in-memory timeline), so two
quick requests never conflict (the second AlterPartition for a partition sees the first
one's epoch). The app drives that with four calls, all on one thread:

- ``activate(committed_image, now_ms)`` when this node becomes the active controller,
  once its committed image covers every entry of earlier terms (Raft guarantees this
  once the leader's first entry of its own term is committed). Every registered broker
  gets ``activation_grace_ms`` to heartbeat before it is fenced.
- ``on_proposed(last_offset)`` right after appending a result's records to the Raft
  log: ``last_offset`` is the log offset of the last of them. It tags every record
  produced since the previous call (several results may share one call).
- ``on_commit(committed_image)`` whenever the committed image moves: records whose tag
  is at or below its last offset leave the pending list and the view is rebuilt from the
  new image plus what is still pending (a pending record the new image refuses is
  dropped and counted in ``stats.refused_pending_records``; it never happens while this
  controller is the only writer).
- ``deactivate()`` when leadership is lost: pending records and sessions are dropped.

Broker sessions live only here (not in the log): a broker's session lasts
``broker_session_timeout_ms`` from its last registration or heartbeat. ``tick`` fences
brokers whose session expired, elects leaders where none is eligible, and, every
``leader_imbalance_check_interval_ms``, gives partitions back to their preferred leader.
``broker_disconnected`` fences at once (the process died and the kernel closed its
socket). Election and ISR rules: ``broker.metadata.elections``; topic rules:
``broker.metadata.topic_control``.

Registration: a registration names its cluster id (else INCONSISTENT_CLUSTER_ID); a node
id registered under another incarnation id whose session is alive is refused with
DUPLICATE_BROKER_REGISTRATION naming the live one; otherwise the broker gets a new broker
epoch (larger than every earlier one in the cluster) and starts fenced. It is unfenced by
a heartbeat once its metadata offset reaches its registration's committed offset.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from broker.error_codes import KafkaError
from broker.metadata.codec import INT64_MAX
from broker.metadata.controller_config import ControllerConfig
from broker.metadata.elections import (
    RecordBatch,
    elect_missing_leaders,
    rebalance_preferred_leaders,
    remove_broker_from_partitions,
)
from broker.metadata.errors import ControllerStateError, MetadataRecordError
from broker.metadata.image import BrokerRegistration, MetadataImage
from broker.metadata.image_builder import PENDING_OFFSET
from broker.metadata.isr_control import alter_partition
from broker.metadata.offsets_topic import OFFSETS_TOPIC, OFFSETS_TOPIC_CONFIGS
from broker.metadata.records import (
    BrokerControlledShutdown,
    FenceBroker,
    Listener,
    MetadataRecord,
    ProducerIds,
    RegisterBroker,
    UnfenceBroker,
)
from broker.metadata.replies import (
    AlterConfigsReply,
    AlterPartitionReply,
    BrokerHeartbeatReply,
    BrokerRegistrationReply,
    ControlledShutdownReply,
    ControllerResult,
    CreatePartitionsReply,
    CreateTopicReply,
    DeleteTopicReply,
    IsrChange,
    NewPartitions,
    NewTopic,
    ProducerIdsReply,
    TickReport,
)
from broker.metadata.topic_configs import ConfigOp
from broker.metadata.topic_control import TopicControl

__all__ = ["ControllerStats", "QuorumController"]

R = TypeVar("R")


@dataclass(slots=True)
class ControllerStats:
    """Counters since this controller object was created (records produced, not yet
    necessarily committed)."""

    fenced_by_session_timeout: int = 0
    fenced_by_disconnect: int = 0
    leader_elections: int = 0
    unclean_leader_elections: int = 0
    preferred_leader_elections: int = 0
    refused_pending_records: int = 0


@dataclass(slots=True)
class _Proposal:
    records: tuple[MetadataRecord, ...]
    last_offset: int | None  # None until on_proposed


class QuorumController:
    """The active controller's state machine (see the module docstring)."""

    def __init__(
        self,
        config: ControllerConfig,
        *,
        new_topic_id: Callable[[], uuid.UUID] = uuid.uuid4,
    ) -> None:
        self._config = config
        self._topics = TopicControl(config, new_topic_id)
        self._committed: MetadataImage | None = None
        self._view: MetadataImage | None = None
        self._pending: list[_Proposal] = []
        self._session_deadline_ms: dict[int, int] = {}
        self._proven_sessions: set[int] = set()
        self._next_rebalance_ms = 0
        self.stats = ControllerStats()

    # -- lifecycle --------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self._view is not None

    @property
    def view(self) -> MetadataImage:
        """The committed image plus this controller's pending records."""
        if self._view is None:
            raise ControllerStateError("the controller is not active")
        return self._view

    @property
    def committed(self) -> MetadataImage:
        """The last committed image this controller was given."""
        if self._committed is None:
            raise ControllerStateError("the controller is not active")
        return self._committed

    @property
    def pending_records(self) -> int:
        return sum(len(p.records) for p in self._pending)

    def activate(self, committed_image: MetadataImage, now_ms: int) -> None:
        self._committed = self._view = committed_image
        self._pending = []
        grace_end = now_ms + self._config.grace_ms
        self._session_deadline_ms = dict.fromkeys(committed_image.brokers, grace_end)
        # The activation grace only delays fencing: it is no proof that the registered
        # process is alive, so it does not block a restarted broker's new registration.
        self._proven_sessions = set()
        self._next_rebalance_ms = now_ms + self._config.leader_imbalance_check_interval_ms

    def deactivate(self) -> None:
        self._committed = self._view = None
        self._pending = []
        self._session_deadline_ms = {}
        self._proven_sessions = set()

    def on_proposed(self, last_offset: int) -> None:
        for proposal in self._pending:
            if proposal.last_offset is None:
                proposal.last_offset = last_offset

    def on_commit(self, committed_image: MetadataImage) -> None:
        if self._view is None:
            return
        self._committed = committed_image
        self._pending = [
            p
            for p in self._pending
            if p.last_offset is None or p.last_offset > committed_image.last_offset
        ]
        builder = committed_image.builder()
        for proposal in self._pending:
            kept = []
            for record in proposal.records:
                try:
                    builder.apply(record, PENDING_OFFSET)
                    kept.append(record)
                except MetadataRecordError:
                    self.stats.refused_pending_records += 1
            proposal.records = tuple(kept)
        self._view = builder.build()

    def _run(
        self, operation: Callable[[RecordBatch], R], *, keep: bool = True
    ) -> ControllerResult[R]:
        batch = RecordBatch(self.view)
        reply = operation(batch)
        records = tuple(batch.records) if keep else ()
        if records:
            self._view = batch.work.build()
            self._pending.append(_Proposal(records, None))
            self.stats.leader_elections += batch.leaders_elected
            self.stats.unclean_leader_elections += batch.unclean_elections
        return ControllerResult(records, reply)

    # -- brokers ----------------------------------------------------------------------

    def register_broker(
        self,
        node_id: int,
        incarnation_id: uuid.UUID,
        listeners: Sequence[Listener],
        now_ms: int,
        *,
        cluster_id: str,
        rack: str | None = None,
    ) -> ControllerResult[BrokerRegistrationReply]:
        """BrokerRegistration: a broker (re)joins; see the module docstring."""

        def register(batch: RecordBatch) -> BrokerRegistrationReply:
            refusal = self._registration_refusal(node_id, incarnation_id, now_ms, cluster_id)
            if refusal is not None:
                return BrokerRegistrationReply(refusal[0], refusal[1], -1)
            epoch = 1 + max((b.broker_epoch for b in batch.work.brokers().values()), default=0)
            try:
                record = RegisterBroker(node_id, incarnation_id, epoch, tuple(listeners), rack)
            except MetadataRecordError as exc:
                return BrokerRegistrationReply(KafkaError.INVALID_REQUEST, str(exc), -1)
            existing = batch.work.broker(node_id)
            if existing is not None and not existing.fenced:
                remove_broker_from_partitions(batch, node_id)
            batch.add(record)
            self._session_deadline_ms[node_id] = now_ms + self._config.broker_session_timeout_ms
            self._proven_sessions.add(node_id)
            return BrokerRegistrationReply(KafkaError.NONE, None, epoch)

        return self._run(register)

    def _registration_refusal(
        self, node_id: int, incarnation_id: uuid.UUID, now_ms: int, cluster_id: str
    ) -> tuple[KafkaError, str] | None:
        view = self.view
        if cluster_id != view.cluster_id:
            return (
                KafkaError.INCONSISTENT_CLUSTER_ID,
                f"broker {node_id} belongs to cluster {cluster_id!r}, "
                f"this is cluster {view.cluster_id!r}",
            )
        existing = view.broker(node_id)
        deadline = self._session_deadline_ms.get(node_id)
        if existing is None or existing.incarnation_id == incarnation_id or deadline is None:
            return None
        if node_id not in self._proven_sessions:
            return None  # only the activation grace: nothing has shown it is alive
        if deadline <= now_ms:
            return None
        return (
            KafkaError.DUPLICATE_BROKER_REGISTRATION,
            f"node id {node_id} is registered by a live broker (incarnation "
            f"{existing.incarnation_id}, broker epoch {existing.broker_epoch}) whose session "
            f"lasts another {deadline - now_ms} ms; stop it or use another node id",
        )

    def _checked_broker(
        self, node_id: int, broker_epoch: int
    ) -> tuple[BrokerRegistration | None, KafkaError, str | None]:
        broker = self.view.broker(node_id)
        if broker is None:
            return None, KafkaError.BROKER_ID_NOT_REGISTERED, f"broker {node_id} is not registered"
        if broker.broker_epoch != broker_epoch:
            return (
                None,
                KafkaError.STALE_BROKER_EPOCH,
                f"broker {node_id} sent epoch {broker_epoch}, its current epoch is "
                f"{broker.broker_epoch}",
            )
        return broker, KafkaError.NONE, None

    def broker_heartbeat(
        self,
        node_id: int,
        broker_epoch: int,
        now_ms: int,
        *,
        metadata_offset: int,
        want_fence: bool = False,
        want_shutdown: bool = False,
    ) -> ControllerResult[BrokerHeartbeatReply]:
        """BrokerHeartbeat: renews the session; unfences a caught-up broker; fences one
        that asks; starts or continues a controlled shutdown when asked."""
        broker, error, message = self._checked_broker(node_id, broker_epoch)
        if broker is None:
            return ControllerResult((), BrokerHeartbeatReply(error, message, False, True, False))
        self._session_deadline_ms[node_id] = now_ms + self._config.broker_session_timeout_ms
        self._proven_sessions.add(node_id)
        caught_up = metadata_offset >= broker.registration_offset

        def heartbeat(batch: RecordBatch) -> BrokerHeartbeatReply:
            should_shutdown = False
            if want_shutdown:
                should_shutdown = _shut_down(batch, broker).done
            elif broker.fenced and caught_up and not want_fence:
                if not broker.in_controlled_shutdown:
                    batch.add(UnfenceBroker(node_id, broker_epoch))
                    elect_missing_leaders(batch)
            elif not broker.fenced and want_fence:
                _fence(batch, broker)
            current = batch.work.broker(node_id)
            fenced = current is None or current.fenced
            return BrokerHeartbeatReply(KafkaError.NONE, None, caught_up, fenced, should_shutdown)

        return self._run(heartbeat)

    def controlled_shutdown(
        self, node_id: int, broker_epoch: int, now_ms: int
    ) -> ControllerResult[ControlledShutdownReply]:
        """ControlledShutdown: move the broker's leaderships to other ISR members, take
        it out of ISRs that keep another member; ``done`` once it leads nothing."""
        broker, error, message = self._checked_broker(node_id, broker_epoch)
        if broker is None:
            return ControllerResult((), ControlledShutdownReply(error, message, False))
        self._session_deadline_ms[node_id] = now_ms + self._config.broker_session_timeout_ms
        return self._run(lambda batch: _shut_down(batch, broker))

    def broker_disconnected(
        self, node_id: int, broker_epoch: int | None = None
    ) -> ControllerResult[bool]:
        """The broker's connection to the controller closed: end its session and fence
        it now. ``broker_epoch`` (when the transport knows it) protects a newer
        registration from an old connection closing late. Reply: whether it fenced."""
        broker = self.view.broker(node_id)
        if broker is None or broker_epoch not in (None, broker.broker_epoch):
            return ControllerResult((), False)
        self._session_deadline_ms.pop(node_id, None)
        self._proven_sessions.discard(node_id)
        if broker.fenced:
            return ControllerResult((), False)
        self.stats.fenced_by_disconnect += 1

        def fence(batch: RecordBatch) -> bool:
            _fence(batch, broker)
            return True

        return self._run(fence)

    def allocate_producer_ids(
        self, node_id: int, broker_epoch: int
    ) -> ControllerResult[ProducerIdsReply]:
        """AllocateProducerIds: the next block of ``producer_id_block_size`` ids."""
        broker, error, message = self._checked_broker(node_id, broker_epoch)
        if broker is None:
            return ControllerResult((), ProducerIdsReply(error, message))
        size = self._config.producer_id_block_size

        def allocate(batch: RecordBatch) -> ProducerIdsReply:
            first = batch.work.next_producer_id
            if first > INT64_MAX - size:
                return ProducerIdsReply(KafkaError.UNKNOWN_SERVER_ERROR, "producer ids exhausted")
            batch.add(ProducerIds(node_id, broker_epoch, first + size))
            return ProducerIdsReply(KafkaError.NONE, None, first, size)

        return self._run(allocate)

    def alter_partition(
        self, node_id: int, broker_epoch: int, changes: Sequence[IsrChange]
    ) -> ControllerResult[AlterPartitionReply]:
        """AlterPartition: ISR changes asked by partition leaders (see ``isr_control``)."""
        broker, error, message = self._checked_broker(node_id, broker_epoch)
        if broker is None:
            return ControllerResult((), AlterPartitionReply(error, message, ()))
        return self._run(
            lambda batch: AlterPartitionReply(
                KafkaError.NONE, None, alter_partition(batch, node_id, changes)
            )
        )

    # -- time -------------------------------------------------------------------------

    def tick(self, now_ms: int) -> ControllerResult[TickReport]:
        """Fence expired sessions, elect missing leaders, restore preferred leaders when
        due. Call it often (every few hundred ms); cheap when nothing is due."""
        grace_end = now_ms + self._config.grace_ms
        expired = sorted(
            node
            for node, broker in self.view.brokers.items()
            if not broker.fenced and self._session_deadline_ms.setdefault(node, grace_end) <= now_ms
        )
        rebalance = self._config.auto_leader_rebalance and now_ms >= self._next_rebalance_ms
        if rebalance:
            self._next_rebalance_ms = now_ms + self._config.leader_imbalance_check_interval_ms

        def tick(batch: RecordBatch) -> TickReport:
            for node in expired:
                broker = batch.work.broker(node)
                if broker is not None and not broker.fenced:
                    _fence(batch, broker)
            elect_missing_leaders(batch)
            moved = rebalance_preferred_leaders(batch) if rebalance else 0
            return TickReport(tuple(expired), batch.leaders_elected, batch.unclean_elections, moved)

        result = self._run(tick)
        self.stats.fenced_by_session_timeout += len(expired)
        self.stats.preferred_leader_elections += result.reply.preferred_leaders_restored
        return result

    # -- topics -----------------------------------------------------------------------

    def create_topics(
        self, topics: Sequence[NewTopic], *, validate_only: bool = False
    ) -> ControllerResult[tuple[CreateTopicReply, ...]]:
        return self._run(lambda b: self._topics.create_topics(b, topics), keep=not validate_only)

    def create_offsets_topic(self) -> ControllerResult[CreateTopicReply]:
        """Create ``__consumer_offsets`` (internal configs, RF = min(configured, eligible
        brokers)); the app calls it when a group coordinator is first looked up."""
        eligible = len(self.view.eligible_brokers())
        topic = NewTopic(
            name=OFFSETS_TOPIC,
            num_partitions=self._config.offsets_topic_partitions,
            replication_factor=max(1, min(self._config.offsets_topic_replication_factor, eligible)),
            configs=dict(OFFSETS_TOPIC_CONFIGS),
        )
        return self._run(lambda b: self._topics.create_topics(b, [topic], internal=True)[0])

    def delete_topics(
        self, targets: Sequence[str | uuid.UUID]
    ) -> ControllerResult[tuple[DeleteTopicReply, ...]]:
        return self._run(lambda b: self._topics.delete_topics(b, targets))

    def create_partitions(
        self, requests: Sequence[NewPartitions], *, validate_only: bool = False
    ) -> ControllerResult[tuple[CreatePartitionsReply, ...]]:
        return self._run(
            lambda b: self._topics.create_partitions(b, requests), keep=not validate_only
        )

    def alter_configs(
        self, resources: Mapping[str, Mapping[str, str | None]], *, validate_only: bool = False
    ) -> ControllerResult[tuple[AlterConfigsReply, ...]]:
        return self._run(lambda b: self._topics.alter_configs(b, resources), keep=not validate_only)

    def incremental_alter_configs(
        self, resources: Mapping[str, Sequence[ConfigOp]], *, validate_only: bool = False
    ) -> ControllerResult[tuple[AlterConfigsReply, ...]]:
        return self._run(
            lambda b: self._topics.incremental_alter_configs(b, resources), keep=not validate_only
        )


def _fence(batch: RecordBatch, broker: BrokerRegistration) -> None:
    remove_broker_from_partitions(batch, broker.node_id)
    batch.add(FenceBroker(broker.node_id, broker.broker_epoch))


def _shut_down(batch: RecordBatch, broker: BrokerRegistration) -> ControlledShutdownReply:
    remove_broker_from_partitions(batch, broker.node_id)
    current = batch.work.broker(broker.node_id)
    if current is not None and not current.in_controlled_shutdown:
        batch.add(BrokerControlledShutdown(broker.node_id, broker.broker_epoch))
    still_leading = batch.work.partitions_led_by(broker.node_id)
    return ControlledShutdownReply(KafkaError.NONE, None, not still_leading, still_leading)
