"""``MetadataImage``: the cluster's metadata as of one offset of the metadata log.

The image is immutable. Every node builds it the same way, by applying committed records
in log order (``apply``/``replay``, implemented by ``broker.metadata.image_builder``,
which validates each record and refuses bad ones without changing anything), or by
loading a snapshot (``from_snapshot``). Equal logs give equal images, and equal images
give equal snapshot bytes.

What it holds: the cluster id; each broker's registration (incarnation id, broker epoch,
listeners, rack, fenced and controlled-shutdown flags, the offset of its registration);
topics by name and by id with their config overrides; each partition's replicas, ISR,
leader, leader epoch and partition epoch; the next free producer id; the offset of the
last record applied.

Invariants (checked for snapshots by ``invariant_violations``, kept by the builder):
topic names and ids map one to one; partition indexes of a topic are 0..n-1; for every
partition the leader is in the ISR (or is -1), the ISR is a non-empty subset of the
replicas, and every replica is a registered broker.

Snapshot format (``to_snapshot``): canonical JSON (see ``broker.metadata.codec``) of
``{"brokers": [...by node id], "cluster_id", "format": "tidewatch-metadata-snapshot",
"last_offset", "next_producer_id", "topics": [...by name], "version": 1}``.
``from_snapshot`` refuses anything else (wrong format or version, unsorted or duplicate
entries, broken invariants) with ``MetadataRecordError``.

Reads are for anyone (handlers, the replica manager, the status page); nothing mutates an
image after it is built, so sharing one across tasks needs no lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated

from broker.metadata.codec import (
    INT64_MAX,
    IntRange,
    OneOf,
    StrictData,
    Text,
    dumps,
    from_plain,
    loads,
    to_plain,
)
from broker.metadata.errors import MetadataRecordError
from broker.metadata.records import (
    NO_LEADER,
    BrokerEpoch,
    ConfigValue,
    Epoch,
    LeaderId,
    Listener,
    MetadataRecord,
    Name,
    NodeId,
    PartitionIndex,
    ProducerId,
    check_partition_state,
)

if TYPE_CHECKING:
    from broker.metadata.image_builder import ImageBuilder

__all__ = [
    "SNAPSHOT_FORMAT",
    "SNAPSHOT_VERSION",
    "BrokerRegistration",
    "MetadataImage",
    "PartitionImage",
    "TopicImage",
    "TopicPartitionRef",
    "invariant_violations",
]

SNAPSHOT_FORMAT = "tidewatch-metadata-snapshot"
SNAPSHOT_VERSION = 1
Offset = Annotated[int, IntRange(-1, INT64_MAX)]


@dataclass(frozen=True, slots=True)
class BrokerRegistration(StrictData):
    """A broker as registered. ``eligible``: may lead and join ISRs."""

    node_id: NodeId
    incarnation_id: uuid.UUID
    broker_epoch: BrokerEpoch
    listeners: tuple[Listener, ...]
    rack: Name | None
    fenced: bool
    in_controlled_shutdown: bool
    registration_offset: Offset

    @property
    def eligible(self) -> bool:
        return not self.fenced and not self.in_controlled_shutdown


@dataclass(frozen=True, slots=True)
class PartitionImage(StrictData):
    """One partition's replica state. Leader -1 means offline (no leader)."""

    partition_index: PartitionIndex
    replicas: tuple[NodeId, ...]
    isr: tuple[NodeId, ...]
    leader: LeaderId
    leader_epoch: Epoch
    partition_epoch: Epoch

    def check(self) -> None:
        check_partition_state(self.replicas, self.isr, self.leader)

    @property
    def preferred_leader(self) -> int:
        return self.replicas[0]

    @property
    def is_offline(self) -> bool:
        return self.leader == NO_LEADER


@dataclass(frozen=True, slots=True)
class TopicImage(StrictData):
    """A topic: identity, config overrides, partitions in index order."""

    name: Annotated[str, Text(1, 249)]
    topic_id: uuid.UUID
    configs: Mapping[Name, ConfigValue]
    partitions: tuple[PartitionImage, ...]

    def check(self) -> None:
        for index, partition in enumerate(self.partitions):
            if partition.partition_index != index:
                raise MetadataRecordError(
                    f"topic {self.name!r}: partition {partition.partition_index} "
                    f"at position {index}"
                )


