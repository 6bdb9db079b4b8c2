"""Topic and broker configs: DescribeConfigs (v1-4), AlterConfigs (v0-2, replaces a
topic's overrides) and IncrementalAlterConfigs (v0-1, SET/DELETE/APPEND/SUBTRACT).

Topic configs are read from the metadata image (the overrides the controller recorded,
over this broker's defaults) and changed by the active controller, which validates
them (``broker.metadata.topic_configs``) and records them for every broker. Broker
configs are described read-only: they come from the config file and flags.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kio.schema.errors import ErrorCode

from broker.error_codes import KafkaError
from broker.metadata.errors import MetadataRecordError
from broker.metadata.replies import AlterConfigsReply
from broker.metadata.rpc import AlterConfigsRequest, ErrorResponse, IncrementalAlterConfigsRequest
from broker.metadata.topic_configs import REPLICATION_TOPIC_CONFIGS, ConfigOp, ConfigOpType
from broker.protocol.apis import ApiKey, response_class
from broker.server.authorizer import Operation, ResourceType
from broker.server.context import BrokerServices, RequestContext, allowed, make, nested
from broker.server.errors import wire_error
from broker.storage.log_config import TOPIC_CONFIGS

__all__ = [
    "ConfigEntry",
    "describe_topic_entries",
    "handle_alter",
    "handle_describe",
    "handle_incremental_alter",
]

TOPIC = 2
BROKER = 4
SOURCE_TOPIC = 1
SOURCE_STATIC_BROKER = 4
SOURCE_DEFAULT = 5
TYPE_BOOLEAN = 1
TYPE_STRING = 2
TYPE_INT = 3
TYPE_LONG = 5
OP_SET, OP_DELETE, OP_APPEND, OP_SUBTRACT = 0, 1, 2, 3
_ZERO = datetime.timedelta(0)
_INT_KEYS = {"min.insync.replicas", "max.message.bytes", "index.interval.bytes", "segment.bytes"}


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    name: str
    value: str
    source: int
    config_type: int
    read_only: bool = False
    documentation: str = ""


def describe_topic_entries(
    services: BrokerServices, topic: str, overrides: Mapping[str, str | None] | None = None
) -> list[ConfigEntry]:
    """Every topic config with its value and source; ``overrides`` default to those the
    metadata image holds for ``topic``."""
    if overrides is None:
        image = services.replicas.topic(topic)
        overrides = dict(image.configs) if image is not None else {}
    log_overrides = {k: v for k, v in overrides.items() if k in TOPIC_CONFIGS}
    resolved = services.replicas.log_manager.defaults.with_overrides(log_overrides)
    entries = []
    for name, key in sorted(TOPIC_CONFIGS.items()):
        source = SOURCE_TOPIC if overrides.get(name) is not None else SOURCE_DEFAULT
        config_type = (
            (TYPE_INT if name in _INT_KEYS else TYPE_LONG) if key.kind is int else TYPE_STRING
        )
        entries.append(
            ConfigEntry(name, resolved.value_of(name), source, config_type, False, key.doc)
        )
    for name, default in sorted(REPLICATION_TOPIC_CONFIGS.items()):
        if name in TOPIC_CONFIGS:
            continue
        value = overrides.get(name)
        source = SOURCE_TOPIC if value is not None else SOURCE_DEFAULT
        entries.append(ConfigEntry(name, value or default, source, TYPE_BOOLEAN))
    return sorted(entries, key=lambda e: e.name)


def _broker_entries(services: BrokerServices) -> list[ConfigEntry]:
    config = services.config
    defaults = config.topic_defaults
    values = {
        "broker.id": (str(config.node_id), TYPE_INT),
        "auto.create.topics.enable": (str(config.auto_create_topics).lower(), TYPE_BOOLEAN),
        "num.partitions": (str(config.default_partitions), TYPE_INT),
        "log.retention.ms": (str(defaults.retention_ms), TYPE_LONG),
        "log.retention.bytes": (str(defaults.retention_bytes), TYPE_LONG),
        "log.segment.bytes": (str(defaults.segment_bytes), TYPE_INT),
        "log.roll.ms": (str(defaults.segment_ms), TYPE_LONG),
        "message.max.bytes": (str(defaults.max_message_bytes), TYPE_INT),
        "log.flush.policy": (config.flush_policy.value, TYPE_STRING),
        "log.flush.interval.ms": (str(config.flush_interval_ms), TYPE_LONG),
        "socket.request.max.bytes": (str(config.max_request_bytes), TYPE_INT),
    }
    return [
        ConfigEntry(name, value, SOURCE_STATIC_BROKER, kind, True)
        for name, (value, kind) in sorted(values.items())
    ]


def handle_describe(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(ApiKey.DESCRIBE_CONFIGS, ctx.version)
    result_cls = nested(cls, "DescribeConfigsResult")
    entry_cls = nested(cls, "DescribeConfigsResourceResult")
    results = []
    for resource in request.resources:
        error, message, entries = ErrorCode.none, None, []
        if resource.resource_type == TOPIC:
            if not allowed(
                services,
                ctx,
                Operation.DESCRIBE_CONFIGS,
                ResourceType.TOPIC,
                resource.resource_name,
            ):
                error, message = ErrorCode.topic_authorization_failed, "not authorised"
            elif services.replicas.topic(resource.resource_name) is None:
                error = ErrorCode.unknown_topic_or_partition
                message = f"topic {resource.resource_name!r} does not exist"
            else:
                entries = describe_topic_entries(services, resource.resource_name)
        elif resource.resource_type == BROKER:
            if resource.resource_name not in ("", str(services.node_id)):
                error = ErrorCode.invalid_request
                message = (
                    f"broker {resource.resource_name!r} is not this broker ({services.node_id})"
                )
            else:
                entries = _broker_entries(services)
        else:
            error = ErrorCode.invalid_request
            message = f"resource type {resource.resource_type} is not supported (topic=2, broker=4)"
        if resource.configuration_keys is not None:
            keys = set(resource.configuration_keys)
            entries = [e for e in entries if e.name in keys]
        configs = tuple(
            make(
                entry_cls,
                name=e.name,
                value=e.value,
                read_only=e.read_only,
                config_source=e.source,
                is_sensitive=False,
                synonyms=(),
                config_type=e.config_type,
                documentation=e.documentation
                if getattr(request, "include_documentation", False)
                else None,
            )
            for e in entries
        )
        results.append(
            make(
                result_cls,
                error_code=error,
                error_message=message,
                resource_type=resource.resource_type,
                resource_name=resource.resource_name,
                configs=configs,
            )
        )
    return make(cls, throttle_time=_ZERO, results=tuple(results))


Overrides = dict[str, str | None]


def _check_resource(
    services: BrokerServices, ctx: RequestContext, resource: Any
) -> AlterConfigsReply | None:
    """A refusal that needs no controller (wrong resource type, not authorised)."""
    name = resource.resource_name
    if resource.resource_type == BROKER:
        return AlterConfigsReply(
            name,
            KafkaError.INVALID_REQUEST,
            "broker configs are static: edit the broker's config file and restart",
        )
    if resource.resource_type != TOPIC:
        return AlterConfigsReply(
            name,
            KafkaError.INVALID_REQUEST,
            f"resource type {resource.resource_type} is not supported",
        )
    if not allowed(services, ctx, Operation.ALTER_CONFIGS, ResourceType.TOPIC, name):
        return AlterConfigsReply(name, KafkaError.TOPIC_AUTHORIZATION_FAILED, "not authorised")
    return None


def _replacements(resource: Any) -> Overrides:
    return {c.name: c.value for c in resource.configs}


def _operations(resource: Any) -> tuple[ConfigOp, ...]:
    ops = []
    for c in resource.configs:
        try:
            op = ConfigOpType(c.config_operation)
        except ValueError:
            raise _BadOperation(f"unknown config operation {c.config_operation}") from None
        ops.append(ConfigOp(c.name, op, c.value))
    return tuple(ops)


class _BadOperation(ValueError):
    pass


async def _alter_response(
    services: BrokerServices, ctx: RequestContext, request: Any, api: ApiKey
) -> Any:
    cls = response_class(api, ctx.version)
    result_cls = nested(cls, "AlterConfigsResourceResponse")
    replies: dict[int, AlterConfigsReply] = {}
    wanted: dict[int, Any] = {}
    for position, resource in enumerate(request.resources):
        refusal = _check_resource(services, ctx, resource)
        if refusal is not None:
            replies[position] = refusal
        else:
            wanted[position] = resource
    if wanted:
        replies.update(await _ask_controller(services, request, api, wanted))
    responses = []
    for position, resource in enumerate(request.resources):
        reply = replies[position]
        if reply.error is not KafkaError.NONE:
            ctx.error = wire_error(reply.error).name
        responses.append(
            make(
                result_cls,
                error_code=wire_error(reply.error),
                error_message=reply.message,
                resource_type=resource.resource_type,
                resource_name=resource.resource_name,
            )
        )
    return make(cls, throttle_time=_ZERO, responses=tuple(responses))


async def _ask_controller(
    services: BrokerServices, request: Any, api: ApiKey, wanted: dict[int, Any]
) -> dict[int, AlterConfigsReply]:
    """The controller's answer per resource; values its types refuse (a key or value
    no request may carry) are answered INVALID_REQUEST here, the others still go."""
    validate = bool(request.validate_only)
    names = {position: resource.resource_name for position, resource in wanted.items()}
    out: dict[int, AlterConfigsReply] = {}
    asked: dict[str, Any] = {}
    for position, resource in wanted.items():
        try:
            if api is ApiKey.ALTER_CONFIGS:
                change: Any = _replacements(resource)
                AlterConfigsRequest({resource.resource_name: change}, True)
            else:
                change = _operations(resource)
                IncrementalAlterConfigsRequest({resource.resource_name: change}, True)
        except (_BadOperation, MetadataRecordError) as exc:
            out[position] = AlterConfigsReply(names[position], KafkaError.INVALID_REQUEST, str(exc))
            continue
        asked[resource.resource_name] = change
    if not asked:
        return out
    if api is ApiKey.ALTER_CONFIGS:
        response: Any = await services.cluster.call_controller(AlterConfigsRequest(asked, validate))
    else:
        response = await services.cluster.call_controller(
            IncrementalAlterConfigsRequest(asked, validate)
        )
    by_topic: dict[str, AlterConfigsReply] = {}
    if not isinstance(response, ErrorResponse):
        by_topic = {reply.topic: reply for reply in response.reply}
    for position, name in names.items():
        if position in out:
            continue
        if isinstance(response, ErrorResponse):
            out[position] = AlterConfigsReply(name, response.error, response.message)
        else:
            out[position] = by_topic.get(
                name, AlterConfigsReply(name, KafkaError.UNKNOWN_SERVER_ERROR, "no answer")
            )
    return out


async def handle_alter(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    return await _alter_response(services, ctx, request, ApiKey.ALTER_CONFIGS)


async def handle_incremental_alter(
    services: BrokerServices, ctx: RequestContext, request: Any
) -> Any:
    return await _alter_response(services, ctx, request, ApiKey.INCREMENTAL_ALTER_CONFIGS)
