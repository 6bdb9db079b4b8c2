"""What a produce request's records must be before a leader appends them: exactly one
well-formed record batch v2 (checked here, before any byte is stored)."""

from __future__ import annotations

from broker.records.batch import BatchHeader, check_batch, check_record_framing
from broker.storage.errors import InvalidRecordError

__all__ = ["UnsupportedMagicError", "validate_produce_records"]


class UnsupportedMagicError(InvalidRecordError):
    """Records in a pre-v2 message format."""


def validate_produce_records(records: memoryview | bytes) -> BatchHeader:
    """Check that ``records`` is exactly one well-formed v2 batch and return its header.

    Raises CorruptBatchError (bad CRC, truncated) or InvalidRecordError (wrong magic,
    several batches, empty or inconsistent record count).
    """
    if len(records) > 16 and records[16] != 2:
        raise UnsupportedMagicError(
            f"record format magic {records[16]} is not supported: only record batch v2 "
            f"(Kafka 0.11+ clients) is accepted"
        )
    header = check_batch(records)
    if header.size != len(records):
        raise InvalidRecordError(
            "a produce request must carry exactly one record batch per partition, "
            f"found {len(records) - header.size} bytes after the first batch"
        )
    if header.records_count <= 0 or header.records_count != header.last_offset_delta + 1:
        raise InvalidRecordError(
            f"record count {header.records_count} does not match the last offset delta "
            f"{header.last_offset_delta}"
        )
    if header.attributes & 0x07 == 0:
        check_record_framing(records, header)
    return header
