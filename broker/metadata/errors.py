"""Errors of the metadata layer, and the Kafka error names the controller answers with.

``KafkaError`` mirrors the subset of Kafka's error codes the controller uses (same names,
same numbers); the server layer converts them to the wire type by value. The metadata
layer itself imports no protocol library.
"""

from __future__ import annotations

import enum

__all__ = ["ControllerStateError", "KafkaError", "MetadataRecordError"]


class MetadataRecordError(ValueError):
    """A metadata record (or snapshot) is malformed, or refused by the image.

    The message is one line saying why, for example ``partition_change for t-0: stale
    partition epoch 3, current 5``. Refusal is deterministic: every node refuses the same
    record in the same state, and a refused record changes nothing.
    """


class ControllerStateError(RuntimeError):
    """The controller was driven against its contract (a programming error in the app):
    called while inactive, or asked for more work while the records of its previous
    result were never marked proposed."""


class KafkaError(enum.IntEnum):
    """Kafka error codes answered by the controller (names and values as in Kafka)."""

    UNKNOWN_SERVER_ERROR = -1
    NONE = 0
    UNKNOWN_TOPIC_OR_PARTITION = 3
    LEADER_NOT_AVAILABLE = 5
    NOT_LEADER_OR_FOLLOWER = 6
    COORDINATOR_NOT_AVAILABLE = 15
    INVALID_TOPIC_EXCEPTION = 17
    TOPIC_ALREADY_EXISTS = 36
    INVALID_PARTITIONS = 37
    INVALID_REPLICATION_FACTOR = 38
    INVALID_REPLICA_ASSIGNMENT = 39
    INVALID_CONFIG = 40
    NOT_CONTROLLER = 41
    INVALID_REQUEST = 42
    FENCED_LEADER_EPOCH = 74
    STALE_BROKER_EPOCH = 77
    INVALID_UPDATE_VERSION = 95
    UNKNOWN_TOPIC_ID = 100
    DUPLICATE_BROKER_REGISTRATION = 101
    BROKER_ID_NOT_REGISTERED = 102
    INCONSISTENT_CLUSTER_ID = 104
    INELIGIBLE_REPLICA = 107
