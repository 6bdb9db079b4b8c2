"""The Kafka error codes the replication core answers with (names and values as Kafka's).

The core imports no protocol library; the server layer converts a ``ReplicationError``
to the wire type by value (a test pins every member against kio's ``ErrorCode``).
"""

from __future__ import annotations

import enum

__all__ = ["ReplicationError"]


class ReplicationError(enum.IntEnum):
    """An outcome of a replication decision, or a controller's answer to an ISR change
    (the last group). ``NONE`` means success."""

    NONE = 0
    OFFSET_OUT_OF_RANGE = 1
    UNKNOWN_TOPIC_OR_PARTITION = 3
    NOT_LEADER_OR_FOLLOWER = 6
    REQUEST_TIMED_OUT = 7
    NOT_ENOUGH_REPLICAS = 19
    NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20
    NOT_CONTROLLER = 41
    INVALID_REQUEST = 42
    OPERATION_NOT_ATTEMPTED = 55
    KAFKA_STORAGE_ERROR = 56
    FENCED_LEADER_EPOCH = 74
    UNKNOWN_LEADER_EPOCH = 75
    OFFSET_NOT_AVAILABLE = 78
    INVALID_UPDATE_VERSION = 95
    UNKNOWN_TOPIC_ID = 100
    INELIGIBLE_REPLICA = 107
