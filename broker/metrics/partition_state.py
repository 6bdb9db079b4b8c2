"""The cluster's partition and broker state as the metrics report it, from a metadata
image. Pure: the active controller's collector (``replication_collector``) and the
kafka_exporter compatibility names (``group_collector.CompatCollector``) both read it,
so the two never disagree.

Definitions (Kafka's): a partition is *under-replicated* while its ISR is smaller than
its replica set, *under min ISR* while the ISR is smaller than the topic's
``min.insync.replicas``, *at min ISR* while they are equal, *offline* while it has no
leader (-1); its *preferred* leader is the first replica of the assignment.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from broker.metadata.image import MetadataImage
from broker.metadata.records import NO_LEADER
from broker.metadata.topic_configs import min_insync_replicas

__all__ = ["BrokerCounts", "PartitionState", "broker_counts", "partition_states"]


@dataclass(frozen=True, slots=True)
class PartitionState:
    topic: str
    partition: int
    leader: int
    leader_epoch: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    min_insync_replicas: int

    @property
    def under_replicated(self) -> bool:
        return len(self.isr) < len(self.replicas)

    @property
    def under_min_isr(self) -> bool:
        return len(self.isr) < self.min_insync_replicas

    @property
    def at_min_isr(self) -> bool:
        return len(self.isr) == self.min_insync_replicas

    @property
    def offline(self) -> bool:
        return self.leader == NO_LEADER

    @property
    def leader_is_preferred(self) -> bool:
        return bool(self.replicas) and self.leader == self.replicas[0]


def partition_states(image: MetadataImage) -> Iterator[PartitionState]:
    """Every partition of ``image``, by topic name then index."""
    for topic, p in image.iter_partitions():
        yield PartitionState(
            topic.name,
            p.partition_index,
            p.leader,
            p.leader_epoch,
            p.replicas,
            p.isr,
            min_insync_replicas(topic.configs),
        )


@dataclass(frozen=True, slots=True)
class BrokerCounts:
    """Registered brokers (fenced or not) and, per node id, whether it is fenced."""

    fenced: dict[int, bool]

    @property
    def registered(self) -> int:
        return len(self.fenced)

    @property
    def fenced_count(self) -> int:
        return sum(self.fenced.values())

    @property
    def unfenced_count(self) -> int:
        return self.registered - self.fenced_count


def broker_counts(image: MetadataImage) -> BrokerCounts:
    return BrokerCounts({n: image.brokers[n].fenced for n in sorted(image.brokers)})