@dataclass(frozen=True, slots=True)
class TopicPartitionRef:
    """A partition named by topic name, topic id and index."""

    topic: str
    topic_id: uuid.UUID
    partition_index: PartitionIndex


@dataclass(frozen=True, slots=True)
class _Snapshot(StrictData):
    format: Annotated[str, OneOf(SNAPSHOT_FORMAT)]
    version: Annotated[int, IntRange(SNAPSHOT_VERSION, SNAPSHOT_VERSION)]
    cluster_id: Name
    last_offset: Offset
    next_producer_id: ProducerId
    brokers: tuple[BrokerRegistration, ...]
    topics: tuple[TopicImage, ...]


class MetadataImage:
    """The metadata state at ``last_offset``. Build with ``empty``, ``apply``, ``replay``
    or ``from_snapshot``; the constructor is for the builder."""

    __slots__ = ("brokers", "cluster_id", "last_offset", "next_producer_id", "topic_ids", "topics")

    def __init__(
        self,
        cluster_id: str,
        last_offset: int,
        brokers: Mapping[int, BrokerRegistration],
        topics: Mapping[uuid.UUID, TopicImage],
        topic_ids: Mapping[str, uuid.UUID],
        next_producer_id: int,
    ) -> None:
        self.cluster_id = cluster_id
        self.last_offset = last_offset
        self.brokers: Mapping[int, BrokerRegistration] = MappingProxyType(dict(brokers))
        self.topics: Mapping[uuid.UUID, TopicImage] = MappingProxyType(dict(topics))
        self.topic_ids: Mapping[str, uuid.UUID] = MappingProxyType(dict(topic_ids))
        self.next_producer_id = next_producer_id

    @classmethod
    def empty(cls, cluster_id: str) -> MetadataImage:
        """The image before any record (last offset -1)."""
        return cls(cluster_id, -1, {}, {}, {}, 0)

    # -- building ---------------------------------------------------------------------

    def builder(self) -> ImageBuilder:
        from broker.metadata.image_builder import ImageBuilder  # the builder imports us

        return ImageBuilder(self)

    def apply(self, record: MetadataRecord, offset: int) -> MetadataImage:
        """The image after ``record`` at ``offset``; raises MetadataRecordError (with the
        reason) if the record is refused, and this image is unchanged either way."""
        builder = self.builder()
        builder.apply(record, offset)
        return builder.build()

    def replay(self, entries: Iterable[tuple[MetadataRecord, int]]) -> MetadataImage:
        """The image after every (record, offset) in order; the first refused record
        raises MetadataRecordError and nothing is applied. To skip refused records
        instead (what a broker following the log does), use ``builder()``."""
        builder = self.builder()
        for record, offset in entries:
            builder.apply(record, offset)
        return builder.build()

    # -- queries ----------------------------------------------------------------------

    def broker(self, node_id: int) -> BrokerRegistration | None:
        return self.brokers.get(node_id)

    def live_brokers(self) -> tuple[int, ...]:
        """Registered, unfenced brokers (including those in controlled shutdown)."""
        return tuple(sorted(n for n, b in self.brokers.items() if not b.fenced))

    def eligible_brokers(self) -> tuple[int, ...]:
        """Brokers that may lead partitions and be placed: unfenced, not shutting down."""
        return tuple(sorted(n for n, b in self.brokers.items() if b.eligible))

    def topic(self, name: str) -> TopicImage | None:
        topic_id = self.topic_ids.get(name)
        return None if topic_id is None else self.topics[topic_id]

    def topic_by_id(self, topic_id: uuid.UUID) -> TopicImage | None:
        return self.topics.get(topic_id)

    def topic_names(self) -> tuple[str, ...]:
        return tuple(sorted(self.topic_ids))

    def partitions_of(self, topic: str) -> tuple[PartitionImage, ...]:
        """The partitions of ``topic`` in index order (empty if there is no such topic)."""
        image = self.topic(topic)
        return () if image is None else image.partitions

    def partition(self, topic: str, index: int) -> PartitionImage | None:
        partitions = self.partitions_of(topic)
        return partitions[index] if 0 <= index < len(partitions) else None

    def leader_of(self, topic: str, index: int) -> int | None:
        """The leader's node id, -1 when offline, None when there is no such partition."""
        partition = self.partition(topic, index)
        return None if partition is None else partition.leader

    def iter_partitions(self) -> Iterator[tuple[TopicImage, PartitionImage]]:
        """Every partition, by topic name then index."""
        for name in self.topic_names():
            topic = self.topics[self.topic_ids[name]]
            for partition in topic.partitions:
                yield topic, partition

    def offline_partitions(self) -> tuple[TopicPartitionRef, ...]:
        return tuple(
            TopicPartitionRef(t.name, t.topic_id, p.partition_index)
            for t, p in self.iter_partitions()
            if p.is_offline
        )

    def partitions_led_by(self, node_id: int) -> tuple[TopicPartitionRef, ...]:
        return tuple(
            TopicPartitionRef(t.name, t.topic_id, p.partition_index)
            for t, p in self.iter_partitions()
            if p.leader == node_id
        )

    def partitions_replicated_on(self, node_id: int) -> tuple[TopicPartitionRef, ...]:
        return tuple(
            TopicPartitionRef(t.name, t.topic_id, p.partition_index)
            for t, p in self.iter_partitions()
            if node_id in p.replicas
        )

    # -- snapshots --------------------------------------------------------------------

    def to_snapshot(self) -> bytes:
        """Deterministic, versioned bytes of this image (see the module docstring)."""
        snapshot = _Snapshot(
            format=SNAPSHOT_FORMAT,
            version=SNAPSHOT_VERSION,
            cluster_id=self.cluster_id,
            last_offset=self.last_offset,
            next_producer_id=self.next_producer_id,
            brokers=tuple(self.brokers[n] for n in sorted(self.brokers)),
            topics=tuple(self.topics[self.topic_ids[n]] for n in self.topic_names()),
        )
        return dumps(to_plain(snapshot))

    @classmethod
    def from_snapshot(cls, data: bytes) -> MetadataImage:
        """The image a snapshot holds; raises MetadataRecordError if it is not valid."""
        snapshot = from_plain(loads(data, "snapshot"), _Snapshot, "snapshot")
        node_ids = [b.node_id for b in snapshot.brokers]
        if node_ids != sorted(set(node_ids)):
            raise MetadataRecordError("snapshot: brokers are not unique and sorted by node id")
        names = [t.name for t in snapshot.topics]
        if names != sorted(set(names)):
            raise MetadataRecordError("snapshot: topics are not unique and sorted by name")
        image = cls(
            snapshot.cluster_id,
            snapshot.last_offset,
            {b.node_id: b for b in snapshot.brokers},
            {t.topic_id: t for t in snapshot.topics},
            {t.name: t.topic_id for t in snapshot.topics},
            snapshot.next_producer_id,
        )
        problems = invariant_violations(image)
        if problems:
            raise MetadataRecordError(f"snapshot: {problems[0]}")
        return image

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MetadataImage):
            return NotImplemented
        return (
            self.cluster_id == other.cluster_id
            and self.last_offset == other.last_offset
            and self.next_producer_id == other.next_producer_id
            and self.brokers == other.brokers
            and self.topics == other.topics
            and self.topic_ids == other.topic_ids
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"MetadataImage(cluster_id={self.cluster_id!r}, last_offset={self.last_offset}, "
            f"brokers={len(self.brokers)}, topics={len(self.topics)})"
        )


def invariant_violations(image: MetadataImage) -> list[str]:
    """Every broken image invariant, one line each (empty when the image is sound).
    Per-partition rules (leader ∈ ISR ⊆ replicas) hold by construction of
    ``PartitionImage``; this checks what spans several objects."""
    problems: list[str] = []
    if len(image.topic_ids) != len(image.topics):
        problems.append("topic names and ids do not map one to one")
    for name, topic_id in image.topic_ids.items():
        topic = image.topics.get(topic_id)
        if topic is None or topic.name != name:
            problems.append(f"topic {name!r} does not map to its id {topic_id}")
    if problems:
        return problems
    for node_id, broker in image.brokers.items():
        if broker.node_id != node_id:
            problems.append(f"broker {broker.node_id} is filed under {node_id}")
        if broker.registration_offset > image.last_offset:
            problems.append(
                f"broker {node_id} registered at offset {broker.registration_offset}, "
                f"after the last offset {image.last_offset}"
            )
    for topic, partition in image.iter_partitions():
        unknown = [r for r in partition.replicas if r not in image.brokers]
        if unknown:
            problems.append(
                f"{topic.name}-{partition.partition_index}: replica {unknown[0]} "
                f"is not a registered broker"
            )
    return problems
