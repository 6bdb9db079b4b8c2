"""Broker-to-controller RPCs: typed requests and responses, their encoding, and the table
that hands each request to its ``QuorumController`` method. Sans-I/O.

A broker asks the active controller to register it, renew its session, change an ISR,
create topics and so on (KRaft's BrokerRegistration, BrokerHeartbeat, AlterPartition...).
Each request is a frozen ``RpcRequest`` whose fields are the controller method's
arguments; each response wraps, in its ``reply`` field, exactly what that method
replies (the dataclasses of ``broker.metadata.replies``, reused as they are).
``ErrorResponse`` answers any request the controller could not take (the node is not
the active controller, the request was malformed, the handler failed).

Encoding (the canonical JSON of ``broker.metadata.codec``, so an RPC is as readable in a
packet capture as a record is in the log)::

    {"data":{...fields...},"kind":"broker_heartbeat","version":1}

``decode_request`` and ``decode_response`` refuse anything else with a one-line
``RpcError``: more than ``MAX_RPC_BYTES``, not canonical JSON, an unknown kind (a
response kind is unknown to ``decode_request`` and the other way round), an unknown
version, a missing or unexpected field, a value of the wrong JSON type, a value out of
range (negative node ids, epochs or partition indexes, an unknown error code...). Rules
that depend on the cluster's state (unknown topic, stale broker epoch) are the
controller's, answered in the reply with a Kafka error code.

Building a request or response in process runs the same checks and raises
``MetadataRecordError`` (``RpcError`` is a subclass), so no invalid message exists.

``dispatch(controller, request, now_ms)`` calls the controller method for the request's
type (one table, ``ROUTES``) and wraps its reply in the matching response; the records
of the returned ``ControllerResult`` are to be proposed, and the response sent once
they commit, as for any controller result. The controller must be active (the node
runtime answers ``ErrorResponse(NOT_CONTROLLER)`` otherwise).

Adding an RPC: a request and a response dataclass with ``KIND``, a route in ``ROUTES``.
Changing the fields of one means a new ``RPC_VERSION`` and a decoder for the old one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Generic, NamedTuple, TypeVar, cast

from broker.error_codes import KafkaError
from broker.metadata.codec import StrictData, Text, dumps, from_plain, loads, to_plain
from broker.metadata.controller import QuorumController
from broker.metadata.errors import MetadataRecordError, RpcError
from broker.metadata.image import Offset
from broker.metadata.records import BrokerEpoch, Listener, Name, NodeId
from broker.metadata.replies import (
    AlterConfigsReply,
    AlterPartitionReply,
    BrokerHeartbeatReply,
    BrokerRegistrationReply,
    ControlledShutdownReply,
    ControllerResult,
    CreatePartitionsReply,
    CreateTopicReply,
    DeleteTopicReply,
    IsrChange,
    NewPartitions,
    NewTopic,
    ProducerIdsReply,
)
from broker.metadata.topic_configs import ConfigOp

__all__ = [
    "MAX_RPC_BYTES",
    "REQUEST_TYPES",
    "RESPONSE_TYPES",
    "ROUTES",
    "RPC_VERSION",
    "AllocateProducerIdsRequest",
    "AllocateProducerIdsResponse",
    "AlterConfigsRequest",
    "AlterConfigsResponse",
    "AlterPartitionRequest",
    "AlterPartitionResponse",
    "BrokerHeartbeatRequest",
    "BrokerHeartbeatResponse",
    "ControlledShutdownRequest",
    "ControlledShutdownResponse",
    "CreateOffsetsTopicRequest",
    "CreateOffsetsTopicResponse",
    "CreatePartitionsRequest",
    "CreatePartitionsResponse",
    "CreateTopicsRequest",
    "CreateTopicsResponse",
    "DeleteTopicTarget",
    "DeleteTopicsRequest",
    "DeleteTopicsResponse",
    "ErrorResponse",
    "IncrementalAlterConfigsRequest",
    "IncrementalAlterConfigsResponse",
    "RegisterBrokerRequest",
    "RegisterBrokerResponse",
    "Route",
    "RpcRequest",
    "RpcResponse",
    "decode_request",
    "decode_response",
    "dispatch",
    "encode_rpc",
]

RPC_VERSION = 1
MAX_RPC_BYTES = 8 * 1024 * 1024

R = TypeVar("R", bound="RpcResponse")
R_co = TypeVar("R_co", bound="RpcResponse", covariant=True)


class RpcResponse(StrictData):
    """Base of every response; ``KIND`` names it on the wire."""

    __slots__ = ()
    KIND: ClassVar[str]


class RpcRequest(StrictData, Generic[R_co]):
    """Base of every request; ``R_co`` is the response type that answers it (besides
    ``ErrorResponse``), so a typed client gets a typed answer."""

    __slots__ = ()
    KIND: ClassVar[str]


# -- responses ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegisterBrokerResponse(RpcResponse):
    KIND: ClassVar[str] = "register_broker_response"
    reply: BrokerRegistrationReply


@dataclass(frozen=True, slots=True)
class BrokerHeartbeatResponse(RpcResponse):
    KIND: ClassVar[str] = "broker_heartbeat_response"
    reply: BrokerHeartbeatReply


@dataclass(frozen=True, slots=True)
class ControlledShutdownResponse(RpcResponse):
    KIND: ClassVar[str] = "controlled_shutdown_response"
    reply: ControlledShutdownReply


@dataclass(frozen=True, slots=True)
class AlterPartitionResponse(RpcResponse):
    KIND: ClassVar[str] = "alter_partition_response"
    reply: AlterPartitionReply


@dataclass(frozen=True, slots=True)
class CreateTopicsResponse(RpcResponse):
    """One reply per requested topic, in request order."""

    KIND: ClassVar[str] = "create_topics_response"
    reply: tuple[CreateTopicReply, ...]


@dataclass(frozen=True, slots=True)
class DeleteTopicsResponse(RpcResponse):
    """One reply per target, in request order."""

    KIND: ClassVar[str] = "delete_topics_response"
    reply: tuple[DeleteTopicReply, ...]


@dataclass(frozen=True, slots=True)
class CreatePartitionsResponse(RpcResponse):
    KIND: ClassVar[str] = "create_partitions_response"
    reply: tuple[CreatePartitionsReply, ...]


@dataclass(frozen=True, slots=True)
class AlterConfigsResponse(RpcResponse):
    KIND: ClassVar[str] = "alter_configs_response"
    reply: tuple[AlterConfigsReply, ...]


@dataclass(frozen=True, slots=True)
class IncrementalAlterConfigsResponse(RpcResponse):
    KIND: ClassVar[str] = "incremental_alter_configs_response"
    reply: tuple[AlterConfigsReply, ...]


@dataclass(frozen=True, slots=True)
class AllocateProducerIdsResponse(RpcResponse):
    KIND: ClassVar[str] = "allocate_producer_ids_response"
    reply: ProducerIdsReply


@dataclass(frozen=True, slots=True)
class CreateOffsetsTopicResponse(RpcResponse):
    KIND: ClassVar[str] = "create_offsets_topic_response"
    reply: CreateTopicReply


@dataclass(frozen=True, slots=True)
class ErrorResponse(RpcResponse):
    """The request was not handled: ``NOT_CONTROLLER`` (ask the active controller),
    ``INVALID_REQUEST`` (malformed), ``UNKNOWN_SERVER_ERROR`` (the handler failed)."""

    KIND: ClassVar[str] = "error_response"
    error: KafkaError
    message: Annotated[str, Text(1, 4096)]

    def check(self) -> None:
        if self.error is KafkaError.NONE:
            raise MetadataRecordError("an error response needs an error code other than NONE")


# -- requests -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegisterBrokerRequest(RpcRequest[RegisterBrokerResponse]):
    """A broker (re)joins the cluster (KRaft's BrokerRegistration)."""

    KIND: ClassVar[str] = "register_broker"
    node_id: NodeId
    incarnation_id: uuid.UUID
    cluster_id: Name
    listeners: tuple[Listener, ...]
    rack: Name | None


@dataclass(frozen=True, slots=True)
class BrokerHeartbeatRequest(RpcRequest[BrokerHeartbeatResponse]):
    """Renews the broker's session; ``metadata_offset`` is the last metadata log offset
    it applied (-1: none yet)."""

    KIND: ClassVar[str] = "broker_heartbeat"
    node_id: NodeId
    broker_epoch: BrokerEpoch
    metadata_offset: Offset
    want_fence: bool
    want_shutdown: bool


@dataclass(frozen=True, slots=True)
class ControlledShutdownRequest(RpcRequest[ControlledShutdownResponse]):
    KIND: ClassVar[str] = "controlled_shutdown"
    node_id: NodeId
    broker_epoch: BrokerEpoch


@dataclass(frozen=True, slots=True)
class AlterPartitionRequest(RpcRequest[AlterPartitionResponse]):
    """ISR changes asked by the leader of each partition."""

    KIND: ClassVar[str] = "alter_partition"
    node_id: NodeId
    broker_epoch: BrokerEpoch
    changes: tuple[IsrChange, ...]


@dataclass(frozen=True, slots=True)
class CreateTopicsRequest(RpcRequest[CreateTopicsResponse]):
    KIND: ClassVar[str] = "create_topics"
    topics: tuple[NewTopic, ...]
    validate_only: bool


@dataclass(frozen=True, slots=True)
class DeleteTopicTarget(StrictData):
    """A topic to delete, named by exactly one of its name and its id."""

    name: str | None
    topic_id: uuid.UUID | None

    def check(self) -> None:
        if (self.name is None) == (self.topic_id is None):
            raise MetadataRecordError("a delete target names a topic by name or by id, not both")

    @property
    def target(self) -> str | uuid.UUID:
        """The name or the id, as ``QuorumController.delete_topics`` takes it."""
        return self.name if self.name is not None else cast(uuid.UUID, self.topic_id)


@dataclass(frozen=True, slots=True)
class DeleteTopicsRequest(RpcRequest[DeleteTopicsResponse]):
    KIND: ClassVar[str] = "delete_topics"
    targets: tuple[DeleteTopicTarget, ...]


@dataclass(frozen=True, slots=True)
class CreatePartitionsRequest(RpcRequest[CreatePartitionsResponse]):
    KIND: ClassVar[str] = "create_partitions"
    topics: tuple[NewPartitions, ...]
    validate_only: bool


@dataclass(frozen=True, slots=True)
class AlterConfigsRequest(RpcRequest[AlterConfigsResponse]):
    """Replace each topic's overrides (``None`` removes a key), as AlterConfigs does."""

    KIND: ClassVar[str] = "alter_configs"
    resources: Mapping[str, Mapping[str, str | None]]
    validate_only: bool


@dataclass(frozen=True, slots=True)
class IncrementalAlterConfigsRequest(RpcRequest[IncrementalAlterConfigsResponse]):
    KIND: ClassVar[str] = "incremental_alter_configs"
    resources: Mapping[str, tuple[ConfigOp, ...]]
    validate_only: bool


@dataclass(frozen=True, slots=True)
class AllocateProducerIdsRequest(RpcRequest[AllocateProducerIdsResponse]):
    KIND: ClassVar[str] = "allocate_producer_ids"
    node_id: NodeId
    broker_epoch: BrokerEpoch


@dataclass(frozen=True, slots=True)
class CreateOffsetsTopicRequest(RpcRequest[CreateOffsetsTopicResponse]):
    """Create ``__consumer_offsets`` if it does not exist (the first group lookup)."""

    KIND: ClassVar[str] = "create_offsets_topic"


# -- routes ---------------------------------------------------------------------------


class Route(NamedTuple):
    """How one request type is served: the controller call and the response type."""

    call: Callable[[QuorumController, Any, int], ControllerResult[Any]]
    response: type[RpcResponse]  # built from the reply: ``response(reply)``


def _register(c: QuorumController, r: RegisterBrokerRequest, now_ms: int) -> ControllerResult[Any]:
    return c.register_broker(
        r.node_id, r.incarnation_id, r.listeners, now_ms, cluster_id=r.cluster_id, rack=r.rack
    )


def _heartbeat(
    c: QuorumController, r: BrokerHeartbeatRequest, now_ms: int
) -> ControllerResult[Any]:
    return c.broker_heartbeat(
        r.node_id,
        r.broker_epoch,
        now_ms,
        metadata_offset=r.metadata_offset,
        want_fence=r.want_fence,
        want_shutdown=r.want_shutdown,
    )


ROUTES: Mapping[type[RpcRequest[Any]], Route] = {
    RegisterBrokerRequest: Route(_register, RegisterBrokerResponse),
    BrokerHeartbeatRequest: Route(_heartbeat, BrokerHeartbeatResponse),
    ControlledShutdownRequest: Route(
        lambda c, r, now_ms: c.controlled_shutdown(r.node_id, r.broker_epoch, now_ms),
        ControlledShutdownResponse,
    ),
    AlterPartitionRequest: Route(
        lambda c, r, _: c.alter_partition(r.node_id, r.broker_epoch, r.changes),
        AlterPartitionResponse,
    ),
    CreateTopicsRequest: Route(
        lambda c, r, _: c.create_topics(r.topics, validate_only=r.validate_only),
        CreateTopicsResponse,
    ),
    DeleteTopicsRequest: Route(
        lambda c, r, _: c.delete_topics([t.target for t in r.targets]), DeleteTopicsResponse
    ),
    CreatePartitionsRequest: Route(
        lambda c, r, _: c.create_partitions(r.topics, validate_only=r.validate_only),
        CreatePartitionsResponse,
    ),
    AlterConfigsRequest: Route(
        lambda c, r, _: c.alter_configs(r.resources, validate_only=r.validate_only),
        AlterConfigsResponse,
    ),
    IncrementalAlterConfigsRequest: Route(
        lambda c, r, _: c.incremental_alter_configs(r.resources, validate_only=r.validate_only),
        IncrementalAlterConfigsResponse,
    ),
    AllocateProducerIdsRequest: Route(
        lambda c, r, _: c.allocate_producer_ids(r.node_id, r.broker_epoch),
        AllocateProducerIdsResponse,
    ),
    CreateOffsetsTopicRequest: Route(
        lambda c, r, _: c.create_offsets_topic(), CreateOffsetsTopicResponse
    ),
}

REQUEST_TYPES: Mapping[str, type[RpcRequest[Any]]] = {cls.KIND: cls for cls in ROUTES}
_RESPONSES: tuple[type[RpcResponse], ...] = (
    *(route.response for route in ROUTES.values()),
    ErrorResponse,
)
RESPONSE_TYPES: Mapping[str, type[RpcResponse]] = {cls.KIND: cls for cls in _RESPONSES}


def dispatch(
    controller: QuorumController, request: RpcRequest[R], now_ms: int
) -> ControllerResult[R]:
    """Serve ``request`` with the active ``controller`` (see the module docstring):
    the records to propose and the response to send once they commit."""
    route = ROUTES.get(type(request))
    if route is None:
        raise TypeError(f"{type(request).__name__} is not a registered RPC request")
    result = route.call(controller, request, now_ms)
    wrap = cast(Callable[[Any], R], route.response)  # every routed response has one field
    return ControllerResult(result.records, wrap(result.reply))


# -- encoding -------------------------------------------------------------------------

_ENVELOPE = {"data", "kind", "version"}


def encode_rpc(message: RpcRequest[Any] | RpcResponse) -> bytes:
    """The canonical bytes of a request or response (equal values, equal bytes)."""
    known = REQUEST_TYPES if isinstance(message, RpcRequest) else RESPONSE_TYPES
    if known.get(message.KIND) is not type(message):
        raise TypeError(f"{type(message).__name__} is not a registered RPC type")
    return dumps({"data": to_plain(message), "kind": message.KIND, "version": RPC_VERSION})


def decode_request(data: bytes) -> RpcRequest[Any]:
    """The request encoded in ``data``; raises RpcError with a one-line reason."""
    return _decode(data, REQUEST_TYPES, "rpc request")


def decode_response(data: bytes) -> RpcResponse:
    """The response encoded in ``data``; raises RpcError with a one-line reason."""
    return _decode(data, RESPONSE_TYPES, "rpc response")


_M = TypeVar("_M", bound=StrictData)


def _decode(data: bytes, types: Mapping[str, type[_M]], what: str) -> _M:
    if len(data) > MAX_RPC_BYTES:
        raise RpcError(f"{what} of {len(data)} bytes exceeds {MAX_RPC_BYTES}")
    try:
        plain: Any = loads(data, what)
    except MetadataRecordError as exc:
        raise RpcError(str(exc)) from None
    if not isinstance(plain, dict) or plain.keys() != _ENVELOPE:
        raise RpcError(f"{what}: expected an object with keys {sorted(_ENVELOPE)}")
    kind, version = plain["kind"], plain["version"]
    cls = types.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise RpcError(f"{what}: unknown kind {kind!r}")
    if type(version) is not int or version != RPC_VERSION:
        raise RpcError(f"{kind}: unsupported version {version!r}, this node speaks {RPC_VERSION}")
    try:
        return from_plain(plain["data"], cls, kind)
    except MetadataRecordError as exc:
        raise RpcError(str(exc)) from None
