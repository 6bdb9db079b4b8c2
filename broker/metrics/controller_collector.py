"""Exposition of the cluster-wide replication state, the controller and the quorum
(``replication_catalog``: who reports what is fixed there).

Read at scrape time from what the node already holds, never from a peer: its committed
metadata image, whether its controller is active, its leader-election counters and its
Raft state. Partition state and the controller's gauges come only from the active
controller, so the cluster has one series per partition; every node says whether it is
the active controller; voter lag comes only from the quorum leader.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from broker.metadata.image import MetadataImage
from broker.metrics import replication_catalog as r
from broker.metrics.leader_elections import LeaderElections
from broker.metrics.partition_state import PartitionState, broker_counts, partition_states
from contracts.families import FamilyBuilder
from contracts.metrics import MetricSpec

__all__ = ["ControllerCollector", "QuorumState"]


@dataclass(frozen=True, slots=True)
class QuorumState:
    """This node's view of the metadata quorum."""

    term: int
    committed_offset: int
    # Per voter, committed records it has not acknowledged; empty unless leading.
    voter_lag_records: Mapping[int, int]


_PARTITION_GAUGES: tuple[tuple[MetricSpec, Callable[[PartitionState], float]], ...] = (
    (r.PARTITION_LEADER, lambda p: p.leader),
    (r.PARTITION_REPLICAS, lambda p: len(p.replicas)),
    (r.PARTITION_IN_SYNC_REPLICAS, lambda p: len(p.isr)),
    (r.PARTITION_MIN_IN_SYNC_REPLICAS, lambda p: p.min_insync_replicas),
    (r.PARTITION_UNDER_REPLICATED, lambda p: p.under_replicated),
    (r.PARTITION_UNDER_MIN_ISR, lambda p: p.under_min_isr),
    (r.PARTITION_AT_MIN_ISR, lambda p: p.at_min_isr),
    (r.PARTITION_OFFLINE, lambda p: p.offline),
    (r.PARTITION_LEADER_EPOCH, lambda p: p.leader_epoch),
    (r.PARTITION_LEADER_IS_PREFERRED, lambda p: p.leader_is_preferred),
)


class ControllerCollector(Collector):
    def __init__(
        self,
        *,
        cluster: str,
        node_id: int,
        image: Callable[[], MetadataImage],
        controller_active: Callable[[], bool],
        elections: LeaderElections | None,
        quorum: Callable[[], QuorumState],
    ) -> None:
        """``image``: the node's committed metadata image; ``elections``: the node's
        election counters (None on a node that is no controller voter)."""
        self._f = FamilyBuilder((cluster, str(node_id)))
        self._image = image
        self._active = controller_active
        self._elections = elections
        self._quorum = quorum

    def collect(self) -> Iterator[Metric]:
        active = self._active()
        image = self._image() if active else None
        yield from self._partition_families(image)
        yield from self._controller_families(active, image)
        yield from self._election_families()
        yield from self._quorum_families()

    def _partition_families(self, image: MetadataImage | None) -> Iterator[Metric]:
        states = [] if image is None else list(partition_states(image))
        for spec, getter in _PARTITION_GAUGES:
            family = self._f.family(spec)
            for p in states:
                self._f.add(family, (p.topic, str(p.partition)), float(getter(p)))
            yield family

    def _controller_families(self, active: bool, image: MetadataImage | None) -> Iterator[Metric]:
        f = self._f
        family = f.family(r.CONTROLLER_ACTIVE)
        f.add(family, (), int(active))
        yield family
        offline = f.family(r.CONTROLLER_OFFLINE_PARTITIONS)
        registered = f.family(r.CONTROLLER_REGISTERED_BROKERS)
        fenced = f.family(r.CONTROLLER_FENCED_BROKERS)
        per_node = f.family(r.CONTROLLER_BROKER_FENCED)
        if image is not None:
            counts = broker_counts(image)
            f.add(offline, (), len(image.offline_partitions()))
            f.add(registered, (), counts.registered)
            f.add(fenced, (), counts.fenced_count)
            for node, is_fenced in counts.fenced.items():
                f.add(per_node, (str(node),), int(is_fenced))
        yield from (offline, registered, fenced, per_node)

    def _election_families(self) -> Iterator[Metric]:
        f = self._f
        elections = f.family(r.CONTROLLER_LEADER_ELECTIONS)
        duration = f.family(r.CONTROLLER_LEADER_ELECTION_DURATION)
        counts = self._elections
        if counts is not None:
            f.add(elections, ("clean",), counts.clean)
            f.add(elections, ("unclean",), counts.unclean)
            f.add_histogram(duration, (), counts.duration)
        yield elections
        yield duration

    def _quorum_families(self) -> Iterator[Metric]:
        f = self._f
        quorum = self._quorum()
        term = f.family(r.QUORUM_TERM)
        f.add(term, (), quorum.term)
        committed = f.family(r.QUORUM_COMMITTED_OFFSET)
        f.add(committed, (), quorum.committed_offset)
        lag = f.family(r.QUORUM_VOTER_LAG_RECORDS)
        for voter, records in sorted(quorum.voter_lag_records.items()):
            f.add(lag, (str(voter),), records)
        yield from (term, committed, lag)
