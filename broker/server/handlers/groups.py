"""Consumer-group APIs: FindCoordinator (v0-4), JoinGroup (v0-7), SyncGroup (v0-5),
Heartbeat (v0-4), LeaveGroup (v0-4, batched from v3), ListGroups (v0-4),
DescribeGroups (v0-5) and DeleteGroups (v0-2). This node coordinates every group."""

from __future__ import annotations

import datetime
from typing import Any

from kio.schema.errors import ErrorCode

from broker.coordinator.coordinator import JoinRequest
from broker.coordinator.group import GroupState
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

_ZERO = datetime.timedelta(0)
_GROUP_KEY = 0


def _ms(value: Any, default: int) -> int:
    if isinstance(value, datetime.timedelta):
        return int(value.total_seconds() * 1000)
    return default


def handle_find_coordinator(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(ApiKey.FIND_COORDINATOR, ctx.version)
    node, host, port = services.node_id, services.advertised.host, services.advertised.port
    key_type = getattr(request, "key_type", _GROUP_KEY)
    error = ErrorCode.none if key_type == _GROUP_KEY else ErrorCode.coordinator_not_available
    message = None if error is ErrorCode.none else "transactions are not supported"
    if hasattr(request, "coordinator_keys"):
        coordinator_cls = nested(cls, "Coordinator")
        coordinators = tuple(
            make(
                coordinator_cls,
                key=key,
                node_id=node,
                host=host,
                port=port,
                error_code=error,
                error_message=message,
            )
            for key in request.coordinator_keys
        )
        return make(cls, throttle_time=_ZERO, coordinators=coordinators)
    return make(
        cls,
        throttle_time=_ZERO,
        error_code=error,
        error_message=message,
        node_id=node,
        host=host,
        port=port,
    )


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
    error = services.groups.coordinator.heartbeat(
        request.group_id, request.generation_id, request.member_id, services.clock.time_ms()
    )
    return make(cls, throttle_time=_ZERO, error_code=wire_error(error))


def handle_leave(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(ApiKey.LEAVE_GROUP, ctx.version)
    now = services.clock.time_ms()
    coordinator = services.groups.coordinator
    if hasattr(request, "members"):
        identities = [(m.member_id, m.group_instance_id) for m in request.members]
        errors = coordinator.leave(request.group_id, identities, now)
        member_cls = nested(cls, "MemberResponse")
        members = tuple(
            make(member_cls, member_id=m, group_instance_id=i, error_code=wire_error(e))
            for (m, i), e in zip(identities, errors, strict=True)
        )
        return make(cls, throttle_time=_ZERO, error_code=ErrorCode.none, members=members)
    (error,) = coordinator.leave(request.group_id, [(request.member_id, None)], now)
    return make(cls, throttle_time=_ZERO, error_code=wire_error(error))


def handle_list_groups(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(ApiKey.LIST_GROUPS, ctx.version)
    listed_cls = nested(cls, "ListedGroup")
    states = {s.lower() for s in getattr(request, "states_filter", ())}
    groups = tuple(
        make(
            listed_cls,
            group_id=g.group_id,
            protocol_type=g.protocol_type,
            group_state=g.state.value,
        )
        for g in services.groups.coordinator.listed()
        if (not states or g.state.value.lower() in states)
        and allowed(services, ctx, Operation.DESCRIBE, ResourceType.GROUP, g.group_id)
    )
    return make(cls, throttle_time=_ZERO, error_code=ErrorCode.none, groups=groups)


def handle_describe_groups(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(ApiKey.DESCRIBE_GROUPS, ctx.version)
    group_cls = nested(cls, "DescribedGroup")
    member_cls = nested(cls, "DescribedGroupMember")
    described = []
    for group_id in request.groups:
        group = services.groups.coordinator.groups.get(group_id)
        error = ErrorCode.none
        if not allowed(services, ctx, Operation.DESCRIBE, ResourceType.GROUP, group_id):
            error = ErrorCode.group_authorization_failed
        if group is None or error is not ErrorCode.none:
            state = GroupState.DEAD.value if error is ErrorCode.none else ""
            described.append(
                make(
                    group_cls,
                    error_code=error,
                    group_id=group_id,
                    group_state=state,
                    protocol_type="",
                    protocol_data="",
                    members=(),
                    authorized_operations=-2147483648,
                )
            )
            continue
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
        described.append(
            make(
                group_cls,
                error_code=ErrorCode.none,
                group_id=group_id,
                group_state=group.state.value,
                protocol_type=group.protocol_type,
                protocol_data=group.protocol_name or "",
                members=members,
                authorized_operations=-2147483648,
            )
        )
    return make(cls, throttle_time=_ZERO, groups=tuple(described))


def handle_delete_groups(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(ApiKey.DELETE_GROUPS, ctx.version)
    result_cls = nested(cls, "DeletableGroupResult")
    results = []
    for group_id in request.groups_names:
        if not allowed(services, ctx, Operation.DELETE, ResourceType.GROUP, group_id):
            error = ErrorCode.group_authorization_failed
        else:
            error = wire_error(services.groups.delete(group_id))
        results.append(make(result_cls, group_id=group_id, error_code=error))
    return make(cls, throttle_time=_ZERO, results=tuple(results))
