"""Fetch (v4-16): read whole batches from each partition, long-polling when there is
not yet enough data.

Semantics, as Kafka: ``max_wait``/``min_bytes`` make the request wait in the purgatory
until enough bytes are readable or the wait ends; the response-level ``max_bytes`` and
per-partition limits are soft for the first batch returned, so a batch larger than the
limits is still delivered; offsets below the log start or above the log end get
OFFSET_OUT_OF_RANGE; v13+ name topics by id. No fetch sessions: the session id is
always 0, which every client accepts. No transactions, so the last stable offset is
the high watermark under both isolation levels.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from kio.schema.errors import ErrorCode
from opentelemetry.trace import Span

from broker.cluster.purgatory import PartitionKey
from broker.protocol.fetch_codec import (
    TOPIC_IDS_FROM,
    FetchPartitionData,
    FetchTopicData,
    encode_fetch_response,
)
from broker.server.authorizer import Operation, ResourceType
from broker.server.context import BrokerServices, RawBody, RequestContext, allowed
from broker.server.errors import wire_error
from broker.storage.errors import OffsetOutOfRangeError
from broker.tracing import trace_id_of

__all__ = ["handle"]

_NO_ID = uuid.UUID(int=0)


@dataclass(frozen=True, slots=True)
class _Wanted:
    index: int
    offset: int
    max_bytes: int


@dataclass(slots=True)
class _TopicRequest:
    name: str | None
    topic_id: uuid.UUID
    error: ErrorCode
    partitions: list[_Wanted]


def _plan(services: BrokerServices, ctx: RequestContext, request: Any) -> list[_TopicRequest]:
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
        if name is not None and not allowed(
            services, ctx, Operation.READ, ResourceType.TOPIC, name
        ):
            error = ErrorCode.topic_authorization_failed
        wanted = [
            _Wanted(p.partition, p.fetch_offset, p.partition_max_bytes) for p in topic.partitions
        ]
        plan.append(_TopicRequest(name, topic_id, error, wanted))
    return plan


def _read(
    services: BrokerServices, plan: list[_TopicRequest], max_bytes: int
) -> tuple[list[FetchTopicData], int, ErrorCode | None]:
    """Read every partition once; returns (topics, bytes read, the last partition
    error or None)."""
    remaining = max_bytes
    total = 0
    error: ErrorCode | None = None
    topics = []
    replicas = services.replicas
    for topic in plan:
        parts = []
        for want in topic.partitions:
            if topic.error is not ErrorCode.none:
                parts.append(FetchPartitionData(want.index, topic.error.value))
                error = topic.error
                continue
            partition, missing = replicas.leader_of(topic.name or "", want.index)
            if partition is None:
                error = wire_error(missing)
                parts.append(FetchPartitionData(want.index, error.value))
                continue
            hw = partition.high_watermark
            try:
                info = partition.read(
                    want.offset, min(want.max_bytes, remaining), min_one=total == 0
                )
            except OffsetOutOfRangeError:
                parts.append(
                    FetchPartitionData(
                        want.index,
                        ErrorCode.offset_out_of_range.value,
                        hw,
                        hw,
                        partition.log_start_offset,
                    )
                )
                error = ErrorCode.offset_out_of_range
                continue
            size = len(info.data)
            if size:
                total += size
                remaining = max(0, remaining - size)
                partition.bytes_fetched += size
                partition.records_fetched += info.records
            parts.append(
                FetchPartitionData(want.index, 0, hw, hw, partition.log_start_offset, info.data)
            )
        topics.append(FetchTopicData(topic.name or "", topic.topic_id, parts))
    return topics, total, error


def handle(
    services: BrokerServices, ctx: RequestContext, request: Any
) -> RawBody | Awaitable[RawBody]:
    plan = _plan(services, ctx, request)
    span = None
    if services.tracer is not None:
        span = services.tracer.start_fetch_span([t.name or str(t.topic_id) for t in plan])
        ctx.trace_id = trace_id_of(span)
    max_bytes = request.max_bytes if request.max_bytes > 0 else 2**31 - 1
    topics, total, error = _read(services, plan, max_bytes)
    wait_s = request.max_wait.total_seconds()
    if error is not None:
        ctx.error = error.name
    if total >= request.min_bytes or wait_s <= 0 or error is not None or not plan:
        return _finish(span, ctx.version, topics)
    return _long_poll(services, ctx, request, plan, max_bytes, wait_s, span)


def _finish(span: Span | None, version: int, topics: list[FetchTopicData]) -> RawBody:
    if span is not None:
        span.set_attribute(
            "messaging.batch.byte_count", sum(len(p.records) for t in topics for p in t.partitions)
        )
        span.end()
    return RawBody(encode_fetch_response(version, topics))


async def _long_poll(
    services: BrokerServices,
    ctx: RequestContext,
    request: Any,
    plan: list[_TopicRequest],
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
        await services.replicas.wait_for_data(keys, remaining)
        topics, total, error = _read(services, plan, max_bytes)
        if error is not None:
            ctx.error = error.name
        if total >= request.min_bytes or error is not None:
            return _finish(span, ctx.version, topics)
    topics, _, _ = _read(services, plan, max_bytes)
    return _finish(span, ctx.version, topics)
