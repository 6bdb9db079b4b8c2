"""Metadata (v1-12): brokers, controller, topics with partitions, leaders and epochs.

A null topic list means every topic; topics named in the request that do not exist
are created when auto-creation is on and the request allows it (v4+), otherwise they
get UNKNOWN_TOPIC_OR_PARTITION. Topic ids (v10+) are the stable UUIDs from storage.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from kio.schema.errors import ErrorCode

from broker.protocol.apis import ApiKey, response_class
from broker.server.authorizer import Operation, ResourceType
from broker.server.context import BrokerServices, RequestContext, allowed, make, nested
from broker.server.errors import error_code_for
from broker.storage.errors import StorageError
from broker.storage.log_config import InvalidConfigError
from broker.storage.manager import TopicInfo

__all__ = ["handle"]

_ZERO = datetime.timedelta(0)
_NO_ID = uuid.UUID(int=0)


def _requested_names(services: BrokerServices, request: Any) -> list[str] | None:
    if request.topics is None:
        return None
    names = []
    for topic in request.topics:
        name = getattr(topic, "name", None)
        if name is None and getattr(topic, "topic_id", None) is not None:
            info = services.replicas.topic_by_id(topic.topic_id)
            name = info.name if info is not None else None
        if name is not None:
            names.append(name)
    return names


def handle(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(ApiKey.METADATA, ctx.version)
    broker_cls = nested(cls, "MetadataResponseBroker")
    topic_cls = nested(cls, "MetadataResponseTopic")
    part_cls = nested(cls, "MetadataResponsePartition")
    node = services.node_id
    names = _requested_names(services, request)
    auto_create = services.config.auto_create_topics and getattr(
        request, "allow_auto_topic_creation", True
    )
    topics = []
    for name in sorted(services.replicas.topics) if names is None else names:
        info = services.replicas.topic(name)
        error = ErrorCode.none
        if not allowed(services, ctx, Operation.DESCRIBE, ResourceType.TOPIC, name):
            error = ErrorCode.topic_authorization_failed
        elif info is None and auto_create and names is not None:
            try:
                info = services.replicas.auto_create(name)
            except (StorageError, InvalidConfigError) as exc:
                error = error_code_for(exc)
        elif info is None:
            error = ErrorCode.unknown_topic_or_partition
        topics.append(_topic(topic_cls, part_cls, name, info, error, node, services))
    return make(
        cls,
        throttle_time=_ZERO,
        brokers=(
            make(
                broker_cls,
                node_id=node,
                host=services.advertised.host,
                port=services.advertised.port,
                rack=None,
            ),
        ),
        cluster_id=services.cluster_id,
        controller_id=node,
        topics=tuple(topics),
        cluster_authorized_operations=-2147483648,
    )


def _topic(
    topic_cls: type[Any],
    part_cls: type[Any],
    name: str,
    info: TopicInfo | None,
    error: ErrorCode,
    node: int,
    services: BrokerServices,
) -> Any:
    partitions = []
    if info is not None and error is ErrorCode.none:
        for index in range(info.partitions):
            partition = services.replicas.get(name, index)
            epoch = partition.leader_epoch if partition is not None else 0
            partitions.append(
                make(
                    part_cls,
                    error_code=ErrorCode.none,
                    partition_index=index,
                    leader_id=node,
                    leader_epoch=epoch,
                    replica_nodes=(node,),
                    isr_nodes=(node,),
                    offline_replicas=(),
                )
            )
    return make(
        topic_cls,
        error_code=error,
        name=name,
        topic_id=info.topic_id if info is not None else _NO_ID,
        is_internal=False,
        partitions=tuple(partitions),
        topic_authorized_operations=-2147483648,
    )
