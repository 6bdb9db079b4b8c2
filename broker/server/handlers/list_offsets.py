"""ListOffsets (v1-7): earliest (-2), latest (-1), max timestamp (-3, v7) or the first
offset whose record timestamp is >= a given time. Offsets are bounded by the high
watermark; a timestamp later than every visible record gives offset -1 as in Kafka."""

from __future__ import annotations

import datetime
from typing import Any

from kio.schema.errors import ErrorCode

from broker.protocol.apis import ApiKey, response_class
from broker.server.authorizer import Operation, ResourceType
from broker.server.context import BrokerServices, RequestContext, allowed, make, nested
from broker.server.errors import wire_error

__all__ = ["handle"]

LATEST = -1
EARLIEST = -2
MAX_TIMESTAMP = -3
_ZERO = datetime.timedelta(0)


def _lookup(
    services: BrokerServices, topic: str, index: int, timestamp: int
) -> tuple[ErrorCode, int, int, int]:
    """(error, timestamp, offset, leader epoch) for one partition."""
    partition, missing = services.replicas.leader_of(topic, index)
    if partition is None:
        return wire_error(missing), -1, -1, -1
    epoch = partition.leader_epoch
    hw = partition.high_watermark
    if timestamp == LATEST:
        return ErrorCode.none, -1, hw, epoch
    if timestamp == EARLIEST:
        return ErrorCode.none, -1, partition.log_start_offset, epoch
    if timestamp == MAX_TIMESTAMP:
        found = partition.log.offset_of_max_timestamp()
    elif timestamp < 0:
        return ErrorCode.invalid_request, -1, -1, -1
    else:
        found = partition.log.offset_for_timestamp(timestamp)
    if found is None or found[0] >= hw:
        return ErrorCode.none, -1, -1, epoch
    return ErrorCode.none, found[1], found[0], epoch


def handle(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(ApiKey.LIST_OFFSETS, ctx.version)
    topic_cls = nested(cls, "ListOffsetsTopicResponse")
    part_cls = nested(cls, "ListOffsetsPartitionResponse")
    topics = []
    for topic in request.topics:
        can_describe = allowed(services, ctx, Operation.DESCRIBE, ResourceType.TOPIC, topic.name)
        partitions = []
        for p in topic.partitions:
            if can_describe:
                error, ts, offset, epoch = _lookup(
                    services, topic.name, p.partition_index, p.timestamp
                )
            else:
                error, ts, offset, epoch = ErrorCode.topic_authorization_failed, -1, -1, -1
            partitions.append(
                make(
                    part_cls,
                    partition_index=p.partition_index,
                    error_code=error,
                    timestamp=ts,
                    offset=offset,
                    leader_epoch=epoch,
                )
            )
        topics.append(make(topic_cls, name=topic.name, partitions=tuple(partitions)))
    return make(cls, throttle_time=_ZERO, topics=tuple(topics))
