"""OffsetsForLeaderEpoch (API 23, v2-4): where a leader epoch ends in the leader's log.

Followers ask it before fetching from a new leader (``replica_id`` >= 0, v3+), to
truncate what the leader does not have; consumers ask it after a leader change
(KIP-320) to detect that their position was truncated away. The answer comes from the
partition's persisted leader epoch cache (``LeaderReplicaState.offsets_for_leader_epoch``):
for epoch E, the largest epoch <= E the log knows and the start offset of the next
epoch (the log end for the latest one); (-1, -1) when it knows none. A
``current_leader_epoch`` other than the leader's is FENCED_LEADER_EPOCH (older) or
UNKNOWN_LEADER_EPOCH (newer); a partition not led here NOT_LEADER_OR_FOLLOWER.
Followers need CLUSTER_ACTION on the cluster, consumers DESCRIBE on the topic.
"""

from __future__ import annotations

import datetime
from typing import Any

from kio.schema.errors import ErrorCode

from broker.error_codes import KafkaError
from broker.protocol.apis import ApiKey, response_class
from broker.server.authorizer import CLUSTER_NAME, Operation, ResourceType
from broker.server.context import BrokerServices, RequestContext, allowed, make, nested
from broker.storage.epoch_cache import UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET, EpochEndOffset

__all__ = ["handle"]

_ZERO = datetime.timedelta(0)
_UNDEFINED = EpochEndOffset(UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)


def _end_of_epoch(
    services: BrokerServices, topic: str, index: int, current_leader_epoch: int, epoch: int
) -> tuple[KafkaError, EpochEndOffset]:
    partition, missing = services.replicas.leader_of(topic, index)
    if partition is None or partition.leader is None:
        return missing, _UNDEFINED
    return partition.leader.offsets_for_leader_epoch(current_leader_epoch, epoch, partition.log)


def _authorized(services: BrokerServices, ctx: RequestContext, request: Any, topic: str) -> bool:
    if getattr(request, "replica_id", -1) >= 0:
        return allowed(services, ctx, Operation.CLUSTER_ACTION, ResourceType.CLUSTER, CLUSTER_NAME)
    return allowed(services, ctx, Operation.DESCRIBE, ResourceType.TOPIC, topic)


def handle(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(ApiKey.OFFSET_FOR_LEADER_EPOCH, ctx.version)
    topic_cls = nested(cls, "OffsetForLeaderTopicResult")
    part_cls = nested(cls, "EpochEndOffset")
    topics = []
    for topic in request.topics:
        authorized = _authorized(services, ctx, request, topic.topic)
        partitions = []
        for p in topic.partitions:
            if authorized:
                error, end = _end_of_epoch(
                    services, topic.topic, p.partition, p.current_leader_epoch, p.leader_epoch
                )
                code = ErrorCode(int(error))
            else:
                code, end = ErrorCode.topic_authorization_failed, _UNDEFINED
            if code is not ErrorCode.none:
                ctx.error = code.name
            partitions.append(
                make(
                    part_cls,
                    error_code=code,
                    partition=p.partition,
                    leader_epoch=end.leader_epoch,
                    end_offset=end.end_offset,
                )
            )
        topics.append(make(topic_cls, topic=topic.topic, partitions=tuple(partitions)))
    return make(cls, throttle_time=_ZERO, topics=tuple(topics))
