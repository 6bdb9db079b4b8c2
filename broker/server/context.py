"""What a handler sees: the broker-wide services and the per-request context."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, fields
from types import ModuleType
from typing import Any, Protocol, TypeAlias, TypeVar

from kio.static.protocol import Entity

from broker.cluster.replica_manager import ReplicaManager
from broker.config import BrokerConfig
from broker.coordinator.service import GroupService
from broker.metadata.rpc import ErrorResponse, RpcRequest, RpcResponse
from broker.metrics.stats import BrokerStats
from broker.protocol.header import RequestHeader
from broker.server.authorizer import AllowAll, Authorizer, Operation, ResourceType
from broker.tracing import BrokerTracer
from contracts.clock import Clock
from contracts.fields import HostPort

__all__ = [
    "NO_RESPONSE",
    "BrokerServices",
    "ClusterAccess",
    "RawBody",
    "Reply",
    "RequestContext",
    "make",
    "nested",
]


R = TypeVar("R", bound=RpcResponse)


class ClusterAccess(Protocol):
    """What handlers need of the cluster (``broker.node.cluster_node.ClusterNode``):
    the active controller, for every metadata change, and who it is."""

    async def call_controller(
        self, request: RpcRequest[R], timeout_s: float = 30.0
    ) -> R | ErrorResponse: ...

    @property
    def controller_id(self) -> int | None: ...

    @property
    def broker_epoch(self) -> int: ...


class ProducerIdAllocator(Protocol):
    async def allocate(self) -> int: ...


@dataclass(slots=True)
class BrokerServices:
    config: BrokerConfig
    replicas: ReplicaManager
    clock: Clock
    stats: BrokerStats
    authorizer: Authorizer
    cluster_id: str
    advertised: HostPort
    groups: GroupService
    cluster: ClusterAccess
    producer_ids: ProducerIdAllocator
    tracer: BrokerTracer | None = None

    @property
    def node_id(self) -> int:
        return self.config.node_id


@dataclass(slots=True)
class RequestContext:
    header: RequestHeader
    principal: str
    client_address: str
    # Name of the error code reported in request metrics ("none" when all went well).
    error: str = "none"
    # Trace id of the span that handled the request (tracing on), for exemplars.
    trace_id: str | None = None

    @property
    def version(self) -> int:
        return self.header.api_version


@dataclass(frozen=True, slots=True)
class RawBody:
    """A response body encoded by a hand-written codec, as buffers for writev."""

    parts: list[bytes | memoryview]


class _NoResponse:
    def __repr__(self) -> str:
        return "NO_RESPONSE"


NO_RESPONSE = _NoResponse()

Reply: TypeAlias = Entity | RawBody | _NoResponse
MaybeAsyncReply: TypeAlias = Reply | Awaitable[Reply]


def allowed(
    services: BrokerServices,
    ctx: RequestContext,
    operation: Operation,
    resource: ResourceType,
    name: str,
) -> bool:
    authorizer = services.authorizer
    if type(authorizer) is AllowAll:  # no ACLs configured: skip the call on the hot path
        return True
    return authorizer.authorize(ctx.principal, operation, resource, name)


def make(cls: type[Any], **values: Any) -> Any:
    """Build a kio dataclass from ``values``, ignoring fields this version lacks.

    Handlers describe a response once with every field any version has; each version's
    class keeps what it knows.
    """
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})


def nested(cls: type[Any], name: str) -> type[Any]:
    """The nested entity class ``name`` from the module defining ``cls``."""
    module: ModuleType = __import__(cls.__module__, fromlist=[name])
    nested_cls = getattr(module, name)
    assert isinstance(nested_cls, type)
    return nested_cls


def nested_if_any(cls: type[Any], name: str) -> type[Any] | None:
    """Like ``nested`` for classes that only some versions define."""
    module: ModuleType = __import__(cls.__module__, fromlist=[name])
    nested_cls = getattr(module, name, None)
    return nested_cls if isinstance(nested_cls, type) else None


def has_field(cls: type[Any], name: str) -> bool:
    return any(f.name == name for f in fields(cls))
