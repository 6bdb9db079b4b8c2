"""Group handlers answer for the groups whose offsets partition this node leads, and say
NOT_COORDINATOR (or no coordinator) for the others, in each version's shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from kio.index import load_request_schema
from kio.schema.errors import ErrorCode

from broker.config import BrokerConfig
from broker.metrics.stats import BrokerStats
from broker.protocol.apis import ApiKey
from broker.protocol.header import RequestHeader
from broker.server.authorizer import AllowAll
from broker.server.context import BrokerServices, RequestContext, nested
from broker.server.handlers import groups, offsets
from contracts.clock import ManualClock
from contracts.fields import HostPort
from tests.broker.coordinator.offsets_support import FakeOffsetsLog, group_service, groups_in

COUNT = 3
(LED,) = groups_in(0, COUNT, prefix="led")
(ELSEWHERE,) = groups_in(2, COUNT, prefix="elsewhere")


@pytest.fixture
async def services() -> AsyncIterator[BrokerServices]:
    service = group_service(COUNT)
    service.on_become_leader(0, FakeOffsetsLog())
    await service.wait_loaded()
    yield BrokerServices(
        config=BrokerConfig(node_id=7),
        replicas=cast(Any, None),  # these handlers never touch partitions
        clock=ManualClock(),
        stats=BrokerStats(),
        authorizer=AllowAll(),
        cluster_id="test",
        advertised=HostPort("127.0.0.1", 9092),
        groups=service,
        cluster=cast(Any, None),  # nor the controller
        producer_ids=cast(Any, None),
    )
    await service.close()


def ctx(key: ApiKey, version: int) -> RequestContext:
    return RequestContext(RequestHeader(key, version, 1, "test", 0), "User:test", "127.0.0.1:1")


def request(api: ApiKey, version: int, **values: Any) -> Any:
    return load_request_schema(api, version)(**values)


async def test_find_coordinator_names_this_node_only_for_partitions_it_leads(
    services: BrokerServices,
) -> None:
    api = ApiKey.FIND_COORDINATOR
    led = await groups.handle_find_coordinator(
        services, ctx(api, 3), request(api, 3, key=LED, key_type=0)
    )
    assert (led.error_code, led.node_id, led.port) == (ErrorCode.none, 7, 9092)
    other = await groups.handle_find_coordinator(
        services, ctx(api, 3), request(api, 3, key=ELSEWHERE, key_type=0)
    )
    assert (other.error_code, other.node_id) == (ErrorCode.coordinator_not_available, -1)
    batch = await groups.handle_find_coordinator(
        services, ctx(api, 4), request(api, 4, key_type=0, coordinator_keys=(LED, ELSEWHERE))
    )
    assert [(c.key, c.node_id) for c in batch.coordinators] == [(LED, 7), (ELSEWHERE, -1)]


def _fetch_v1(group_id: str) -> Any:
    topic_cls = nested(load_request_schema(ApiKey.OFFSET_FETCH, 1), "OffsetFetchRequestTopic")
    topic = topic_cls(name="orders", partition_indexes=(0, 1))
    return request(ApiKey.OFFSET_FETCH, 1, group_id=group_id, topics=(topic,))


async def test_offset_fetch_says_not_coordinator_in_each_versions_shape(
    services: BrokerServices,
) -> None:
    key = ApiKey.OFFSET_FETCH
    v1 = offsets.handle_fetch(services, ctx(key, 1), _fetch_v1(ELSEWHERE))
    assert [p.error_code for p in v1.topics[0].partitions] == [ErrorCode.not_coordinator] * 2
    v5 = offsets.handle_fetch(
        services, ctx(key, 5), request(key, 5, group_id=ELSEWHERE, topics=None)
    )
    assert (v5.error_code, v5.topics) == (ErrorCode.not_coordinator, ())
    group_cls = nested(load_request_schema(key, 8), "OffsetFetchRequestGroup")
    v8 = offsets.handle_fetch(
        services,
        ctx(key, 8),
        request(
            key,
            8,
            groups=(
                group_cls(group_id=LED, topics=None),
                group_cls(group_id=ELSEWHERE, topics=None),
            ),
            require_stable=False,
        ),
    )
    assert [(g.group_id, g.error_code) for g in v8.groups] == [
        (LED, ErrorCode.none),
        (ELSEWHERE, ErrorCode.not_coordinator),
    ]


async def test_heartbeat_and_batched_leave_say_not_coordinator(services: BrokerServices) -> None:
    beat = groups.handle_heartbeat(
        services,
        ctx(ApiKey.HEARTBEAT, 4),
        request(
            ApiKey.HEARTBEAT,
            4,
            group_id=ELSEWHERE,
            generation_id=1,
            member_id="m",
            group_instance_id=None,
        ),
    )
    assert beat.error_code is ErrorCode.not_coordinator
    identity = nested(load_request_schema(ApiKey.LEAVE_GROUP, 3), "MemberIdentity")
    left = groups.handle_leave(
        services,
        ctx(ApiKey.LEAVE_GROUP, 3),
        request(
            ApiKey.LEAVE_GROUP,
            3,
            group_id=ELSEWHERE,
            members=(identity(member_id="m", group_instance_id=None),),
        ),
    )
    assert (left.error_code, left.members) == (ErrorCode.not_coordinator, ())


async def test_describe_and_delete_say_not_coordinator_per_group(
    services: BrokerServices,
) -> None:
    described = groups.handle_describe_groups(
        services,
        ctx(ApiKey.DESCRIBE_GROUPS, 5),
        request(
            ApiKey.DESCRIBE_GROUPS, 5, groups=(LED, ELSEWHERE), include_authorized_operations=False
        ),
    )
    assert [(g.error_code, g.group_state) for g in described.groups] == [
        (ErrorCode.none, "Dead"),
        (ErrorCode.not_coordinator, ""),
    ]
    deleted = await groups.handle_delete_groups(
        services,
        ctx(ApiKey.DELETE_GROUPS, 2),
        request(ApiKey.DELETE_GROUPS, 2, groups_names=(LED, ELSEWHERE)),
    )
    assert [r.error_code for r in deleted.results] == [
        ErrorCode.group_id_not_found,
        ErrorCode.not_coordinator,
    ]
