"""Exposition of consumer-group lag and status, and of the opt-in compatibility names.

Both read one lag snapshot per scrape (``LagTracker.snapshot``), so the cost is
proportional to groups x committed partitions, paid by the scraper, not by clients.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from broker.metadata.image import MetadataImage
from broker.metrics import catalog as c
from broker.metrics.partition_state import PartitionState, broker_counts, partition_states
from contracts.families import FamilyBuilder
from contracts.lag.metrics import GROUP_STATE_VALUES, GROUP_STATUS_VALUES
from contracts.metrics import MetricSpec

if TYPE_CHECKING:
    from broker.metrics.collector import PartitionView
    from contracts.lag.model import GroupLag, PartitionLag

__all__ = ["CompatCollector", "GroupCollector"]

_COMPAT_PARTITION_STATE: dict[str, Callable[[PartitionState], float]] = {
    "kafka_topic_partition_in_sync_replica": lambda p: len(p.isr),
    "kafka_topic_partition_replicas": lambda p: len(p.replicas),
    "kafka_topic_partition_leader": lambda p: p.leader,
    "kafka_topic_partition_leader_is_preferred": lambda p: p.leader_is_preferred,
    "kafka_topic_partition_under_replicated_partition": lambda p: p.under_replicated,
}


class GroupCollector(Collector):
    def __init__(
        self, *, cluster: str, node_id: int, snapshot: Callable[[], Sequence[GroupLag]]
    ) -> None:
        self._families = FamilyBuilder((cluster, str(node_id)))
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        groups = self._snapshot()
        f = self._families
        per_partition: list[tuple[MetricSpec, Callable[[PartitionLag], float]]] = [
            (c.GROUP_COMMITTED_OFFSET, lambda p: p.committed_offset),
            (c.GROUP_LAG_RECORDS, lambda p: p.lag_records),
            (c.GROUP_LAG_SECONDS, lambda p: p.lag_seconds),
            (c.GROUP_PARTITION_STATUS, lambda p: int(p.status.status)),
        ]
        for spec, getter in per_partition:
            family = f.family(spec)
            for g in groups:
                for p in g.partitions:
                    f.add(family, (g.group_id, p.topic, str(p.partition)), getter(p))
            yield family
        headroom = f.family(c.GROUP_RETENTION_HEADROOM)
        for g in groups:
            for p in g.partitions:
                if p.retention_headroom_seconds is not None:
                    f.add(
                        headroom,
                        (g.group_id, p.topic, str(p.partition)),
                        p.retention_headroom_seconds,
                    )
        yield headroom
        status = f.family(c.GROUP_STATUS)
        state = f.family(c.GROUP_STATE)
        members = f.family(c.GROUP_MEMBERS)
        rebalances = f.family(c.GROUP_REBALANCES)
        for g in groups:
            for name in GROUP_STATUS_VALUES:
                f.add(status, (g.group_id, name), 1 if g.status.status.name == name else 0)
            for name in GROUP_STATE_VALUES:
                f.add(state, (g.group_id, name), 1 if g.state == name else 0)
            f.add(members, (g.group_id,), g.members)
            f.add(rebalances, (g.group_id,), g.rebalances_total)
        yield status
        yield state
        yield members
        yield rebalances


class CompatCollector(Collector):
    """kafka_exporter and kafka-lag-exporter names (see catalog.COMPAT_CATALOG).

    The cluster-wide names (``kafka_brokers``: registered unfenced brokers, as a Kafka
    Metadata response lists them, and the partition leader, replicas, ISR size,
    under-replicated and preferred-leader names) come from ``controller_image``: the
    committed image while this node is the active controller, else None, so the
    cluster has one series per partition and a dead peer never blocks a scrape. The
    offsets are this node's own replicas'."""

    def __init__(
        self,
        *,
        cluster: str,
        node_id: int,
        partitions: Callable[[], Iterable[PartitionView]],
        snapshot: Callable[[], Sequence[GroupLag]],
        controller_image: Callable[[], MetadataImage | None],
    ) -> None:
        self._cluster = cluster
        self._node = node_id
        self._partitions = partitions
        self._snapshot = snapshot
        self._controller_image = controller_image
        self._f = FamilyBuilder((cluster, str(node_id)))

    def _fam(self, name: str) -> Metric:
        return self._f.family(c.COMPAT_BY_NAME[name])

    def collect(self) -> Iterator[Metric]:
        f = self._f
        partitions = sorted(self._partitions(), key=lambda p: (p.topic, p.index))
        yield from self._cluster_families(self._controller_image())
        counts: dict[str, int] = {}
        for p in partitions:
            counts[p.topic] = counts.get(p.topic, 0) + 1
        topic_partitions = self._fam("kafka_topic_partitions")
        for topic, n in sorted(counts.items()):
            f.add(topic_partitions, (topic,), n)
        yield topic_partitions
        simple: dict[str, Callable[[PartitionView], float]] = {
            "kafka_topic_partition_current_offset": lambda p: p.high_watermark,
            "kafka_topic_partition_oldest_offset": lambda p: p.log_start_offset,
        }
        for name, getter in simple.items():
            family = self._fam(name)
            for p in partitions:
                f.add(family, (p.topic, str(p.index)), getter(p))
            yield family
        for name, getter in (
            ("kafka_partition_latest_offset", lambda p: p.high_watermark),
            ("kafka_partition_earliest_offset", lambda p: p.log_start_offset),
        ):
            family = self._fam(name)
            for p in partitions:
                f.add(family, (self._cluster, p.topic, str(p.index)), getter(p))
            yield family
        yield from self._group_families(self._snapshot())

    def _cluster_families(self, image: MetadataImage | None) -> Iterator[Metric]:
        f = self._f
        brokers = self._fam("kafka_brokers")
        if image is not None:
            f.add(brokers, (), broker_counts(image).unfenced_count)
        yield brokers
        states = [] if image is None else list(partition_states(image))
        for name, getter in _COMPAT_PARTITION_STATE.items():
            family = self._fam(name)
            for p in states:
                f.add(family, (p.topic, str(p.partition)), float(getter(p)))
            yield family

    def _group_families(self, groups: Sequence[GroupLag]) -> Iterator[Metric]:
        f = self._f
        current = self._fam("kafka_consumergroup_current_offset")
        lag = self._fam("kafka_consumergroup_lag")
        current_sum = self._fam("kafka_consumergroup_current_offset_sum")
        lag_sum = self._fam("kafka_consumergroup_lag_sum")
        members = self._fam("kafka_consumergroup_members")
        g_offset = self._fam("kafka_consumergroup_group_offset")
        g_lag = self._fam("kafka_consumergroup_group_lag")
        g_lag_s = self._fam("kafka_consumergroup_group_lag_seconds")
        g_max = self._fam("kafka_consumergroup_group_max_lag")
        g_max_s = self._fam("kafka_consumergroup_group_max_lag_seconds")
        g_sum = self._fam("kafka_consumergroup_group_sum_lag")
        g_topic_sum = self._fam("kafka_consumergroup_group_topic_sum_lag")
        for g in groups:
            per_topic_offset: dict[str, int] = {}
            per_topic_lag: dict[str, int] = {}
            for p in g.partitions:
                key = (g.group_id, p.topic, str(p.partition))
                f.add(current, key, p.committed_offset)
                f.add(lag, key, p.lag_records)
                per_topic_offset[p.topic] = per_topic_offset.get(p.topic, 0) + p.committed_offset
                per_topic_lag[p.topic] = per_topic_lag.get(p.topic, 0) + p.lag_records
                detail = (self._cluster, *key, p.client_host, p.member_id, p.client_id)
                f.add(g_offset, detail, p.committed_offset)
                f.add(g_lag, detail, p.lag_records)
                f.add(g_lag_s, detail, p.lag_seconds)
            for topic in sorted(per_topic_lag):
                f.add(current_sum, (g.group_id, topic), per_topic_offset[topic])
                f.add(lag_sum, (g.group_id, topic), per_topic_lag[topic])
                f.add(g_topic_sum, (self._cluster, g.group_id, topic), per_topic_lag[topic])
            f.add(members, (g.group_id,), g.members)
            f.add(
                g_max,
                (self._cluster, g.group_id),
                max((p.lag_records for p in g.partitions), default=0),
            )
            f.add(g_max_s, (self._cluster, g.group_id), g.max_lag_seconds)
            f.add(g_sum, (self._cluster, g.group_id), g.lag_records)
        yield from (current, current_sum, lag, lag_sum, members)
        yield from (g_offset, g_lag, g_lag_s, g_max, g_max_s, g_sum, g_topic_sum)
