"""Topic administration: CreateTopics (v2-7), DeleteTopics (v1-6), CreatePartitions
(v0-3), on any broker.

Each request is checked for authorisation here and then decided by the active
controller (``broker.metadata.controller``), which validates names, counts, replication
factors, replica assignments and configs, places replicas over the live brokers and
writes the metadata records; the answer comes back once they are committed. A
controller that cannot be reached in time answers REQUEST_TIMED_OUT (NOT_CONTROLLER for
CreateTopics v<6 clients would not retry it; both are retriable for the others).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence
from typing import Any

from broker.error_codes import KafkaError
from broker.metadata.errors import MetadataRecordError
from broker.metadata.replies import (
    CreatePartitionsReply,
    CreateTopicReply,
    DeleteTopicReply,
    NewPartitions,
    NewTopic,
)
from broker.metadata.rpc import (
    CreatePartitionsRequest,
    CreateTopicsRequest,
    DeleteTopicsRequest,
    DeleteTopicTarget,
    ErrorResponse,
)
from broker.protocol.apis import ApiKey, response_class
from broker.server.authorizer import Operation, ResourceType
from broker.server.context import (
    BrokerServices,
    RequestContext,
    allowed,
    make,
    nested,
    nested_if_any,
)
from broker.server.errors import wire_error
from broker.server.handlers.configs import describe_topic_entries

__all__ = ["handle_create", "handle_create_partitions", "handle_delete"]

log = logging.getLogger(__name__)

_ZERO = datetime.timedelta(0)


def _new_topic(topic: Any) -> NewTopic:
    assignments = None
    if topic.assignments:
        assignments = {a.partition_index: tuple(a.broker_ids) for a in topic.assignments}
    return NewTopic(
        name=topic.name,
        num_partitions=topic.num_partitions,
        replication_factor=topic.replication_factor,
        assignments=assignments,
        configs={c.name: c.value for c in topic.configs},
    )


def _failed(name: str, error: KafkaError, message: str) -> CreateTopicReply:
    return CreateTopicReply(name, error, message)


_FIELD_ERRORS = (
    ("replication_factor", KafkaError.INVALID_REPLICATION_FACTOR),
    ("num_partitions", KafkaError.INVALID_PARTITIONS),
    ("count", KafkaError.INVALID_PARTITIONS),
    ("assignments", KafkaError.INVALID_REPLICA_ASSIGNMENT),
    ("configs", KafkaError.INVALID_CONFIG),
)


def client_error(exc: MetadataRecordError) -> KafkaError:
    """The Kafka error for a request value the controller's types refuse (the message
    names the field: ``topics[0].replication_factor: -2 is outside -1..32767``)."""
    message = str(exc)
    for field, error in _FIELD_ERRORS:
        if f".{field}" in message.split(":")[0] or message.startswith(field):
            return error
    return KafkaError.INVALID_REQUEST


async def handle_create(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(ApiKey.CREATE_TOPICS, ctx.version)
    result_cls = nested(cls, "CreatableTopicResult")
    config_cls = nested_if_any(cls, "CreatableTopicConfigs")
    replies: dict[int, CreateTopicReply] = {}
    wanted: list[tuple[int, NewTopic]] = []
    for position, topic in enumerate(request.topics):
        if not allowed(services, ctx, Operation.CREATE, ResourceType.TOPIC, topic.name):
            replies[position] = _failed(
                topic.name, KafkaError.TOPIC_AUTHORIZATION_FAILED, "not authorised to create topics"
            )
        else:
            try:
                new_topic = _new_topic(topic)
                CreateTopicsRequest((new_topic,), True)  # checks the values, one topic
                wanted.append((position, new_topic))
            except MetadataRecordError as exc:
                replies[position] = _failed(topic.name, client_error(exc), str(exc))
    if wanted:
        response = await services.cluster.call_controller(
            CreateTopicsRequest(tuple(t for _, t in wanted), bool(request.validate_only))
        )
        for (position, topic), reply in zip(wanted, _create_replies(response, wanted), strict=True):
            replies[position] = reply
            for warning in reply.warnings:
                log.warning("topic %s: %s", topic.name, warning)
    results = []
    for position, topic in enumerate(request.topics):
        reply = replies[position]
        ok = reply.error is KafkaError.NONE
        if not ok:
            ctx.error = wire_error(reply.error).name
        described = None
        if ok and config_cls is not None:
            described = tuple(
                make(
                    config_cls,
                    name=e.name,
                    value=e.value,
                    read_only=False,
                    config_source=e.source,
                    is_sensitive=False,
                )
                for e in describe_topic_entries(services, topic.name, reply.configs)
            )
        results.append(
            make(
                result_cls,
                name=topic.name,
                topic_id=reply.topic_id,
                error_code=wire_error(reply.error),
                error_message=reply.message,
                num_partitions=reply.num_partitions if ok else -1,
                replication_factor=reply.replication_factor if ok else -1,
                configs=described,
            )
        )
    return make(cls, throttle_time=_ZERO, topics=tuple(results))


def _create_replies(
    response: object, wanted: Sequence[tuple[int, NewTopic]]
) -> Sequence[CreateTopicReply]:
    if isinstance(response, ErrorResponse):
        return [_failed(t.name, response.error, response.message) for _, t in wanted]
    replies: Sequence[CreateTopicReply] = response.reply  # type: ignore[attr-defined]
    return replies


async def handle_delete(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(ApiKey.DELETE_TOPICS, ctx.version)
    result_cls = nested(cls, "DeletableTopicResult")
    if hasattr(request, "topic_names"):
        wanted = [(name, None) for name in request.topic_names]
    else:
        wanted = [(t.name, t.topic_id) for t in request.topics]
    replies: dict[int, DeleteTopicReply] = {}
    targets: list[tuple[int, DeleteTopicTarget]] = []
    for position, (name, topic_id) in enumerate(wanted):
        topic = services.replicas.topic(name) if name is not None else None
        if topic is None and topic_id is not None:
            topic = services.replicas.topic_by_id(topic_id)
        if topic is not None and not allowed(
            services, ctx, Operation.DELETE, ResourceType.TOPIC, topic.name
        ):
            replies[position] = DeleteTopicReply(
                topic.name, topic.topic_id, KafkaError.TOPIC_AUTHORIZATION_FAILED, "not authorised"
            )
            continue
        by_name = name is not None
        try:
            target = DeleteTopicTarget(name if by_name else None, None if by_name else topic_id)
        except MetadataRecordError as exc:
            replies[position] = DeleteTopicReply(
                name, topic_id, KafkaError.INVALID_REQUEST, f"{exc}; give a name or an id"
            )
            continue
        targets.append((position, target))
    if targets:
        response = await services.cluster.call_controller(
            DeleteTopicsRequest(tuple(t for _, t in targets))
        )
        for (position, _), reply in zip(targets, _delete_replies(response, targets), strict=True):
            replies[position] = reply
    results = []
    for position, (name, topic_id) in enumerate(wanted):
        reply = replies[position]
        if reply.error is not KafkaError.NONE:
            ctx.error = wire_error(reply.error).name
        results.append(
            make(
                result_cls,
                name=reply.name if reply.name is not None else name,
                topic_id=reply.topic_id if reply.topic_id is not None else topic_id,
                error_code=wire_error(reply.error),
                error_message=reply.message,
            )
        )
    return make(cls, throttle_time=_ZERO, responses=tuple(results))


def _delete_replies(
    response: object, targets: Sequence[tuple[int, DeleteTopicTarget]]
) -> Sequence[DeleteTopicReply]:
    if isinstance(response, ErrorResponse):
        return [
            DeleteTopicReply(t.name, t.topic_id, response.error, response.message)
            for _, t in targets
        ]
    replies: Sequence[DeleteTopicReply] = response.reply  # type: ignore[attr-defined]
    return replies


async def handle_create_partitions(
    services: BrokerServices, ctx: RequestContext, request: Any
) -> Any:
    cls = response_class(ApiKey.CREATE_PARTITIONS, ctx.version)
    result_cls = nested(cls, "CreatePartitionsTopicResult")
    replies: dict[int, CreatePartitionsReply] = {}
    wanted: list[tuple[int, NewPartitions]] = []
    for position, topic in enumerate(request.topics):
        if not allowed(services, ctx, Operation.ALTER, ResourceType.TOPIC, topic.name):
            replies[position] = CreatePartitionsReply(
                topic.name, KafkaError.TOPIC_AUTHORIZATION_FAILED, "not authorised"
            )
            continue
        assignments = None
        if topic.assignments:
            assignments = tuple(tuple(a.broker_ids) for a in topic.assignments)
        try:
            new_partitions = NewPartitions(topic.name, topic.count, assignments)
            CreatePartitionsRequest((new_partitions,), True)  # checks the values
            wanted.append((position, new_partitions))
        except MetadataRecordError as exc:
            replies[position] = CreatePartitionsReply(topic.name, client_error(exc), str(exc))
    if wanted:
        response = await services.cluster.call_controller(
            CreatePartitionsRequest(tuple(p for _, p in wanted), bool(request.validate_only))
        )
        if isinstance(response, ErrorResponse):
            answers = [
                CreatePartitionsReply(p.topic, response.error, response.message) for _, p in wanted
            ]
        else:
            answers = list(response.reply)
        for (position, _), reply in zip(wanted, answers, strict=True):
            replies[position] = reply
    results = []
    for position, topic in enumerate(request.topics):
        reply = replies[position]
        if reply.error is not KafkaError.NONE:
            ctx.error = wire_error(reply.error).name
        results.append(
            make(
                result_cls,
                name=topic.name,
                error_code=wire_error(reply.error),
                error_message=reply.message,
            )
        )
    return make(cls, throttle_time=_ZERO, results=tuple(results))
