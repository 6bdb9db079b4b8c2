"""AlterPartition: ISR changes asked by a partition's leader, checked as KRaft does.

The leader sends, per partition, the leader epoch and partition epoch it knows and the
ISR it wants. Checks, in order, each refusal naming the partition and the reason:

- unknown topic id: UNKNOWN_TOPIC_ID; unknown partition: UNKNOWN_TOPIC_OR_PARTITION;
- leader epoch below the controller's: FENCED_LEADER_EPOCH (the sender lost the
  leadership); above it: NOT_CONTROLLER (this controller is behind; retry elsewhere);
- the sender is not the leader: INVALID_REQUEST;
- partition epoch below the controller's: INVALID_UPDATE_VERSION (a concurrent change
  won; the leader refreshes its metadata and retries); above it: NOT_CONTROLLER;
- the new ISR empty, with duplicates, outside the replicas, or without the leader:
  INVALID_REQUEST;
- a member added to the ISR that is not eligible (fenced, in controlled shutdown, not
  registered): INELIGIBLE_REPLICA. Removing members is always allowed.

An accepted change bumps the partition epoch (the leader and its epoch stay); asking for
the current ISR is accepted without a record. Each reply carries the partition's state
after the request (its current state when refused), which the leader adopts only once
it sees the change in its own image.
"""

from __future__ import annotations

from collections.abc import Sequence

from broker.error_codes import KafkaError
from broker.metadata.elections import RecordBatch
from broker.metadata.image import PartitionImage
from broker.metadata.replies import IsrChange, IsrChangeReply

__all__ = ["alter_partition"]


def alter_partition(
    batch: RecordBatch, node_id: int, changes: Sequence[IsrChange]
) -> tuple[IsrChangeReply, ...]:
    """One reply per change, in order; accepted changes are added to ``batch``."""
    return tuple(_alter_one(batch, node_id, change) for change in changes)


def _reply(
    change: IsrChange, error: KafkaError, message: str | None, state: PartitionImage | None
) -> IsrChangeReply:
    if state is None:
        return IsrChangeReply(change.topic_id, change.partition_index, error, message)
    return IsrChangeReply(
        change.topic_id,
        change.partition_index,
        error,
        message,
        state.leader,
        state.leader_epoch,
        state.partition_epoch,
        state.isr,
    )


def _alter_one(batch: RecordBatch, node_id: int, change: IsrChange) -> IsrChangeReply:
    work = batch.work
    name = work.topic_name(change.topic_id)
    if name is None:
        return _reply(
            change, KafkaError.UNKNOWN_TOPIC_ID, f"no topic has id {change.topic_id}", None
        )
    partitions = work.partitions(change.topic_id)
    if not 0 <= change.partition_index < len(partitions):
        return _reply(
            change,
            KafkaError.UNKNOWN_TOPIC_OR_PARTITION,
            f"topic {name!r} has no partition {change.partition_index}",
            None,
        )
    current = partitions[change.partition_index]
    refusal = _refusal(batch, node_id, f"{name}-{change.partition_index}", current, change)
    if refusal is not None:
        return _reply(change, refusal[0], refusal[1], current)
    batch.change_partition(change.topic_id, current, isr=change.new_isr)
    after = work.partitions(change.topic_id)[change.partition_index]
    return _reply(change, KafkaError.NONE, None, after)


def _refusal(
    batch: RecordBatch, node_id: int, label: str, current: PartitionImage, change: IsrChange
) -> tuple[KafkaError, str] | None:
    if change.leader_epoch < current.leader_epoch:
        return (
            KafkaError.FENCED_LEADER_EPOCH,
            f"{label}: leader epoch {change.leader_epoch} is stale, current {current.leader_epoch}",
        )
    if change.leader_epoch > current.leader_epoch:
        return (
            KafkaError.NOT_CONTROLLER,
            f"{label}: leader epoch {change.leader_epoch} is ahead of this controller's "
            f"{current.leader_epoch}",
        )
    if node_id != current.leader:
        return (
            KafkaError.INVALID_REQUEST,
            f"{label}: broker {node_id} is not the leader (leader {current.leader})",
        )
    if change.partition_epoch < current.partition_epoch:
        return (
            KafkaError.INVALID_UPDATE_VERSION,
            f"{label}: partition epoch {change.partition_epoch} is stale, current "
            f"{current.partition_epoch}",
        )
    if change.partition_epoch > current.partition_epoch:
        return (
            KafkaError.NOT_CONTROLLER,
            f"{label}: partition epoch {change.partition_epoch} is ahead of this "
            f"controller's {current.partition_epoch}",
        )
    return _isr_refusal(batch, label, current, change.new_isr)


def _isr_refusal(
    batch: RecordBatch, label: str, current: PartitionImage, new_isr: tuple[int, ...]
) -> tuple[KafkaError, str] | None:
    problem = None
    if not new_isr:
        problem = "the new ISR is empty"
    elif len(set(new_isr)) != len(new_isr):
        problem = f"the new ISR {list(new_isr)} has duplicates"
    elif not set(new_isr) <= set(current.replicas):
        problem = f"the new ISR {list(new_isr)} is not within replicas {list(current.replicas)}"
    elif current.leader not in new_isr:
        problem = f"the new ISR {list(new_isr)} leaves out the leader {current.leader}"
    if problem is not None:
        return KafkaError.INVALID_REQUEST, f"{label}: {problem}"
    for added in new_isr:
        if added in current.isr or batch.work.is_eligible(added):
            continue
        broker = batch.work.broker(added)
        why = (
            "not registered"
            if broker is None
            else "fenced"
            if broker.fenced
            else "in controlled shutdown"
        )
        return KafkaError.INELIGIBLE_REPLICA, f"{label}: broker {added} cannot join the ISR: {why}"
    return None
