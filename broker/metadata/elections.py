"""Leader and ISR decisions of the controller, as records added to a ``RecordBatch``.

A ``RecordBatch`` is the controller's working copy of its view plus the records an
operation has produced so far: each record is applied as soon as it is added, so later
decisions in the same operation see earlier ones, and a record the image would refuse
raises at once (a controller bug, never sent to the log).

Rules (Kafka KRaft's):

- A broker is *eligible* (may lead, may join an ISR) when registered, unfenced and not in
  controlled shutdown.
- Election picks the first replica, in replica order, that is in the ISR and eligible.
  None: the partition goes offline (leader -1) and keeps its ISR, so the last in-sync
  member gets the leadership back when it returns. With the topic config
  ``unclean.leader.election.enable=true`` the first eligible replica is taken instead,
  with an ISR of itself (possible data loss; counted).
- Taking a broker out (fenced, shutting down, re-registering): it leaves every ISR that
  has another member, and its leaderships are re-elected without it.
- A leader change bumps the leader epoch and the partition epoch; an ISR-only change
  bumps the partition epoch.
"""

from __future__ import annotations

import uuid

from broker.metadata.image import MetadataImage, PartitionImage
from broker.metadata.image_builder import PENDING_OFFSET, ImageBuilder
from broker.metadata.records import NO_LEADER, MetadataRecord, PartitionChange
from broker.metadata.topic_configs import unclean_leader_election_enabled

__all__ = [
    "Election",
    "RecordBatch",
    "elect",
    "elect_missing_leaders",
    "rebalance_preferred_leaders",
    "remove_broker_from_partitions",
]


class RecordBatch:
    """Records produced by one controller operation, applied to a working view."""

    def __init__(self, view: MetadataImage) -> None:
        self.work: ImageBuilder = view.builder()
        self.records: list[MetadataRecord] = []
        self.unclean_elections = 0
        self.leaders_elected = 0

    def add(self, record: MetadataRecord) -> None:
        """Apply ``record`` to the working view and keep it; raises MetadataRecordError
        if the view refuses it (a controller bug)."""
        self.work.apply(record, PENDING_OFFSET)
        self.records.append(record)

    def change_partition(
        self,
        topic_id: uuid.UUID,
        partition: PartitionImage,
        *,
        leader: int | None = None,
        isr: tuple[int, ...] | None = None,
    ) -> bool:
        """Move ``partition`` to the given leader and/or ISR with the right epochs;
        False (and no record) when that changes nothing."""
        new_leader = partition.leader if leader is None else leader
        new_isr = partition.isr if isr is None else isr
        leader_changed = new_leader != partition.leader
        if not leader_changed and new_isr == partition.isr:
            return False
        self.add(
            PartitionChange(
                topic_id=topic_id,
                partition_index=partition.partition_index,
                leader=new_leader if leader_changed else None,
                isr=new_isr if new_isr != partition.isr else None,
                leader_epoch=partition.leader_epoch + (1 if leader_changed else 0),
                partition_epoch=partition.partition_epoch + 1,
            )
        )
        if leader_changed and new_leader != NO_LEADER:
            self.leaders_elected += 1
        return True


class Election:
    """The outcome of electing a leader for one partition."""

    __slots__ = ("isr", "leader", "unclean")

    def __init__(self, leader: int, isr: tuple[int, ...], unclean: bool) -> None:
        self.leader = leader
        self.isr = isr
        self.unclean = unclean


def elect(
    work: ImageBuilder,
    topic_id: uuid.UUID,
    partition: PartitionImage,
    isr: tuple[int, ...],
    excluded: frozenset[int] = frozenset(),
) -> Election:
    """Choose a leader among ``isr`` (or, if the topic allows it, any replica)."""

    def eligible(node: int) -> bool:
        return node not in excluded and work.is_eligible(node)

    for replica in partition.replicas:
        if replica in isr and eligible(replica):
            return Election(replica, isr, unclean=False)
    if unclean_leader_election_enabled(work.configs(topic_id)):
        for replica in partition.replicas:
            if eligible(replica):
                return Election(replica, (replica,), unclean=True)
    return Election(NO_LEADER, isr, unclean=False)


def _apply_election(
    batch: RecordBatch, topic_id: uuid.UUID, partition: PartitionImage, election: Election
) -> None:
    if batch.change_partition(topic_id, partition, leader=election.leader, isr=election.isr):
        batch.unclean_elections += int(election.unclean)


def remove_broker_from_partitions(batch: RecordBatch, node_id: int) -> None:
    """Take ``node_id`` out of every ISR with another member and re-elect the
    partitions it led (or that had no leader) without it."""
    excluded = frozenset({node_id})
    for topic_id, partition in batch.work.iter_partitions():
        if node_id not in partition.isr and partition.leader != node_id:
            continue
        isr = tuple(r for r in partition.isr if r != node_id) or partition.isr
        if partition.leader in (node_id, NO_LEADER):
            election = elect(batch.work, topic_id, partition, isr, excluded)
        else:
            election = Election(partition.leader, isr, unclean=False)
        _apply_election(batch, topic_id, partition, election)


def elect_missing_leaders(batch: RecordBatch) -> None:
    """Elect a leader for every partition that has none, or whose leader may not lead
    (fenced, shutting down, unregistered)."""
    for topic_id, partition in batch.work.iter_partitions():
        if partition.leader != NO_LEADER and batch.work.is_eligible(partition.leader):
            continue
        election = elect(batch.work, topic_id, partition, partition.isr)
        if election.leader != partition.leader:
            _apply_election(batch, topic_id, partition, election)


def rebalance_preferred_leaders(batch: RecordBatch) -> int:
    """Give each partition back to its preferred (first) replica where that one is in
    the ISR and eligible; the number of partitions moved."""
    moved = 0
    for topic_id, partition in batch.work.iter_partitions():
        preferred = partition.preferred_leader
        if (
            partition.leader != preferred
            and preferred in partition.isr
            and batch.work.is_eligible(preferred)
        ):
            moved += int(batch.change_partition(topic_id, partition, leader=preferred))
    return moved
