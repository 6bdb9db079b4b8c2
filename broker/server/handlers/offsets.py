"""Committed offsets: OffsetCommit (v2-8) and OffsetFetch (v1-8, multi-group from v8)."""

from __future__ import annotations

import datetime
from typing import Any

from kio.schema.errors import ErrorCode

from broker.coordinator.group import CommittedOffset
from broker.protocol.apis import ApiKey, response_class
from broker.server.authorizer import Operation, ResourceType
from broker.server.context import BrokerServices, RequestContext, allowed, make, nested
from broker.server.errors import wire_error

__all__ = ["handle_commit", "handle_fetch"]

_ZERO = datetime.timedelta(0)


async def handle_commit(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(ApiKey.OFFSET_COMMIT, ctx.version)
    topic_cls = nested(cls, "OffsetCommitResponseTopic")
    part_cls = nested(cls, "OffsetCommitResponsePartition")
    now = services.clock.time_ms()
    wanted = [
        (
            t.name,
            p.partition_index,
            CommittedOffset(
                offset=p.committed_offset,
                leader_epoch=getattr(p, "committed_leader_epoch", -1),
                metadata=p.committed_metadata,
                commit_timestamp_ms=now,
            ),
        )
        for t in request.topics
        for p in t.partitions
    ]
    if not allowed(services, ctx, Operation.READ, ResourceType.GROUP, request.group_id):
        results = {(t, p): ErrorCode.group_authorization_failed for t, p, _ in wanted}
    else:
        committed = await services.groups.commit(
            request.group_id, request.generation_id_or_member_epoch, request.member_id, wanted
        )
        results = {key: wire_error(code) for key, code in committed.items()}
    errors = {e for e in results.values() if e is not ErrorCode.none}
    if errors:
        ctx.error = sorted(e.name for e in errors)[0]
    topics = tuple(
        make(
            topic_cls,
            name=t.name,
            partitions=tuple(
                make(
                    part_cls,
                    partition_index=p.partition_index,
                    error_code=results[(t.name, p.partition_index)],
                )
                for p in t.partitions
            ),
        )
        for t in request.topics
    )
    return make(cls, throttle_time=_ZERO, topics=topics)


def _group_offsets(
    services: BrokerServices,
    version: int,
    group_id: str,
    topics: Any,
    classes: tuple[type[Any], type[Any]],
) -> tuple[ErrorCode, tuple[Any, ...]]:
    """(group error, topics) for one group. As Kafka, a group error (NOT_COORDINATOR...)
    comes without topics from v2 on, and on every requested partition before (v1 has
    no group-level error)."""
    topic_cls, part_cls = classes
    code, committed = services.groups.committed(group_id)
    error = wire_error(code)
    if error is not ErrorCode.none and version >= 2:
        return error, ()
    if topics is None:
        wanted: dict[str, list[int]] = {}
        for topic, partition in sorted(committed):
            wanted.setdefault(topic, []).append(partition)
    else:
        wanted = {t.name: list(t.partition_indexes) for t in topics}
    out = []
    for topic, partitions in wanted.items():
        parts = []
        for partition in partitions:
            c = committed.get((topic, partition))
            parts.append(
                make(
                    part_cls,
                    partition_index=partition,
                    committed_offset=c.offset if c else -1,
                    committed_leader_epoch=c.leader_epoch if c else -1,
                    metadata=(c.metadata if c else "") or "",
                    error_code=error,
                )
            )
        out.append(make(topic_cls, name=topic, partitions=tuple(parts)))
    return error, tuple(out)


def handle_fetch(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(ApiKey.OFFSET_FETCH, ctx.version)
    if hasattr(request, "groups"):
        group_cls = nested(cls, "OffsetFetchResponseGroup")
        topic_cls = nested(cls, "OffsetFetchResponseTopics")
        part_cls = nested(cls, "OffsetFetchResponsePartitions")
        groups = []
        for g in request.groups:
            if not allowed(services, ctx, Operation.DESCRIBE, ResourceType.GROUP, g.group_id):
                groups.append(
                    make(
                        group_cls,
                        group_id=g.group_id,
                        topics=(),
                        error_code=ErrorCode.group_authorization_failed,
                    )
                )
                continue
            error, topics = _group_offsets(
                services, ctx.version, g.group_id, g.topics, (topic_cls, part_cls)
            )
            groups.append(make(group_cls, group_id=g.group_id, topics=topics, error_code=error))
        return make(cls, throttle_time=_ZERO, groups=tuple(groups))
    topic_cls = nested(cls, "OffsetFetchResponseTopic")
    part_cls = nested(cls, "OffsetFetchResponsePartition")
    if not allowed(services, ctx, Operation.DESCRIBE, ResourceType.GROUP, request.group_id):
        return make(
            cls, throttle_time=_ZERO, topics=(), error_code=ErrorCode.group_authorization_failed
        )
    error, topics = _group_offsets(
        services, ctx.version, request.group_id, request.topics, (topic_cls, part_cls)
    )
    return make(cls, throttle_time=_ZERO, topics=topics, error_code=error)
