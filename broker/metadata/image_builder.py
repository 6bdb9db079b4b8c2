"""``ImageBuilder``: applies metadata records to an image, validating each one.

Who calls it: every node, for each committed record of the metadata log, in order (the
broker's metadata loader); the controller, for the records it is about to propose (so its
view already contains them); ``MetadataImage.apply``/``replay`` for one-off use.

Validation at apply (a refused record raises ``MetadataRecordError`` naming the record and
the reason, and leaves the builder exactly as it was, so the node can log it and go on):

- offsets never go backwards;
- broker records: a registration must carry a higher broker epoch than the current one;
  fence, unfence and controlled shutdown must name a registered broker and its current
  epoch (stale epoch refused);
- ``Topic``: name and id both new; ``RemoveTopic``: a known id;
- ``Partition``: a known topic, the next free index, every replica a registered broker;
- ``PartitionChange``: a known partition; partition epoch exactly current + 1 (a lower
  one is stale); leader epoch current + 1 when the leader changes, else unchanged (never
  backwards); the resulting leader in the ISR and the ISR within the replicas;
- ``Config``: a known topic; ``ProducerIds``: the next id strictly increases.

Fence, unfence and config records are targets, so re-applying one is accepted.

Following the log (every node)::

    builder = image.builder()
    for offset, payload in committed_entries:
        try:
            builder.apply(decode_record(payload), offset)
        except MetadataRecordError as exc:   # malformed or refused: same on every node
            log_and_count(exc)
            builder.skip(offset)
    new_image = builder.build()
    changes = delta(image, new_image, node_id)   # broker.metadata.delta

Cost: building copies the broker and topic maps once per builder; a topic's partitions
are copied the first time a record touches that topic. ``build`` reuses every untouched
``TopicImage`` object, which ``broker.metadata.delta`` relies on to skip them quickly.
Not thread-safe; one builder per batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from broker.metadata.codec import INT64_MAX
from broker.metadata.errors import MetadataRecordError
from broker.metadata.image import (
    BrokerRegistration,
    MetadataImage,
    PartitionImage,
    TopicImage,
    TopicPartitionRef,
)
from broker.metadata.records import (
    NO_LEADER,
    BrokerControlledShutdown,
    Config,
    FenceBroker,
    MetadataRecord,
    Partition,
    PartitionChange,
    ProducerIds,
    RegisterBroker,
    RemoveTopic,
    Topic,
    UnfenceBroker,
)

__all__ = ["PENDING_OFFSET", "ImageBuilder"]

# The offset the controller gives records it has not yet seen committed: a registration
# at this offset cannot be "caught up" by any broker until it is really committed.
PENDING_OFFSET = INT64_MAX


class _Refused(Exception):
    pass


class ImageBuilder:
    """A working copy of an image that records are applied to; ``build`` freezes it."""

    def __init__(self, base: MetadataImage) -> None:
        self._cluster_id = base.cluster_id
        self._last_offset = base.last_offset
        self._next_producer_id = base.next_producer_id
        self._brokers: dict[int, BrokerRegistration] = dict(base.brokers)
        self._topics: dict[uuid.UUID, TopicImage] = dict(base.topics)
        self._names: dict[str, uuid.UUID] = dict(base.topic_ids)
        self._partitions: dict[uuid.UUID, list[PartitionImage]] = {}
        self._configs: dict[uuid.UUID, dict[str, str]] = {}
        self._handlers: dict[type[Any], Callable[[Any, int], None]] = {
            RegisterBroker: self._register_broker,
            FenceBroker: self._fence_broker,
            UnfenceBroker: self._unfence_broker,
            BrokerControlledShutdown: self._controlled_shutdown,
            Topic: self._topic,
            RemoveTopic: self._remove_topic,
            Partition: self._partition,
            PartitionChange: self._partition_change,
            Config: self._config,
            ProducerIds: self._producer_ids,
        }

    # -- reads (the state including everything applied so far) ------------------------

    @property
    def last_offset(self) -> int:
        return self._last_offset

    @property
    def next_producer_id(self) -> int:
        return self._next_producer_id

    def broker(self, node_id: int) -> BrokerRegistration | None:
        return self._brokers.get(node_id)

    def brokers(self) -> Mapping[int, BrokerRegistration]:
        """Read-only by contract (the builder's own map)."""
        return self._brokers

    def is_eligible(self, node_id: int) -> bool:
        broker = self._brokers.get(node_id)
        return broker is not None and broker.eligible

    def eligible_brokers(self) -> list[int]:
        return sorted(n for n, b in self._brokers.items() if b.eligible)

    def topic_id(self, name: str) -> uuid.UUID | None:
        return self._names.get(name)

    def topic_name(self, topic_id: uuid.UUID) -> str | None:
        topic = self._topics.get(topic_id)
        return None if topic is None else topic.name

    def topic_names(self) -> list[str]:
        return sorted(self._names)

    def partitions(self, topic_id: uuid.UUID) -> Sequence[PartitionImage]:
        touched = self._partitions.get(topic_id)
        if touched is not None:
            return touched
        topic = self._topics.get(topic_id)
        return () if topic is None else topic.partitions

    def configs(self, topic_id: uuid.UUID) -> Mapping[str, str]:
        touched = self._configs.get(topic_id)
        if touched is not None:
            return touched
        topic = self._topics.get(topic_id)
        return {} if topic is None else topic.configs

    def iter_partitions(self) -> Iterator[tuple[uuid.UUID, PartitionImage]]:
        """Every partition (by topic name, then index) as of now. Safe to apply records
        while iterating: it walks a copy of each topic's partition list."""
        for name in self.topic_names():
            topic_id = self._names.get(name)
            if topic_id is None:
                continue
            for partition in tuple(self.partitions(topic_id)):
                yield topic_id, partition

    def partitions_led_by(self, node_id: int) -> tuple[TopicPartitionRef, ...]:
        """The partitions ``node_id`` leads as of now, by topic name then index."""
        return tuple(
            TopicPartitionRef(self._topics[topic_id].name, topic_id, p.partition_index)
            for topic_id, p in self.iter_partitions()
            if p.leader == node_id
        )

    # -- writes -----------------------------------------------------------------------

    def apply(self, record: MetadataRecord, offset: int) -> None:
        """Apply ``record`` at ``offset``, or raise MetadataRecordError and change
        nothing. Every handler validates fully before its first mutation."""
        try:
            if offset < self._last_offset:
                raise _Refused(f"offset {offset} is before the last offset {self._last_offset}")
            self._handlers[type(record)](record, offset)
        except _Refused as exc:
            raise MetadataRecordError(f"{record.TYPE} {_subject(self, record)}: {exc}") from None
        self._last_offset = offset

    def skip(self, offset: int) -> None:
        """Count the entry at ``offset`` as processed without applying anything (a
        refused record: the follower logs it and moves on, so ``last_offset`` stays the
        offset of the last entry it has read)."""
        if offset > self._last_offset:
            self._last_offset = offset

    def build(self) -> MetadataImage:
        """The image with everything applied; the builder may go on being used."""
        topics = dict(self._topics)
        for topic_id in self._partitions.keys() | self._configs.keys():
            old = topics[topic_id]
            topics[topic_id] = TopicImage(
                name=old.name,
                topic_id=topic_id,
                configs=dict(self.configs(topic_id)),
                partitions=tuple(self.partitions(topic_id)),
            )
        return MetadataImage(
            self._cluster_id,
            self._last_offset,
            self._brokers,
            topics,
            self._names,
            self._next_producer_id,
        )

    # -- brokers ----------------------------------------------------------------------

    def _register_broker(self, record: RegisterBroker, offset: int) -> None:
        current = self._brokers.get(record.node_id)
        if current is not None and record.broker_epoch <= current.broker_epoch:
            raise _Refused(
                f"stale broker epoch {record.broker_epoch}, current {current.broker_epoch}"
            )
        self._brokers[record.node_id] = BrokerRegistration(
            node_id=record.node_id,
            incarnation_id=record.incarnation_id,
            broker_epoch=record.broker_epoch,
            listeners=record.listeners,
            rack=record.rack,
            fenced=True,
            in_controlled_shutdown=False,
            registration_offset=offset,
        )

    def _current_registration(self, node_id: int, broker_epoch: int) -> BrokerRegistration:
        current = self._brokers.get(node_id)
        if current is None:
            raise _Refused("not a registered broker")
        if broker_epoch != current.broker_epoch:
            raise _Refused(f"stale broker epoch {broker_epoch}, current {current.broker_epoch}")
        return current

    def _fence_broker(self, record: FenceBroker, offset: int) -> None:
        current = self._current_registration(record.node_id, record.broker_epoch)
        self._brokers[record.node_id] = replace(current, fenced=True)

    def _unfence_broker(self, record: UnfenceBroker, offset: int) -> None:
        current = self._current_registration(record.node_id, record.broker_epoch)
        self._brokers[record.node_id] = replace(current, fenced=False)

    def _controlled_shutdown(self, record: BrokerControlledShutdown, offset: int) -> None:
        current = self._current_registration(record.node_id, record.broker_epoch)
        self._brokers[record.node_id] = replace(current, in_controlled_shutdown=True)

    def _producer_ids(self, record: ProducerIds, offset: int) -> None:
        if record.next_producer_id <= self._next_producer_id:
            raise _Refused(
                f"next producer id {record.next_producer_id} does not pass the current "
                f"{self._next_producer_id}"
            )
        self._next_producer_id = record.next_producer_id

    # -- topics -----------------------------------------------------------------------

    def _topic(self, record: Topic, offset: int) -> None:
        if record.name in self._names:
            raise _Refused("a topic of that name exists")
        existing = self._topics.get(record.topic_id)
        if existing is not None:
            raise _Refused(f"topic id {record.topic_id} is taken by {existing.name!r}")
        self._topics[record.topic_id] = TopicImage(record.name, record.topic_id, {}, ())
        self._names[record.name] = record.topic_id
        self._partitions[record.topic_id] = []
        self._configs[record.topic_id] = dict(record.configs)

    def _known_topic(self, topic_id: uuid.UUID) -> TopicImage:
        topic = self._topics.get(topic_id)
        if topic is None:
            raise _Refused(f"unknown topic id {topic_id}")
        return topic

    def _remove_topic(self, record: RemoveTopic, offset: int) -> None:
        topic = self._known_topic(record.topic_id)
        del self._topics[record.topic_id]
        del self._names[topic.name]
        self._partitions.pop(record.topic_id, None)
        self._configs.pop(record.topic_id, None)

    def _config(self, record: Config, offset: int) -> None:
        topic_id = self._names.get(record.resource_name)
        if topic_id is None:
            raise _Refused("unknown topic")
        configs = self._touched_configs(topic_id)
        if record.value is None:
            configs.pop(record.key, None)
        else:
            configs[record.key] = record.value

    def _touched_configs(self, topic_id: uuid.UUID) -> dict[str, str]:
        configs = self._configs.get(topic_id)
        if configs is None:
            configs = self._configs[topic_id] = dict(self._topics[topic_id].configs)
        return configs

    def _touched_partitions(self, topic_id: uuid.UUID) -> list[PartitionImage]:
        partitions = self._partitions.get(topic_id)
        if partitions is None:
            partitions = self._partitions[topic_id] = list(self._topics[topic_id].partitions)
        return partitions

    # -- partitions -------------------------------------------------------------------

    def _partition(self, record: Partition, offset: int) -> None:
        self._known_topic(record.topic_id)
        count = len(self.partitions(record.topic_id))
        if record.partition_index != count:
            raise _Refused(f"the next partition index is {count}")
        unknown = [r for r in record.replicas if r not in self._brokers]
        if unknown:
            raise _Refused(f"replica {unknown[0]} is not a registered broker")
        partition = PartitionImage(
            partition_index=record.partition_index,
            replicas=record.replicas,
            isr=record.isr,
            leader=record.leader,
            leader_epoch=record.leader_epoch,
            partition_epoch=record.partition_epoch,
        )
        self._touched_partitions(record.topic_id).append(partition)

    def _partition_change(self, record: PartitionChange, offset: int) -> None:
        self._known_topic(record.topic_id)
        partitions = self.partitions(record.topic_id)
        if record.partition_index >= len(partitions):
            raise _Refused("unknown partition")
        current = partitions[record.partition_index]
        changed = _changed_partition(current, record)
        self._touched_partitions(record.topic_id)[record.partition_index] = changed


def _changed_partition(current: PartitionImage, record: PartitionChange) -> PartitionImage:
    """The partition after ``record``, or _Refused with the reason."""
    if record.partition_epoch <= current.partition_epoch:
        raise _Refused(
            f"stale partition epoch {record.partition_epoch}, current {current.partition_epoch}"
        )
    if record.partition_epoch != current.partition_epoch + 1:
        raise _Refused(
            f"partition epoch {record.partition_epoch} skips from {current.partition_epoch}"
        )
    leader = current.leader if record.leader is None else record.leader
    expected_leader_epoch = current.leader_epoch + (1 if leader != current.leader else 0)
    if record.leader_epoch < current.leader_epoch:
        raise _Refused(f"leader epoch {record.leader_epoch} goes back from {current.leader_epoch}")
    if record.leader_epoch != expected_leader_epoch:
        raise _Refused(
            f"leader epoch {record.leader_epoch} should be {expected_leader_epoch} "
            f"(leader {current.leader} -> {leader})"
        )
    isr = current.isr if record.isr is None else record.isr
    if not set(isr) <= set(current.replicas):
        raise _Refused(f"ISR {list(isr)} is not a subset of replicas {list(current.replicas)}")
    if leader != NO_LEADER and leader not in isr:
        raise _Refused(f"leader {leader} is not in the ISR {list(isr)}")
    return replace(
        current,
        isr=isr,
        leader=leader,
        leader_epoch=record.leader_epoch,
        partition_epoch=record.partition_epoch,
    )


def _subject(builder: ImageBuilder, record: MetadataRecord) -> str:
    """What a refused record was about, for its message."""
    if isinstance(record, Partition | PartitionChange):
        name = builder.topic_name(record.topic_id) or str(record.topic_id)
        return f"for {name}-{record.partition_index}"
    if isinstance(record, RemoveTopic):
        return f"for {builder.topic_name(record.topic_id) or record.topic_id}"
    if isinstance(record, Topic):
        return f"for {record.name!r}"
    if isinstance(record, Config):
        return f"for {record.resource_type} {record.resource_name!r} key {record.key!r}"
    return f"for broker {record.node_id}"
