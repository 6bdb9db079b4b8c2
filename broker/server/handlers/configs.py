"""Topic and broker configs: DescribeConfigs (v1-4), AlterConfigs (v0-2, replaces a
topic's overrides) and IncrementalAlterConfigs (v0-1, SET/DELETE per key).

Supported topic configs and their validation live in broker.storage.log_config. Broker
configs are described read-only: they come from the config file and flags.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kio.schema.errors import ErrorCode

from broker.protocol.apis import ApiKey, response_class
from broker.server.authorizer import Operation, ResourceType
from broker.server.context import BrokerServices, RequestContext, allowed, make, nested
from broker.server.errors import error_code_for
from broker.storage.errors import StorageError
from broker.storage.log_config import TOPIC_CONFIGS, InvalidConfigError

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
    manager = services.replicas.log_manager
    info = manager.topics.get(topic)
    if overrides is None:
        overrides = info.configs if info is not None else {}
    resolved = manager.defaults.with_overrides(overrides)
    entries = []
    for name, key in sorted(TOPIC_CONFIGS.items()):
        source = SOURCE_TOPIC if overrides.get(name) is not None else SOURCE_DEFAULT
        config_type = (
            (TYPE_INT if name in _INT_KEYS else TYPE_LONG) if key.kind is int else TYPE_STRING
        )
        entries.append(
            ConfigEntry(name, resolved.value_of(name), source, config_type, False, key.doc)
        )
    return entries


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
            elif resource.resource_name not in services.replicas.topics:
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


def _apply(
    services: BrokerServices,
    ctx: RequestContext,
    resource: Any,
    validate_only: bool,
    overrides_for: Any,
) -> tuple[ErrorCode, str | None]:
    name = resource.resource_name
    if resource.resource_type == BROKER:
        return (
            ErrorCode.invalid_request,
            "broker configs are static: edit the broker's config file and restart",
        )
    if resource.resource_type != TOPIC:
        return ErrorCode.invalid_request, f"resource type {resource.resource_type} is not supported"
    if not allowed(services, ctx, Operation.ALTER_CONFIGS, ResourceType.TOPIC, name):
        return ErrorCode.topic_authorization_failed, "not authorised"
    manager = services.replicas.log_manager
    info = manager.topics.get(name)
    if info is None:
        return ErrorCode.unknown_topic_or_partition, f"topic {name!r} does not exist"
    try:
        overrides = overrides_for(dict(info.configs), resource.configs)
        if validate_only:
            manager.validate_configs(name, overrides)
        else:
            manager.set_configs(name, overrides)
    except (StorageError, InvalidConfigError) as exc:
        return error_code_for(exc), str(exc)
    return ErrorCode.none, None


def _replace(_current: dict[str, str], configs: Any) -> dict[str, str | None]:
    return {c.name: c.value for c in configs}


def _incremental(current: dict[str, str], configs: Any) -> dict[str, str | None]:
    updated: dict[str, str | None] = dict(current)
    for c in configs:
        if c.config_operation == OP_SET:
            updated[c.name] = c.value
        elif c.config_operation == OP_DELETE:
            if c.name not in TOPIC_CONFIGS:
                raise InvalidConfigError(f"unknown topic config {c.name!r}")
            updated.pop(c.name, None)
        elif c.config_operation in (OP_APPEND, OP_SUBTRACT):
            raise InvalidConfigError(
                f"{c.name} is not a list config: APPEND and SUBTRACT do not apply"
            )
        else:
            raise InvalidConfigError(f"unknown config operation {c.config_operation}")
    return updated


def _alter_response(
    services: BrokerServices, ctx: RequestContext, request: Any, api: ApiKey, how: Any
) -> Any:
    cls = response_class(api, ctx.version)
    result_cls = nested(cls, "AlterConfigsResourceResponse")
    responses = []
    for resource in request.resources:
        error, message = _apply(services, ctx, resource, request.validate_only, how)
        responses.append(
            make(
                result_cls,
                error_code=error,
                error_message=message,
                resource_type=resource.resource_type,
                resource_name=resource.resource_name,
            )
        )
    return make(cls, throttle_time=_ZERO, responses=tuple(responses))


def handle_alter(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    return _alter_response(services, ctx, request, ApiKey.ALTER_CONFIGS, _replace)


def handle_incremental_alter(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    return _alter_response(services, ctx, request, ApiKey.INCREMENTAL_ALTER_CONFIGS, _incremental)
