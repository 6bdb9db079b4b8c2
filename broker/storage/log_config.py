"""Per-topic log configuration: Kafka's topic config names mapped to typed fields.

``TOPIC_CONFIGS`` is the single table of supported topic configs; DescribeConfigs,
AlterConfigs, CreateTopics and the broker's defaults all read it. Values arrive as
strings (as on the wire) and are validated here with a message naming the key, the value
and what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

__all__ = ["TOPIC_CONFIGS", "InvalidConfigError", "LogConfig", "TopicConfigKey"]


class InvalidConfigError(ValueError):
    """A config key is unknown or its value is not allowed; the message says why."""


@dataclass(frozen=True, slots=True)
class LogConfig:
    """Resolved configuration of one topic's logs. Units are in the names."""

    segment_bytes: int = 1024 * 1024 * 1024
    segment_ms: int = 7 * 24 * 3600 * 1000
    retention_ms: int = 7 * 24 * 3600 * 1000
    retention_bytes: int = -1
    max_message_bytes: int = 1024 * 1024 + 12
    index_interval_bytes: int = 4096
    cleanup_policy: str = "delete"
    message_timestamp_type: str = "CreateTime"
    min_insync_replicas: int = 1

    def with_overrides(self, overrides: Mapping[str, str | None]) -> LogConfig:
        """A copy with Kafka-named overrides applied; raises InvalidConfigError."""
        changes: dict[str, object] = {}
        for name, raw in overrides.items():
            key = TOPIC_CONFIGS.get(name)
            if key is None:
                allowed = ", ".join(sorted(TOPIC_CONFIGS))
                raise InvalidConfigError(f"unknown topic config {name!r}; supported: {allowed}")
            if raw is None:
                continue
            changes[key.field] = key.parse(raw)
        return replace(self, **changes)  # type: ignore[arg-type]

    def value_of(self, name: str) -> str:
        key = TOPIC_CONFIGS[name]
        return str(getattr(self, key.field))


@dataclass(frozen=True, slots=True)
class TopicConfigKey:
    name: str
    field: str
    kind: type
    minimum: int | None = None
    allowed: tuple[str, ...] = ()
    doc: str = ""

    def parse(self, raw: str) -> int | str:
        if self.kind is int:
            try:
                value = int(raw)
            except (TypeError, ValueError):
                raise InvalidConfigError(f"{self.name}={raw!r} is not an integer") from None
            if self.minimum is not None and value < self.minimum:
                raise InvalidConfigError(f"{self.name}={value} is below the minimum {self.minimum}")
            return value
        if self.allowed and raw not in self.allowed:
            raise InvalidConfigError(
                f"{self.name}={raw!r} is not supported; allowed: {', '.join(self.allowed)}"
            )
        return raw


TOPIC_CONFIGS: dict[str, TopicConfigKey] = {
    key.name: key
    for key in (
        TopicConfigKey(
            "segment.bytes", "segment_bytes", int, 14, doc="roll a segment at this size"
        ),
        TopicConfigKey("segment.ms", "segment_ms", int, 1, doc="roll a segment at this age"),
        TopicConfigKey(
            "retention.ms",
            "retention_ms",
            int,
            -1,
            doc="delete segments older than this; -1 keeps forever",
        ),
        TopicConfigKey(
            "retention.bytes",
            "retention_bytes",
            int,
            -1,
            doc="delete old segments beyond this size; -1 for no limit",
        ),
        TopicConfigKey(
            "max.message.bytes", "max_message_bytes", int, 0, doc="largest record batch accepted"
        ),
        TopicConfigKey(
            "index.interval.bytes",
            "index_interval_bytes",
            int,
            0,
            doc="bytes between offset index entries",
        ),
        TopicConfigKey(
            "cleanup.policy",
            "cleanup_policy",
            str,
            allowed=("delete",),
            doc="only delete; compaction is not implemented yet",
        ),
        TopicConfigKey(
            "message.timestamp.type",
            "message_timestamp_type",
            str,
            allowed=("CreateTime",),
            doc="batches keep the producer's timestamps",
        ),
        TopicConfigKey(
            "min.insync.replicas",
            "min_insync_replicas",
            int,
            1,
            doc="accepted for compatibility; one node is always in sync",
        ),
    )
}

assert {k.field for k in TOPIC_CONFIGS.values()} == {f.name for f in fields(LogConfig)}
