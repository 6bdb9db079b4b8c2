"""Consumer-group APIs: FindCoordinator (v0-4), JoinGroup (v0-7), SyncGroup (v0-5),
Heartbeat (v0-4), LeaveGroup (v0-4, batched from v3), ListGroups (v0-4),
DescribeGroups (v0-5) and DeleteGroups (v0-2).

The coordinator of a group is the leader of its offsets partition
(``GroupService.coordinator_for``); a request for a group whose partition is not led here
answers NOT_COORDINATOR (COORDINATOR_LOAD_IN_PROGRESS while it loads)."""

from __future__ import annotations

import datetime
import logging
from typing import Any

from kio.schema.errors import ErrorCode

from broker.coordinator.coordinator import JoinRequest
from broker.coordinator.group import ConsumerGroup, GroupState
from broker.coordinator.service import PartitionPhase
from broker.error_codes import KafkaError
from broker.metadata.offsets_topic import OFFSETS_TOPIC
from broker.metadata.rpc import CreateOffsetsTopicRequest, ErrorResponse
from broker.protocol.apis import ApiKey, response_class
from broker.server.authorizer import Operation, ResourceType
from broker.server.context import BrokerServices, RequestContext, allowed, make, nested
from broker.server.errors import wire_error

__all__ = [
    "handle_delete_groups",
    "handle_describe_groups",
    "handle_find_coordinator",
    "handle_heartbeat",
    "handle_join",
    "handle_leave",
    "handle_list_groups",
    "handle_sync",
]

log = logging.getLogger(__name__)

_ZERO = datetime.timedelta(0)
_CREATE_OFFSETS_TOPIC_TIMEOUT_S = 10.0
_GROUP_KEY = 0


def _ms(value: Any, default: int) -> int:
    if isinstance(value, datetime.timedelta):
        return int(value.total_seconds() * 1000)
    return default


def _coordinator(services: BrokerServices, key_type: int, key: str) -> dict[str, Any]:
    """The FindCoordinator answer for one key: the leader of the group's offsets
    partition. A broker alone leads every one; in a cluster the metadata image says
    who, and a partition led here answers only once its groups are loaded."""
    if key_type != _GROUP_KEY:
        return _unavailable("transactions are not supported")
    partition = services.groups.coordinator_for(key)
    if not services.config.offsets_replicated:
        if not services.groups.leads(partition):
            return _unavailable("no leader for its partition")
        return _found(services.node_id, services.advertised.host, services.advertised.port)
    image = services.replicas.image
    state = image.partition(OFFSETS_TOPIC, partition)
    if state is None:
        return _unavailable(f"{OFFSETS_TOPIC} is being created")
    if state.leader < 0:
        return _unavailable(f"{OFFSETS_TOPIC}-{partition} has no leader")
    if state.leader == services.node_id:
        if services.groups.phase(partition) is not PartitionPhase.LOADED:
            return _unavailable(f"the groups of {OFFSETS_TOPIC}-{partition} are loading")
        return _found(services.node_id, services.advertised.host, services.advertised.port)
    broker = image.broker(state.leader)
    if broker is None or broker.fenced or not broker.listeners:
        return _unavailable(f"the leader of {OFFSETS_TOPIC}-{partition} is not serving")
    listener = broker.listeners[0]
    return _found(state.leader, listener.host, listener.port)


def _found(node_id: int, host: str, port: int) -> dict[str, Any]:
    return {
        "error_code": ErrorCode.none,
        "error_message": None,
        "node_id": node_id,
        "host": host,
        "port": port,
    }


def _unavailable(message: str) -> dict[str, Any]:
    return {
        "error_code": ErrorCode.coordinator_not_available,
        "error_message": message,
        "node_id": -1,
        "host": "",
        "port": -1,
    }


