"""Topic config reads and changes through the Kafka admin API (confluent-kafka)."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["describe_topic_configs", "set_topic_configs"]


def describe_topic_configs(bootstrap: str, topic: str, timeout: float = 15.0) -> dict[str, str]:
    """Every config of ``topic`` with its current value (DescribeConfigs)."""
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.admin._config import ConfigResource
    from confluent_kafka.admin._resource import ResourceType

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": "2"})
    resource = ConfigResource(ResourceType.TOPIC, topic)
    entries = admin.describe_configs([resource], request_timeout=timeout)[resource].result(timeout)
    return {name: entry.value for name, entry in entries.items() if entry.value is not None}


def set_topic_configs(
    bootstrap: str, topic: str, changes: Mapping[str, str], timeout: float = 15.0
) -> None:
    """Set the given configs of ``topic``, leaving the others (IncrementalAlterConfigs)."""
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.admin._config import AlterConfigOpType, ConfigEntry, ConfigResource
    from confluent_kafka.admin._resource import ResourceType

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": "2"})
    entries = [
        ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)
        for name, value in changes.items()
    ]
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=entries)
    admin.incremental_alter_configs([resource], request_timeout=timeout)[resource].result(timeout)
