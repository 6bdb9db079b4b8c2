"""Fetch (v4-16): read whole batches from each partition, long-polling when there is
not yet enough data. Consumers (replica id < 0) and followers (replica id >= 0: the
``replica_id`` field up to v14, ``replica_state`` from v15) share the request shape
and the long poll; what they may read differs (``broker.server.handlers.replica_fetch``
serves followers).

Semantics, as Kafka: ``max_wait``/``min_bytes`` make the request wait in a purgatory
until enough bytes are readable or the wait ends (consumers wait for a high watermark
to move, followers for the leader's log end); the response-level ``max_bytes`` and
per-partition limits are soft for the first batch returned, so a batch larger than the
limits is still delivered; offsets below the log start or above the log end get
OFFSET_OUT_OF_RANGE; v13+ name topics by id. A consumer reads up to the high watermark
and a ``current_leader_epoch`` (v9+) other than the leader's is answered
FENCED_LEADER_EPOCH (older) or UNKNOWN_LEADER_EPOCH (newer). No fetch sessions: the
session id is always 0, which every client accepts. No transactions, so the last
stable offset is the high watermark under both isolation levels.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from kio.schema.errors import ErrorCode
from opentelemetry.trace import Span

from broker.cluster.purgatory import PartitionKey
from broker.error_codes import KafkaError
from broker.protocol.fetch_codec import (
    TOPIC_IDS_FROM,
    FetchPartitionData,
    FetchTopicData,
    encode_fetch_response,
)
from broker.server.authorizer import CLUSTER_NAME, Operation, ResourceType
from broker.server.context import BrokerServices, RawBody, RequestContext, allowed
from broker.server.errors import wire_error
from broker.server.handlers.fetch_request import FetchResult, TopicRequest, Wanted
from broker.server.handlers.replica_fetch import read_for_follower
from broker.storage.errors import OffsetOutOfRangeError
from broker.tracing import trace_id_of

__all__ = ["handle", "replica_id_of"]

_NO_ID = uuid.UUID(int=0)
REPLICA_STATE_FROM = 15


def replica_id_of(version: int, request: Any) -> int:
    """The sender's replica id: -1 for consumers, the broker id for followers."""
    if version >= REPLICA_STATE_FROM:
        return int(request.replica_state.replica_id)
    return int(request.replica_id)


def _plan(
    services: BrokerServices, ctx: RequestContext, request: Any, replica_id: int
) -> list[TopicRequest]:
    """Topics resolved (ids and names) and authorized: a consumer needs READ on each
    topic, a follower CLUSTER_ACTION on the cluster (Kafka's rules)."""
    follower_allowed = replica_id < 0 or allowed(
        services, ctx, Operation.CLUSTER_ACTION, ResourceType.CLUSTER, CLUSTER_NAME
    )
    plan = []
    for topic in request.topics:
        if ctx.version >= TOPIC_IDS_FROM:
            topic_id = topic.topic_id or _NO_ID
            info = services.replicas.topic_by_id(topic_id)
            name = info.name if info is not None else None
            error = ErrorCode.none if info is not None else ErrorCode.unknown_topic_id
        else:
            name = topic.topic
            info = services.replicas.topic(name)
            topic_id = info.topic_id if info is not None else _NO_ID
            error = ErrorCode.none
        if (name is not None and not follower_allowed) or (
            name is not None
            and replica_id < 0
            and not allowed(services, ctx, Operation.READ, ResourceType.TOPIC, name)
        ):
            error = ErrorCode.topic_authorization_failed
        wanted = [
            Wanted(
                p.partition,
                p.fetch_offset,
                p.partition_max_bytes,
                getattr(p, "current_leader_epoch", -1),
                getattr(p, "last_fetched_epoch", -1),
            )
            for p in topic.partitions
        ]
        plan.append(TopicRequest(name, topic_id, error, wanted))
    return plan


