"""Metadata records: one frozen dataclass per kind of change, as KRaft's record types.

The Raft log replicates these as opaque bytes; this module is the only place that turns
them into bytes and back. Encoding (see ``broker.metadata.codec`` for why JSON)::

    {"data":{...fields...},"type":"partition_change","version":1}

canonical (sorted keys, no spaces, ASCII). ``decode_record`` refuses anything else with a
one-line ``MetadataRecordError``: not canonical JSON, unknown type or version, a missing
or unexpected field, a wrong JSON type, a value out of range (negative epochs, node ids
above int32...), or a record that breaks its own rules (a leader outside the ISR, an ISR
outside the replicas, duplicate replicas...). Rules that depend on the current state
(stale epochs, unknown topics) are the image's job (``broker.metadata.image_builder``).

Records state targets, not deltas: applying the same fence, unfence or config value twice
is harmless; what must move forward (broker and partition epochs, producer ids) carries
its new value so the image can refuse a stale one.

Adding a record type (ACLs and credentials come later): a dataclass here with ``TYPE``
and ``VERSION``, an entry in ``RECORD_TYPES``, a branch in the image builder. Changing
a record's fields means a new ``VERSION`` and a decoder for the old one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from broker.metadata.codec import (
    INT32_MAX,
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
from broker.storage.errors import InvalidTopicError
from broker.storage.topic_names import MAX_PARTITIONS, validate_topic_name

__all__ = [
    "MAX_RECORD_BYTES",
    "NO_LEADER",
    "RECORD_TYPES",
    "SECURITY_PROTOCOLS",
    "BrokerControlledShutdown",
    "BrokerEpoch",
    "Config",
    "ConfigValue",
    "Epoch",
    "FenceBroker",
    "LeaderId",
    "Listener",
    "MetadataRecord",
    "Name",
    "NodeId",
    "Partition",
    "PartitionChange",
    "PartitionIndex",
    "ProducerId",
    "ProducerIds",
    "RegisterBroker",
    "RemoveTopic",
    "Topic",
    "UnfenceBroker",
    "check_partition_state",
    "decode_record",
    "encode_record",
]

NO_LEADER = -1
MAX_RECORD_BYTES = 1024 * 1024
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")

NodeId = Annotated[int, IntRange(0, INT32_MAX)]
LeaderId = Annotated[int, IntRange(NO_LEADER, INT32_MAX)]
Epoch = Annotated[int, IntRange(0, INT32_MAX)]
BrokerEpoch = Annotated[int, IntRange(0, INT64_MAX)]
PartitionIndex = Annotated[int, IntRange(0, MAX_PARTITIONS - 1)]
ProducerId = Annotated[int, IntRange(0, INT64_MAX)]
Port = Annotated[int, IntRange(1, 65535)]
Name = Annotated[str, Text(1, 255)]
ConfigValue = Annotated[str, Text(0, 65536)]

_ZERO_UUID = uuid.UUID(int=0)


def _refuse(reason: str) -> None:
    raise MetadataRecordError(reason)


def _check_unique(what: str, ids: tuple[int, ...]) -> None:
    if len(set(ids)) != len(ids):
        _refuse(f"{what} {list(ids)} has duplicates")


def _check_topic_id(topic_id: uuid.UUID) -> None:
    if topic_id == _ZERO_UUID:
        _refuse("the zero UUID is not a topic id")


@dataclass(frozen=True, slots=True)
class Listener(StrictData):
    """A named endpoint a broker serves clients on (KRaft's BrokerEndpoint)."""

    name: Name
    host: Name
    port: Port
    security_protocol: Annotated[str, OneOf(*SECURITY_PROTOCOLS)]


@dataclass(frozen=True, slots=True)
class RegisterBroker(StrictData):
    """A broker (re)registered: new epoch, starts fenced until it has caught up."""

    TYPE: ClassVar[str] = "register_broker"
    VERSION: ClassVar[int] = 1
    node_id: NodeId
    incarnation_id: uuid.UUID
    broker_epoch: BrokerEpoch
    listeners: tuple[Listener, ...]
    rack: Name | None

    def check(self) -> None:
        if not self.listeners:
            _refuse(f"broker {self.node_id} has no listener")
        names = [listener.name for listener in self.listeners]
        if len(set(names)) != len(names):
            _refuse(f"broker {self.node_id} has duplicate listener names {names}")


@dataclass(frozen=True, slots=True)
class FenceBroker(StrictData):
    """A broker may no longer lead or join an ISR (session expired or connection lost)."""

    TYPE: ClassVar[str] = "fence_broker"
    VERSION: ClassVar[int] = 1
    node_id: NodeId
    broker_epoch: BrokerEpoch


@dataclass(frozen=True, slots=True)
class UnfenceBroker(StrictData):
    """A registered broker has caught up with the metadata log and is live again."""

    TYPE: ClassVar[str] = "unfence_broker"
    VERSION: ClassVar[int] = 1
    node_id: NodeId
    broker_epoch: BrokerEpoch


@dataclass(frozen=True, slots=True)
class BrokerControlledShutdown(StrictData):
    """A broker is shutting down cleanly: it may not lead or join ISRs any more. Cleared
    by its next registration."""

    TYPE: ClassVar[str] = "broker_controlled_shutdown"
    VERSION: ClassVar[int] = 1
    node_id: NodeId
    broker_epoch: BrokerEpoch


@dataclass(frozen=True, slots=True)
class Topic(StrictData):
    """A topic was created with its config overrides (its partitions follow)."""

    TYPE: ClassVar[str] = "topic"
    VERSION: ClassVar[int] = 1
    name: str
    topic_id: uuid.UUID
    configs: Mapping[Name, ConfigValue]

    def check(self) -> None:
        try:
            validate_topic_name(self.name)
        except InvalidTopicError as exc:
            _refuse(str(exc))
        _check_topic_id(self.topic_id)


@dataclass(frozen=True, slots=True)
class RemoveTopic(StrictData):
    """A topic and all its partitions were deleted."""

    TYPE: ClassVar[str] = "remove_topic"
    VERSION: ClassVar[int] = 1
    topic_id: uuid.UUID

    def check(self) -> None:
        _check_topic_id(self.topic_id)


@dataclass(frozen=True, slots=True)
class Partition(StrictData):
    """A partition was created, with its whole state."""

    TYPE: ClassVar[str] = "partition"
    VERSION: ClassVar[int] = 1
    topic_id: uuid.UUID
    partition_index: PartitionIndex
    replicas: tuple[NodeId, ...]
    isr: tuple[NodeId, ...]
    leader: LeaderId
    leader_epoch: Epoch
    partition_epoch: Epoch

    def check(self) -> None:
        _check_topic_id(self.topic_id)
        check_partition_state(self.replicas, self.isr, self.leader)


def check_partition_state(replicas: tuple[int, ...], isr: tuple[int, ...], leader: int) -> None:
    """Raise MetadataRecordError unless leader ∈ ISR ⊆ replicas (or leader is -1)."""
    if not replicas:
        _refuse("no replicas")
    _check_unique("replicas", replicas)
    if not isr:
        _refuse("empty ISR")
    _check_unique("ISR", isr)
    if not set(isr) <= set(replicas):
        _refuse(f"ISR {list(isr)} is not a subset of replicas {list(replicas)}")
    if leader != NO_LEADER and leader not in isr:
        _refuse(f"leader {leader} is not in the ISR {list(isr)}")


@dataclass(frozen=True, slots=True)
class PartitionChange(StrictData):
    """A partition's leader and/or ISR changed, with its new epochs.

    ``leader`` None keeps the leader (-1 means no leader); ``isr`` None keeps the ISR.
    ``partition_epoch`` is always the current one plus one; ``leader_epoch`` is the
    current one plus one when the leader changes, else unchanged."""

    TYPE: ClassVar[str] = "partition_change"
    VERSION: ClassVar[int] = 1
    topic_id: uuid.UUID
    partition_index: PartitionIndex
    leader: LeaderId | None
    isr: tuple[NodeId, ...] | None
    leader_epoch: Epoch
    partition_epoch: Epoch

    def check(self) -> None:
        _check_topic_id(self.topic_id)
        if self.leader is None and self.isr is None:
            _refuse("changes neither leader nor ISR")
        if self.isr is not None:
            if not self.isr:
                _refuse("empty ISR")
            _check_unique("ISR", self.isr)
            if self.leader is not None and self.leader != NO_LEADER and self.leader not in self.isr:
                _refuse(f"leader {self.leader} is not in the ISR {list(self.isr)}")


@dataclass(frozen=True, slots=True)
class Config(StrictData):
    """A config key of a resource was set (``value``) or removed (``None``)."""

    TYPE: ClassVar[str] = "config"
    VERSION: ClassVar[int] = 1
    resource_type: Annotated[str, OneOf("topic")]
    resource_name: Name
    key: Name
    value: ConfigValue | None


@dataclass(frozen=True, slots=True)
class ProducerIds(StrictData):
    """A block of producer ids was handed to a broker; ids below ``next_producer_id``
    are taken."""

    TYPE: ClassVar[str] = "producer_ids"
    VERSION: ClassVar[int] = 1
    node_id: NodeId
    broker_epoch: BrokerEpoch
    next_producer_id: ProducerId


MetadataRecord = (
    RegisterBroker
    | FenceBroker
    | UnfenceBroker
    | BrokerControlledShutdown
    | Topic
    | RemoveTopic
    | Partition
    | PartitionChange
    | Config
    | ProducerIds
)

RECORD_TYPES: dict[str, type[MetadataRecord]] = {
    cls.TYPE: cls
    for cls in (
        RegisterBroker,
        FenceBroker,
        UnfenceBroker,
        BrokerControlledShutdown,
        Topic,
        RemoveTopic,
        Partition,
        PartitionChange,
        Config,
        ProducerIds,
    )
}
_ENVELOPE = {"data", "type", "version"}


def encode_record(record: MetadataRecord) -> bytes:
    """The canonical bytes of ``record`` (deterministic: equal records, equal bytes)."""
    return dumps({"data": to_plain(record), "type": record.TYPE, "version": record.VERSION})


def decode_record(data: bytes) -> MetadataRecord:
    """The record encoded in ``data``; raises MetadataRecordError with a one-line reason."""
    if len(data) > MAX_RECORD_BYTES:
        raise MetadataRecordError(f"record of {len(data)} bytes exceeds {MAX_RECORD_BYTES}")
    plain: Any = loads(data, "record")
    if not isinstance(plain, dict) or plain.keys() != _ENVELOPE:
        raise MetadataRecordError(f"record: expected an object with keys {sorted(_ENVELOPE)}")
    kind, version = plain["type"], plain["version"]
    cls = RECORD_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise MetadataRecordError(f"record: unknown type {kind!r}")
    if type(version) is not int or version != cls.VERSION:
        raise MetadataRecordError(f"{kind}: unsupported version {version!r}")
    return from_plain(plain["data"], cls, kind)