async def _ensure_offsets_topic(services: BrokerServices) -> None:
    """In a cluster, have the controller create the offsets topic on the first group
    lookup (as Kafka does); the lookup itself answers COORDINATOR_NOT_AVAILABLE until
    the topic has leaders and the client asks again."""
    if not services.config.offsets_replicated or services.replicas.topic(OFFSETS_TOPIC):
        return
    response = await services.cluster.call_controller(
        CreateOffsetsTopicRequest(), timeout_s=_CREATE_OFFSETS_TOPIC_TIMEOUT_S
    )
    if isinstance(response, ErrorResponse):
        log.info("cannot create %s yet: %s", OFFSETS_TOPIC, response.message)
    elif response.reply.error not in (KafkaError.NONE, KafkaError.TOPIC_ALREADY_EXISTS):
        log.warning(
            "the controller did not create %s: %s (%s)",
            OFFSETS_TOPIC,
            response.reply.error.name,
            response.reply.message,
        )


async def handle_find_coordinator(
    services: BrokerServices, ctx: RequestContext, request: Any
) -> Any:
    cls = response_class(ApiKey.FIND_COORDINATOR, ctx.version)
    key_type = getattr(request, "key_type", _GROUP_KEY)
    if key_type == _GROUP_KEY:
        await _ensure_offsets_topic(services)
    if hasattr(request, "coordinator_keys"):
        coordinator_cls = nested(cls, "Coordinator")
        coordinators = tuple(
            make(coordinator_cls, key=key, **_coordinator(services, key_type, key))
            for key in request.coordinator_keys
        )
        return make(cls, throttle_time=_ZERO, coordinators=coordinators)
    return make(cls, throttle_time=_ZERO, **_coordinator(services, key_type, request.key))


