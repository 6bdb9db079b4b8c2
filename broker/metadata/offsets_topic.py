"""The internal offsets topic: its name, its configs and which partition holds a group.

A group's coordinator is the leader of partition ``coordinator_partition(group_id, n)``
of ``__consumer_offsets``, computed exactly as Kafka does (``Utils.abs(groupId.hashCode())
% n``), so a group maps to the same partition number here as on Kafka: Java's
``String.hashCode`` over UTF-16 code units with 32-bit overflow, and Kafka's ``abs`` that
maps Integer.MIN_VALUE to 0.

Configs of the topic (created by the controller, see ``QuorumController``): Kafka uses
``cleanup.policy=compact``; our storage supports only ``delete``, so the topic keeps
records forever (``retention.ms=-1``) until compaction exists, with Kafka's 100 MiB
segments.
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = [
    "OFFSETS_TOPIC",
    "OFFSETS_TOPIC_CONFIGS",
    "coordinator_partition",
    "java_string_hash",
]

OFFSETS_TOPIC = "__consumer_offsets"
OFFSETS_TOPIC_CONFIGS = MappingProxyType(
    {"cleanup.policy": "delete", "retention.ms": "-1", "segment.bytes": str(100 * 1024 * 1024)}
)
_INT32_MIN = -(2**31)


def java_string_hash(text: str) -> int:
    """``text.hashCode()`` as Java computes it: s[0]*31^(n-1) + ... + s[n-1] over UTF-16
    code units, wrapped to a signed 32-bit int."""
    units = text.encode("utf-16-be", "surrogatepass")
    h = 0
    for i in range(0, len(units), 2):
        h = (31 * h + (units[i] << 8 | units[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def coordinator_partition(group_id: str, partitions: int) -> int:
    """The offsets-topic partition of ``group_id`` among ``partitions`` (Kafka's rule)."""
    if partitions < 1:
        raise ValueError(f"the offsets topic needs at least one partition, not {partitions}")
    h = java_string_hash(group_id)
    return (0 if h == _INT32_MIN else abs(h)) % partitions
