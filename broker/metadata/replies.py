"""Requests to and replies from the ``QuorumController``: plain immutable values.

The transport decodes a Kafka (or quorum) request into these, calls the controller, and
encodes the reply once the result's records are committed. Errors are ``KafkaError``
values with a one-line ``message`` (None on success); the server maps them to wire codes
by value.

The ``Annotated`` bounds on integer fields are not checked when these values are built
in process; ``broker.metadata.rpc`` checks them when it encodes or decodes one (ids,
indexes and epochs are never negative; -1 means "none" where a field allows it).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Generic, TypeVar

from broker.error_codes import KafkaError
from broker.metadata.codec import INT32_MAX, INT64_MAX, IntRange
from broker.metadata.image import TopicPartitionRef
from broker.metadata.records import Epoch, MetadataRecord, NodeId, PartitionIndex

__all__ = [
    "AlterConfigsReply",
    "AlterPartitionReply",
    "BrokerHeartbeatReply",
    "BrokerRegistrationReply",
    "ControlledShutdownReply",
    "ControllerResult",
    "CreatePartitionsReply",
    "CreateTopicReply",
    "DeleteTopicReply",
    "IsrChange",
    "IsrChangeReply",
    "NewPartitions",
    "NewTopic",
    "ProducerIdsReply",
    "TickReport",
]

R = TypeVar("R")

INT16_MAX = 2**15 - 1
# -1 stands for "none" (an error reply) or "the controller's default" (a request).
EpochOrNone = Annotated[int, IntRange(-1, INT32_MAX)]
BrokerEpochOrNone = Annotated[int, IntRange(-1, INT64_MAX)]
ProducerIdOrNone = Annotated[int, IntRange(-1, INT64_MAX)]
LeaderOrNone = Annotated[int, IntRange(-1, INT32_MAX)]
PartitionCount = Annotated[int, IntRange(-1, INT32_MAX)]
ReplicationFactor = Annotated[int, IntRange(-1, INT16_MAX)]


@dataclass(frozen=True, slots=True)
class ControllerResult(Generic[R]):
    """Records to propose to the metadata log, and the reply to send once they commit
    (at once when there are no records)."""

    records: tuple[MetadataRecord, ...]
    reply: R


@dataclass(frozen=True, slots=True)
class BrokerRegistrationReply:
    error: KafkaError
    message: str | None
    broker_epoch: BrokerEpochOrNone  # -1 on error


@dataclass(frozen=True, slots=True)
class BrokerHeartbeatReply:
    error: KafkaError
    message: str | None
    is_caught_up: bool
    is_fenced: bool
    should_shutdown: bool


@dataclass(frozen=True, slots=True)
class ControlledShutdownReply:
    """``done`` once the broker leads nothing (it may then exit); ``still_leading``
    names what it leads otherwise."""

    error: KafkaError
    message: str | None
    done: bool
    still_leading: tuple[TopicPartitionRef, ...] = ()


@dataclass(frozen=True, slots=True)
class IsrChange:
    """One partition of an AlterPartition request: the leader's view of its epochs and
    the ISR it asks for."""

    topic_id: uuid.UUID
    partition_index: PartitionIndex
    leader_epoch: Epoch
    partition_epoch: Epoch
    new_isr: tuple[NodeId, ...]


@dataclass(frozen=True, slots=True)
class IsrChangeReply:
    """The partition's state after the request (current state when refused)."""

    topic_id: uuid.UUID
    partition_index: PartitionIndex
    error: KafkaError
    message: str | None
    leader: LeaderOrNone = -1
    leader_epoch: EpochOrNone = -1
    partition_epoch: EpochOrNone = -1
    isr: tuple[NodeId, ...] = ()


@dataclass(frozen=True, slots=True)
class AlterPartitionReply:
    error: KafkaError  # request-level (broker epoch); partitions carry their own
    message: str | None
    partitions: tuple[IsrChangeReply, ...]


@dataclass(frozen=True, slots=True)
class NewTopic:
    """A topic to create. -1 partitions or replication factor: the controller's default.
    ``assignments``: replica lists by partition index (0..n-1), instead of both counts."""

    name: str
    num_partitions: PartitionCount = -1
    replication_factor: ReplicationFactor = -1
    assignments: Mapping[PartitionIndex, tuple[NodeId, ...]] | None = None
    configs: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CreateTopicReply:
    """``warnings``: accepted but dubious settings (for example min.insync.replicas above
    the replication factor, which Kafka also accepts), for the server to log."""

    name: str
    error: KafkaError
    message: str | None
    topic_id: uuid.UUID | None = None
    num_partitions: PartitionCount = -1
    replication_factor: ReplicationFactor = -1
    configs: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DeleteTopicReply:
    name: str | None
    topic_id: uuid.UUID | None
    error: KafkaError
    message: str | None


@dataclass(frozen=True, slots=True)
class NewPartitions:
    """Grow ``topic`` to ``count`` partitions; ``assignments`` for the new ones only."""

    topic: str
    count: Annotated[int, IntRange(0, INT32_MAX)]
    assignments: tuple[tuple[NodeId, ...], ...] | None = None


@dataclass(frozen=True, slots=True)
class CreatePartitionsReply:
    topic: str
    error: KafkaError
    message: str | None


@dataclass(frozen=True, slots=True)
class AlterConfigsReply:
    topic: str
    error: KafkaError
    message: str | None


@dataclass(frozen=True, slots=True)
class ProducerIdsReply:
    error: KafkaError
    message: str | None
    first_producer_id: ProducerIdOrNone = -1
    count: Annotated[int, IntRange(0, INT32_MAX)] = 0


@dataclass(frozen=True, slots=True)
class TickReport:
    """What a tick did (for logs and metrics)."""

    fenced: tuple[int, ...] = ()
    leaders_elected: int = 0
    unclean_elections: int = 0
    preferred_leaders_restored: int = 0
