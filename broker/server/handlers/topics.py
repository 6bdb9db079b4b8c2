"""Topic administration: CreateTopics (v2-7), DeleteTopics (v1-6), CreatePartitions
(v0-3). Single node: a replication factor other than 1 (or -1 for the default) and
replica assignments naming another broker are refused with a message saying so."""

from __future__ import annotations

import datetime
from typing import Any

from kio.schema.errors import ErrorCode

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
from broker.server.errors import error_code_for
from broker.server.handlers.configs import describe_topic_entries
from broker.storage.errors import StorageError
from broker.storage.log_config import InvalidConfigError

__all__ = ["handle_create", "handle_create_partitions", "handle_delete"]

_ZERO = datetime.timedelta(0)


class _Refused(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def _check_placement(services: BrokerServices, replication_factor: int, assignments: Any) -> None:
    node = services.node_id
    if replication_factor not in (-1, 1):
        raise _Refused(
            ErrorCode.invalid_replication_factor,
            f"replication factor {replication_factor} is not possible on a single-node "
            f"broker; use 1 or -1",
        )
    for assignment in assignments or ():
        brokers = set(assignment.broker_ids)
        if brokers - {node}:
            raise _Refused(
                ErrorCode.invalid_replica_assignment,
                f"assignment names brokers {sorted(brokers)}, but only broker {node} exists",
            )


def handle_create(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(ApiKey.CREATE_TOPICS, ctx.version)
    result_cls = nested(cls, "CreatableTopicResult")
    config_cls = nested_if_any(cls, "CreatableTopicConfigs")
    replicas = services.replicas
    results = []
    for topic in request.topics:
        error, message, info = ErrorCode.none, None, None
        partitions = topic.num_partitions
        if partitions == -1:
            partitions = services.config.default_partitions
        if topic.assignments:
            partitions = len(topic.assignments)
        configs = {c.name: c.value for c in topic.configs}
        try:
            if not allowed(services, ctx, Operation.CREATE, ResourceType.TOPIC, topic.name):
                raise _Refused(
                    ErrorCode.topic_authorization_failed, "not authorised to create topics"
                )
            _check_placement(services, topic.replication_factor, topic.assignments)
            nulls = sorted(name for name, value in configs.items() if value is None)
            if nulls:  # as Kafka: a create cannot "remove" an override
                raise InvalidConfigError(f"null values are not allowed for topic configs: {nulls}")
            if request.validate_only:
                replicas.log_manager.validate_new_topic(topic.name, partitions, configs)
            else:
                info = replicas.create_topic(topic.name, partitions, configs)
        except _Refused as exc:
            error, message = exc.code, str(exc)
        except (StorageError, InvalidConfigError) as exc:
            error, message = error_code_for(exc), str(exc)
        described = None
        if error is ErrorCode.none and config_cls is not None:
            described = tuple(
                make(
                    config_cls,
                    name=e.name,
                    value=e.value,
                    read_only=False,
                    config_source=e.source,
                    is_sensitive=False,
                )
                for e in describe_topic_entries(services, topic.name, configs)
            )
        results.append(
            make(
                result_cls,
                name=topic.name,
                topic_id=info.topic_id if info is not None else None,
                error_code=error,
                error_message=message,
                num_partitions=partitions if error is ErrorCode.none else -1,
                replication_factor=1 if error is ErrorCode.none else -1,
                configs=described,
            )
        )
    return make(cls, throttle_time=_ZERO, topics=tuple(results))


def handle_delete(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(ApiKey.DELETE_TOPICS, ctx.version)
    result_cls = nested(cls, "DeletableTopicResult")
    replicas = services.replicas
    if hasattr(request, "topic_names"):
        wanted = [(name, None) for name in request.topic_names]
    else:
        wanted = [(t.name, t.topic_id) for t in request.topics]
    results = []
    for name, topic_id in wanted:
        error, message = ErrorCode.none, None
        if name is None and topic_id is not None:
            info = replicas.topic_by_id(topic_id)
            name = info.name if info is not None else None
            if name is None:
                error, message = ErrorCode.unknown_topic_id, f"no topic has id {topic_id}"
        if error is ErrorCode.none and name is not None:
            info = replicas.topic(name)
            topic_id = info.topic_id if info is not None else topic_id
            if not allowed(services, ctx, Operation.DELETE, ResourceType.TOPIC, name):
                error, message = ErrorCode.topic_authorization_failed, "not authorised"
            else:
                try:
                    replicas.delete_topic(name)
                except StorageError as exc:
                    error, message = error_code_for(exc), str(exc)
        results.append(
            make(result_cls, name=name, topic_id=topic_id, error_code=error, error_message=message)
        )
    return make(cls, throttle_time=_ZERO, responses=tuple(results))


def handle_create_partitions(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(ApiKey.CREATE_PARTITIONS, ctx.version)
    result_cls = nested(cls, "CreatePartitionsTopicResult")
    replicas = services.replicas
    results = []
    for topic in request.topics:
        error, message = ErrorCode.none, None
        try:
            if not allowed(services, ctx, Operation.ALTER, ResourceType.TOPIC, topic.name):
                raise _Refused(ErrorCode.topic_authorization_failed, "not authorised")
            _check_placement(services, 1, topic.assignments)
            if request.validate_only:
                replicas.log_manager.validate_partition_increase(topic.name, topic.count)
            else:
                replicas.add_partitions(topic.name, topic.count)
        except _Refused as exc:
            error, message = exc.code, str(exc)
        except StorageError as exc:
            error, message = error_code_for(exc), str(exc)
        results.append(make(result_cls, name=topic.name, error_code=error, error_message=message))
    return make(cls, throttle_time=_ZERO, results=tuple(results))