def _read_for_consumer(
    services: BrokerServices, name: str, want: Wanted, remaining: int, first: bool
) -> tuple[FetchPartitionData, int]:
    """One partition up to its high watermark; (data, records read)."""
    partition, missing = services.replicas.leader_of(name, want.index)
    if partition is None or partition.leader is None:
        return FetchPartitionData(want.index, wire_error(missing).value), 0
    epoch_error = partition.leader.check_client_epoch(want.current_leader_epoch)
    if epoch_error is not KafkaError.NONE:
        return FetchPartitionData(want.index, int(epoch_error)), 0
    hw = partition.high_watermark
    try:
        info = partition.read(want.offset, min(want.max_bytes, remaining), min_one=first)
    except OffsetOutOfRangeError:
        return FetchPartitionData(
            want.index, ErrorCode.offset_out_of_range.value, hw, hw, partition.log_start_offset
        ), 0
    if info.data:
        partition.bytes_fetched += len(info.data)
        partition.records_fetched += info.records
    return FetchPartitionData(
        want.index, 0, hw, hw, partition.log_start_offset, info.data
    ), info.records


Reader = Callable[[list[TopicRequest], int], FetchResult]


def _reader(services: BrokerServices, replica_id: int) -> Reader:
    """Reads every partition of a plan once, as a consumer or as follower ``replica_id``."""

    def read(plan: list[TopicRequest], max_bytes: int) -> FetchResult:
        result = FetchResult()
        for topic in plan:
            parts = []
            for want in topic.partitions:
                if topic.error is not ErrorCode.none or topic.name is None:
                    data = FetchPartitionData(want.index, topic.error.value)
                    result.add(data)
                    parts.append(data)
                    continue
                remaining = max(0, max_bytes - result.total_bytes)
                first = result.total_bytes == 0
                if replica_id >= 0:
                    data = read_for_follower(
                        services.replicas, topic.name, want, replica_id, remaining, first
                    )
                    services.stats.replication.bytes_out += len(data.records)
                else:
                    data, _ = _read_for_consumer(services, topic.name, want, remaining, first)
                result.add(data)
                parts.append(data)
            result.topics.append(FetchTopicData(topic.name or "", topic.topic_id, parts))
        return result

    return read


def handle(
    services: BrokerServices, ctx: RequestContext, request: Any
) -> RawBody | Awaitable[RawBody]:
    replica_id = replica_id_of(ctx.version, request)
    plan = _plan(services, ctx, request, replica_id)
    span = None
    if services.tracer is not None and replica_id < 0:
        span = services.tracer.start_fetch_span([t.name or str(t.topic_id) for t in plan])
        ctx.trace_id = trace_id_of(span)
    max_bytes = request.max_bytes if request.max_bytes > 0 else 2**31 - 1
    read = _reader(services, replica_id)
    result = read(plan, max_bytes)
    wait_s = request.max_wait.total_seconds()
    if result.error is not None:
        ctx.error = result.error.name
    if result.total_bytes >= request.min_bytes or wait_s <= 0 or result.answer_now or not plan:
        return _finish(span, ctx.version, result)
    replicas = services.replicas
    wait = replicas.wait_for_log_end if replica_id >= 0 else replicas.wait_for_data
    return _long_poll(ctx, request, plan, read, wait, max_bytes, wait_s, span)


def _finish(span: Span | None, version: int, result: FetchResult) -> RawBody:
    if span is not None:
        span.set_attribute("messaging.batch.byte_count", result.total_bytes)
        span.end()
    return RawBody(encode_fetch_response(version, result.topics))


async def _long_poll(
    ctx: RequestContext,
    request: Any,
    plan: list[TopicRequest],
    read: Reader,
    wait: Callable[[list[PartitionKey], float], Awaitable[None]],
    max_bytes: int,
    wait_s: float,
    span: Span | None,
) -> RawBody:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    keys: list[PartitionKey] = [
        (t.name, w.index) for t in plan if t.name is not None for w in t.partitions
    ]
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        await wait(keys, remaining)
        result = read(plan, max_bytes)
        if result.error is not None:
            ctx.error = result.error.name
        if result.total_bytes >= request.min_bytes or result.answer_now:
            return _finish(span, ctx.version, result)
    return _finish(span, ctx.version, read(plan, max_bytes))
