"""Errors the storage layer raises. Handlers map each type to a Kafka error code; the
storage layer itself knows nothing of the wire protocol."""

from __future__ import annotations

__all__ = [
    "CorruptCheckpointError",
    "DataDirLockedError",
    "DataDirMismatchError",
    "FencedLeaderEpochError",
    "InvalidPartitionsError",
    "InvalidProducerEpochError",
    "InvalidRecordError",
    "InvalidTopicError",
    "LogStorageError",
    "OffsetOutOfRangeError",
    "OutOfOrderSequenceError",
    "RecordTooLargeError",
    "StorageError",
    "TopicExistsError",
    "UnexpectedAppendOffsetError",
    "UnknownTopicError",
]


class StorageError(Exception):
    """Base of every error the storage layer raises on purpose."""


class LogStorageError(StorageError):
    """The disk refused an operation (full, read-only, I/O error). Nothing was stored."""


class RecordTooLargeError(StorageError):
    """A batch is larger than the topic's max.message.bytes."""


class InvalidRecordError(StorageError):
    """A batch is well-formed but not acceptable (for example transactional)."""


class OffsetOutOfRangeError(StorageError):
    """A read asked for an offset below the log start or above the log end."""


class UnexpectedAppendOffsetError(StorageError):
    """Replicated batches do not continue the log: their first offset leaves a gap after
    the log end offset or overlaps what is stored, or they are not contiguous. Nothing
    was stored; the follower re-fetches from its log end offset."""


class FencedLeaderEpochError(StorageError):
    """A leader append or epoch assignment carries a leader epoch older than the latest
    one this log has recorded: the caller is a stale leader."""


class CorruptCheckpointError(StorageError):
    """A checkpoint file is not in the expected format; the message names the file and
    the problem. Owners rebuild what they can (the epoch cache from the log)."""


class OutOfOrderSequenceError(StorageError):
    """An idempotent producer skipped sequence numbers."""


class InvalidProducerEpochError(StorageError):
    """An idempotent producer used an epoch older than the current one (fenced)."""


class TopicExistsError(StorageError):
    """CreateTopics for a name that exists."""


class UnknownTopicError(StorageError):
    """The topic or partition does not exist."""


class InvalidTopicError(StorageError):
    """The topic name is not legal (characters, length, reserved)."""


class InvalidPartitionsError(StorageError):
    """A partition count that is not positive or would shrink a topic."""


class DataDirLockedError(StorageError):
    """Another process holds the data directory."""


class DataDirMismatchError(StorageError):
    """The data directory belongs to another cluster or node id."""
