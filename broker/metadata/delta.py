"""``delta(old, new, node_id)``: what one broker must do after its image moved forward.

The broker's metadata loader keeps the image it last acted on; after applying a batch of
committed records it calls ``delta`` with the old and new images and hands the result to
the replica manager (become leader, become follower, delete), the group coordinator
(offsets partitions gained or lost) and the metadata cache. Pure and deterministic;
cost is proportional to the topics whose ``TopicImage`` object changed (the builder
keeps untouched ones identical).

Rules for node ``n`` and each partition where ``n`` is a replica in the new image:

- ``to_lead``: ``n`` is the leader and anything about the partition changed (new
  partition, new leadership or leader epoch, or an ISR change committed for its leader);
- ``to_follow``: ``n`` is not the leader (the leader may be -1: offline) and the
  partition is new to ``n`` or its leader or leader epoch changed;
- ``to_delete``: partitions ``n`` held whose topic was removed (or that no longer list
  ``n`` as a replica).

Each ``LocalPartition`` carries the new state and the previous one (None when new), so
the broker can tell a new leadership (leader epoch moved) from an ISR update.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from broker.metadata.image import MetadataImage, PartitionImage, TopicImage, TopicPartitionRef

__all__ = ["LocalPartition", "MetadataDelta", "delta"]


@dataclass(frozen=True, slots=True)
class LocalPartition:
    """A partition this node replicates, as it is now and as it was (None if new)."""

    topic: str
    topic_id: uuid.UUID
    partition: PartitionImage
    previous: PartitionImage | None

    @property
    def is_new_leadership(self) -> bool:
        previous = self.previous
        return previous is None or previous.leader_epoch != self.partition.leader_epoch


@dataclass(frozen=True, slots=True)
class MetadataDelta:
    """The changes between two images that matter to node ``node_id``. Every tuple is
    sorted (topic name, partition index; node ids ascending)."""

    node_id: int
    to_lead: tuple[LocalPartition, ...]
    to_follow: tuple[LocalPartition, ...]
    to_delete: tuple[TopicPartitionRef, ...]
    topics_created: tuple[str, ...]
    topics_removed: tuple[str, ...]
    configs_changed: tuple[str, ...]
    brokers_registered: tuple[int, ...]
    brokers_fenced: tuple[int, ...]
    brokers_unfenced: tuple[int, ...]
    producer_ids_changed: bool

    @property
    def is_empty(self) -> bool:
        return not (
            self.to_lead
            or self.to_follow
            or self.to_delete
            or self.topics_created
            or self.topics_removed
            or self.configs_changed
            or self.brokers_registered
            or self.brokers_fenced
            or self.brokers_unfenced
            or self.producer_ids_changed
        )


def delta(old: MetadataImage, new: MetadataImage, node_id: int) -> MetadataDelta:
    """The changes from ``old`` to ``new`` for ``node_id`` (see the module docstring)."""
    to_lead: list[LocalPartition] = []
    to_follow: list[LocalPartition] = []
    to_delete: list[TopicPartitionRef] = []
    configs_changed: list[str] = []
    for topic_id, topic in new.topics.items():
        before = old.topics.get(topic_id)
        if before is topic:
            continue
        if before is not None and before.configs != topic.configs:
            configs_changed.append(topic.name)
        _partition_changes(before, topic, node_id, to_lead, to_follow, to_delete)
    removed = [t for topic_id, t in old.topics.items() if topic_id not in new.topics]
    for topic in removed:
        to_delete.extend(
            TopicPartitionRef(topic.name, topic.topic_id, p.partition_index)
            for p in topic.partitions
            if node_id in p.replicas
        )
    created = [t.name for topic_id, t in new.topics.items() if topic_id not in old.topics]
    registered, fenced, unfenced = _broker_changes(old, new)
    return MetadataDelta(
        node_id=node_id,
        to_lead=_sorted(to_lead),
        to_follow=_sorted(to_follow),
        to_delete=tuple(sorted(to_delete, key=lambda r: (r.topic, r.partition_index))),
        topics_created=tuple(sorted(created)),
        topics_removed=tuple(sorted(t.name for t in removed)),
        configs_changed=tuple(sorted(configs_changed)),
        brokers_registered=registered,
        brokers_fenced=fenced,
        brokers_unfenced=unfenced,
        producer_ids_changed=old.next_producer_id != new.next_producer_id,
    )


def _partition_changes(
    before: TopicImage | None,
    topic: TopicImage,
    node_id: int,
    to_lead: list[LocalPartition],
    to_follow: list[LocalPartition],
    to_delete: list[TopicPartitionRef],
) -> None:
    old_partitions = () if before is None else before.partitions
    for partition in topic.partitions:
        index = partition.partition_index
        previous = old_partitions[index] if index < len(old_partitions) else None
        if previous is not None and node_id not in previous.replicas:
            previous = None
        if node_id not in partition.replicas:
            if previous is not None:
                to_delete.append(TopicPartitionRef(topic.name, topic.topic_id, index))
            continue
        if previous == partition:
            continue
        local = LocalPartition(topic.name, topic.topic_id, partition, previous)
        if partition.leader == node_id:
            to_lead.append(local)
        elif (
            previous is None
            or previous.leader != partition.leader
            or previous.leader_epoch != partition.leader_epoch
        ):
            to_follow.append(local)


def _sorted(changes: list[LocalPartition]) -> tuple[LocalPartition, ...]:
    return tuple(sorted(changes, key=lambda c: (c.topic, c.partition.partition_index)))


def _broker_changes(
    old: MetadataImage, new: MetadataImage
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(registered or re-registered, newly fenced, newly unfenced) node ids."""
    registered: list[int] = []
    fenced: list[int] = []
    unfenced: list[int] = []
    for node_id, broker in new.brokers.items():
        before = old.brokers.get(node_id)
        if before is None or before.broker_epoch != broker.broker_epoch:
            registered.append(node_id)
        was_fenced = True if before is None else before.fenced
        if broker.fenced and not was_fenced:
            fenced.append(node_id)
        if not broker.fenced and was_fenced:
            unfenced.append(node_id)
    return tuple(sorted(registered)), tuple(sorted(fenced)), tuple(sorted(unfenced))
