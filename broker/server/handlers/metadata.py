"""Metadata (v1-12): brokers, controller, topics with partitions, leaders, replicas, ISR.

Answered from this broker's metadata image, so any broker answers for the whole
cluster: every registered broker that is not fenced, with the address it registered;
per partition its leader (LEADER_NOT_AVAILABLE while it has none), leader epoch,
replicas, in-sync replicas and offline replicas (fenced or unregistered brokers). A
null topic list means every topic; topics named in the request that do not exist are
created through the controller when auto-creation is on and the request allows it
(v4+), otherwise they get UNKNOWN_TOPIC_OR_PARTITION. The controller id is the node
leading the metadata quorum (admin clients send CreateTopics there; every broker
forwards it anyway).
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from kio.schema.errors import ErrorCode

from broker.error_codes import KafkaError
from broker.metadata.image import MetadataImage, TopicImage
from broker.metadata.offsets_topic import OFFSETS_TOPIC
from broker.metadata.replies import NewTopic
from broker.metadata.rpc import CreateTopicsRequest, ErrorResponse
from broker.protocol.apis import ApiKey, response_class
from broker.server.authorizer import Operation, ResourceType
from broker.server.context import BrokerServices, RequestContext, allowed, make, nested
from broker.server.errors import wire_error

__all__ = ["handle"]

_ZERO = datetime.timedelta(0)
_NO_ID = uuid.UUID(int=0)
_AUTO_CREATE_TIMEOUT_S = 10.0


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


async def handle(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(ApiKey.METADATA, ctx.version)
    broker_cls = nested(cls, "MetadataResponseBroker")
    topic_cls = nested(cls, "MetadataResponseTopic")
    part_cls = nested(cls, "MetadataResponsePartition")
    names = _requested_names(services, request)
    auto_create = services.config.auto_create_topics and getattr(
        request, "allow_auto_topic_creation", True
    )
    created: dict[str, KafkaError] = {}
    if names is not None and auto_create:
        missing = [
            n
            for n in dict.fromkeys(names)
            if services.replicas.topic(n) is None
            and n != OFFSETS_TOPIC
            and allowed(services, ctx, Operation.CREATE, ResourceType.TOPIC, n)
        ]
        if missing:
            created = await _auto_create(services, missing)
    image = services.replicas.image
    topics = []
    # Internal topics are listed only when asked for by name.
    listed = [n for n in image.topic_names() if n != OFFSETS_TOPIC] if names is None else names
    for name in listed:
        topic = image.topic(name)
        error = ErrorCode.none
        if not allowed(services, ctx, Operation.DESCRIBE, ResourceType.TOPIC, name):
            error = ErrorCode.topic_authorization_failed
        elif topic is None:
            code = created.get(name)
            # Created but not yet applied here: the client retries on this error.
            retry = code is KafkaError.NONE or code is KafkaError.TOPIC_ALREADY_EXISTS
            error = (
                ErrorCode.leader_not_available if retry else ErrorCode.unknown_topic_or_partition
            )
            if code not in (None, KafkaError.NONE, KafkaError.TOPIC_ALREADY_EXISTS):
                error = wire_error(code)
        topics.append(_topic(topic_cls, part_cls, name, topic, error, image))
    brokers = tuple(
        make(broker_cls, node_id=node, host=listener.host, port=listener.port, rack=reg.rack)
        for node, reg in sorted(image.brokers.items())
        if not reg.fenced
        for listener in reg.listeners[:1]
    )
    return make(
        cls,
        throttle_time=_ZERO,
        brokers=brokers,
        cluster_id=services.cluster_id,
        controller_id=_controller_id(services, image),
        topics=tuple(topics),
        cluster_authorized_operations=-2147483648,
    )


def _controller_id(services: BrokerServices, image: MetadataImage) -> int:
    """The quorum leader when it is a live broker, else any live broker (clients only
    use it as a place to send admin requests, which every broker forwards)."""
    controller = services.cluster.controller_id
    live = [n for n, reg in sorted(image.brokers.items()) if not reg.fenced]
    if controller is not None and controller in live:
        return controller
    return live[0] if live else services.node_id


async def _auto_create(services: BrokerServices, names: list[str]) -> dict[str, KafkaError]:
    response = await services.cluster.call_controller(
        CreateTopicsRequest(tuple(NewTopic(name) for name in names), False),
        timeout_s=_AUTO_CREATE_TIMEOUT_S,
    )
    if isinstance(response, ErrorResponse):
        return dict.fromkeys(names, response.error)
    return {reply.name: reply.error for reply in response.reply}


def _topic(
    topic_cls: type[Any],
    part_cls: type[Any],
    name: str,
    topic: TopicImage | None,
    error: ErrorCode,
    image: MetadataImage,
) -> Any:
    partitions = []
    if topic is not None and error is ErrorCode.none:
        for p in topic.partitions:
            offline = tuple(r for r in p.replicas if (b := image.broker(r)) is None or b.fenced)
            partitions.append(
                make(
                    part_cls,
                    error_code=ErrorCode.leader_not_available if p.is_offline else ErrorCode.none,
                    partition_index=p.partition_index,
                    leader_id=p.leader,
                    leader_epoch=p.leader_epoch,
                    replica_nodes=p.replicas,
                    isr_nodes=p.isr,
                    offline_replicas=offline,
                )
            )
    return make(
        topic_cls,
        error_code=error,
        name=name,
        topic_id=topic.topic_id if topic is not None else _NO_ID,
        is_internal=name == OFFSETS_TOPIC,
        partitions=tuple(partitions),
        topic_authorized_operations=-2147483648,
    )