async def handle_join(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(ApiKey.JOIN_GROUP, ctx.version)
    member_cls = nested(cls, "JoinGroupResponseMember")
    if not allowed(services, ctx, Operation.READ, ResourceType.GROUP, request.group_id):
        return make(
            cls,
            throttle_time=_ZERO,
            error_code=ErrorCode.group_authorization_failed,
            generation_id=-1,
            protocol_name=None,
            leader="",
            member_id="",
            members=(),
        )
    session_ms = _ms(request.session_timeout, 10_000)
    join = JoinRequest(
        group_id=request.group_id,
        member_id=request.member_id,
        group_instance_id=getattr(request, "group_instance_id", None),
        client_id=ctx.header.client_id or "",
        client_host=ctx.client_address.rsplit(":", 1)[0],
        session_timeout_ms=session_ms,
        rebalance_timeout_ms=_ms(getattr(request, "rebalance_timeout", None), session_ms),
        protocol_type=request.protocol_type,
        protocols=tuple((p.name, bytes(p.metadata)) for p in request.protocols),
        require_known_member_id=ctx.version >= 4,
    )
    result = await services.groups.join(join)
    error = wire_error(result.error)
    ctx.error = error.name if error is not ErrorCode.none else "none"
    return make(
        cls,
        throttle_time=_ZERO,
        error_code=error,
        generation_id=result.generation,
        protocol_type=result.protocol_type,
        protocol_name=result.protocol_name if ctx.version >= 7 else result.protocol_name or "",
        leader=result.leader,
        member_id=result.member_id,
        members=tuple(
            make(member_cls, member_id=m, group_instance_id=i, metadata=md)
            for m, i, md in result.members
        ),
    )


async def handle_sync(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(ApiKey.SYNC_GROUP, ctx.version)
    assignments = {a.member_id: bytes(a.assignment) for a in request.assignments}
    result = await services.groups.sync(
        request.group_id, request.generation_id, request.member_id, assignments
    )
    error = wire_error(result.error)
    ctx.error = error.name if error is not ErrorCode.none else "none"
    return make(
        cls,
        throttle_time=_ZERO,
        error_code=error,
        protocol_type=result.protocol_type,
        protocol_name=result.protocol_name,
        assignment=result.assignment,
    )


def handle_heartbeat(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(ApiKey.HEARTBEAT, ctx.version)
    error = services.groups.heartbeat(request.group_id, request.generation_id, request.member_id)
    return make(cls, throttle_time=_ZERO, error_code=wire_error(error))


def handle_leave(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(ApiKey.LEAVE_GROUP, ctx.version)
    if hasattr(request, "members"):
        identities = [(m.member_id, m.group_instance_id) for m in request.members]
        error, errors = services.groups.leave(request.group_id, identities)
        member_cls = nested(cls, "MemberResponse")
        members = tuple(  # none when the whole request failed (NOT_COORDINATOR...)
            make(member_cls, member_id=m, group_instance_id=i, error_code=wire_error(e))
            for (m, i), e in zip(identities, errors, strict=False)
        )
        return make(cls, throttle_time=_ZERO, error_code=wire_error(error), members=members)
    error, errors = services.groups.leave(request.group_id, [(request.member_id, None)])
    return make(cls, throttle_time=_ZERO, error_code=wire_error(errors[0] if errors else error))


def handle_list_groups(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(ApiKey.LIST_GROUPS, ctx.version)
    listed_cls = nested(cls, "ListedGroup")
    states = {s.lower() for s in getattr(request, "states_filter", ())}
    error, listed = services.groups.list_groups()
    groups = tuple(
        make(
            listed_cls,
            group_id=g.group_id,
            protocol_type=g.protocol_type,
            group_state=g.state.value,
        )
        for g in listed
        if (not states or g.state.value.lower() in states)
        and allowed(services, ctx, Operation.DESCRIBE, ResourceType.GROUP, g.group_id)
    )
    return make(cls, throttle_time=_ZERO, error_code=wire_error(error), groups=groups)


def _described(
    group_cls: type[Any],
    member_cls: type[Any],
    group_id: str,
    error: ErrorCode,
    group: ConsumerGroup | None,
) -> Any:
    if group is None or error is not ErrorCode.none:
        return make(
            group_cls,
            error_code=error,
            group_id=group_id,
            group_state=GroupState.DEAD.value if error is ErrorCode.none else "",
            protocol_type="",
            protocol_data="",
            members=(),
            authorized_operations=-2147483648,
        )
    members = tuple(
        make(
            member_cls,
            member_id=m.member_id,
            group_instance_id=m.group_instance_id,
            client_id=m.client_id,
            client_host=m.client_host,
            member_metadata=m.metadata_for(group.protocol_name or ""),
            member_assignment=m.assignment,
        )
        for m in group.members.values()
    )
    return make(
        group_cls,
        error_code=ErrorCode.none,
        group_id=group_id,
        group_state=group.state.value,
        protocol_type=group.protocol_type,
        protocol_data=group.protocol_name or "",
        members=members,
        authorized_operations=-2147483648,
    )


def handle_describe_groups(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(ApiKey.DESCRIBE_GROUPS, ctx.version)
    group_cls = nested(cls, "DescribedGroup")
    member_cls = nested(cls, "DescribedGroupMember")
    described = []
    for group_id in request.groups:
        if not allowed(services, ctx, Operation.DESCRIBE, ResourceType.GROUP, group_id):
            error, group = ErrorCode.group_authorization_failed, None
        else:
            code, group = services.groups.describe(group_id)
            error = wire_error(code)
        described.append(_described(group_cls, member_cls, group_id, error, group))
    return make(cls, throttle_time=_ZERO, groups=tuple(described))


async def handle_delete_groups(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(ApiKey.DELETE_GROUPS, ctx.version)
    result_cls = nested(cls, "DeletableGroupResult")
    results = []
    for group_id in request.groups_names:
        if not allowed(services, ctx, Operation.DELETE, ResourceType.GROUP, group_id):
            error = ErrorCode.group_authorization_failed
        else:
            error = wire_error(await services.groups.delete(group_id))
        results.append(make(result_cls, group_id=group_id, error_code=error))
    return make(cls, throttle_time=_ZERO, results=tuple(results))
