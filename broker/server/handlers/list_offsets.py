"""ListOffsets (v1-7): earliest (-2), latest (-1), max timestamp (-3, v7) or the first
offset whose record timestamp is >= a given time.

For clients offsets are bounded by the high watermark; a timestamp later than every
visible record gives offset -1 as in Kafka. A ``current_leader_epoch`` (v4+) other
than the leader's is FENCED_LEADER_EPOCH (older) or UNKNOWN_LEADER_EPOCH (newer). A
new leader whose high watermark has not reached the start of its epoch answers
OFFSET_NOT_AVAILABLE for the latest offset and for timestamps not found below the high
watermark (its committed offsets are not known yet; clients retry). A follower
(``replica_id`` >= 0, after OFFSET_OUT_OF_RANGE) reads up to the log end and is never
refused that way."""

from __future__ import annotations

import datetime
from typing import Any

from kio.schema.errors import ErrorCode

from broker.error_codes import KafkaError
from broker.protocol.apis import ApiKey, response_class
from broker.server.authorizer import Operation, ResourceType
from broker.server.context import BrokerServices, RequestContext, allowed, make, nested
from broker.server.errors import wire_error

__all__ = ["handle"]

LATEST = -1
EARLIEST = -2
MAX_TIMESTAMP = -3
_ZERO = datetime.timedelta(0)


_FAILED = (-1, -1, -1)


def _lookup(
    services: BrokerServices, topic: str, index: int, wanted: Any, replica_id: int
) -> tuple[ErrorCode, int, int, int]:
    """(error, timestamp, offset, leader epoch) for one partition."""
    partition, missing = services.replicas.leader_of(topic, index)
    if partition is None or partition.leader is None:
        return wire_error(missing), *_FAILED
    leader = partition.leader
    error = leader.check_client_epoch(getattr(wanted, "current_leader_epoch", -1))
    if error is not KafkaError.NONE:
        return wire_error(error), *_FAILED
    timestamp = wanted.timestamp
    from_replica = replica_id >= 0
    epoch = leader.leader_epoch
    bound = partition.log_end_offset if from_replica else partition.high_watermark
    if timestamp == EARLIEST:
        return ErrorCode.none, -1, partition.log_start_offset, epoch
    if timestamp == LATEST:
        error = leader.list_offsets_error(timestamp, from_replica=from_replica)
        if error is not KafkaError.NONE:
            return wire_error(error), *_FAILED
        return ErrorCode.none, -1, bound, epoch
    if timestamp == MAX_TIMESTAMP:
        found = partition.log.offset_of_max_timestamp()
    elif timestamp < 0:
        return ErrorCode.invalid_request, *_FAILED
    else:
        found = partition.log.offset_for_timestamp(timestamp)
    visible = found if found is not None and found[0] < bound else None
    error = leader.list_offsets_error(
        timestamp, None if visible is None else visible[0], from_replica=from_replica
    )
    if error is not KafkaError.NONE:
        return wire_error(error), *_FAILED
    if visible is None:
        return ErrorCode.none, -1, -1, epoch
    return ErrorCode.none, visible[1], visible[0], epoch


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
                    services, topic.name, p.partition_index, p, request.replica_id
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
