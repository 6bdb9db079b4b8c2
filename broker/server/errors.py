"""The mapping from domain exceptions to Kafka error codes: the only place it lives."""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from broker.cluster.produce_validation import UnsupportedMagicError
from broker.error_codes import KafkaError
from broker.records.batch import CorruptBatchError
from broker.storage.errors import (
    FencedLeaderEpochError,
    InvalidPartitionsError,
    InvalidProducerEpochError,
    InvalidRecordError,
    InvalidTopicError,
    LogStorageError,
    OffsetOutOfRangeError,
    OutOfOrderSequenceError,
    RecordTooLargeError,
    TopicExistsError,
    UnknownTopicError,
)
from broker.storage.log_config import InvalidConfigError

__all__ = ["error_code_for", "wire_error"]

_CODES: dict[type[BaseException], ErrorCode] = {
    UnsupportedMagicError: ErrorCode.invalid_record,
    CorruptBatchError: ErrorCode.corrupt_message,
    RecordTooLargeError: ErrorCode.message_too_large,
    InvalidRecordError: ErrorCode.invalid_record,
    LogStorageError: ErrorCode.kafka_storage_error,
    OffsetOutOfRangeError: ErrorCode.offset_out_of_range,
    OutOfOrderSequenceError: ErrorCode.out_of_order_sequence_number,
    InvalidProducerEpochError: ErrorCode.invalid_producer_epoch,
    TopicExistsError: ErrorCode.topic_already_exists,
    UnknownTopicError: ErrorCode.unknown_topic_or_partition,
    InvalidTopicError: ErrorCode.invalid_topic_exception,
    InvalidPartitionsError: ErrorCode.invalid_partitions,
    InvalidConfigError: ErrorCode.invalid_config,
    FencedLeaderEpochError: ErrorCode.fenced_leader_epoch,
}


def error_code_for(exc: BaseException) -> ErrorCode:
    """The Kafka error code for ``exc`` (most specific class wins), else UNKNOWN_SERVER_ERROR."""
    for cls in type(exc).__mro__:
        code = _CODES.get(cls)
        if code is not None:
            return code
    return ErrorCode.unknown_server_error


def wire_error(code: KafkaError) -> ErrorCode:
    """The wire codec's error for a domain layer's ``KafkaError`` (same number)."""
    return ErrorCode(int(code))
