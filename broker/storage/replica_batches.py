"""Validation of the batches a follower fetched from its leader, before it stores them.

A fetch response holds whole batches and perhaps, at its end, a partial one (the leader
cut the response at its byte limit). Whole batches must each be a valid v2 batch (the
checks of broker.records.batch.check_batch, CRC included) and must continue the
follower's log exactly: the first starts at its log end offset, each next one at the
offset after the previous one's last. (Without compaction a leader's log has no gaps;
when compaction arrives, "exactly" becomes "increasing".) Transactional and control
batches are refused, as on the leader. A partial tail is not an error: it is left out
and the caller is told how many bytes were whole batches. Pure: no I/O, no state.
"""

from __future__ import annotations

from collections.abc import Sequence

from broker.records.batch import (
    HEADER_SIZE,
    LOG_OVERHEAD,
    BatchHeader,
    CorruptBatchError,
    check_batch,
    read_prefix,
)
from broker.storage.errors import InvalidRecordError, UnexpectedAppendOffsetError

__all__ = ["fitting_batches", "validate_replicated"]


def validate_replicated(
    data: bytes | bytearray | memoryview, log_end_offset: int, partition: str
) -> tuple[list[BatchHeader], int]:
    """(headers of the whole batches at the start of ``data``, their total bytes).

    Raises CorruptBatchError, UnexpectedAppendOffsetError or InvalidRecordError naming
    ``partition``, the batch's byte position in ``data`` and its offset."""
    headers: list[BatchHeader] = []
    expected = log_end_offset
    position = 0
    size = len(data)
    while size - position >= LOG_OVERHEAD:
        base_offset, batch_size = read_prefix(data, position)
        where = f"{partition}: replicated batch at byte {position} (offset {base_offset})"
        if batch_size < HEADER_SIZE:
            raise CorruptBatchError(
                f"{where} claims {batch_size} bytes, fewer than a batch header ({HEADER_SIZE})"
            )
        if position + batch_size > size:
            break  # a partial batch at the end of a fetch response
        try:
            header = check_batch(data, position)
        except CorruptBatchError as exc:
            raise CorruptBatchError(f"{where}: {exc}") from exc
        if base_offset != expected:
            raise UnexpectedAppendOffsetError(
                f"{where}: {_misplacement(headers, expected, base_offset)}"
            )
        if header.is_transactional or header.is_control:
            raise InvalidRecordError(
                f"{where}: transactional and control batches are not supported"
            )
        headers.append(header)
        expected = header.next_offset
        position += batch_size
    return headers, position


def _misplacement(before: list[BatchHeader], expected: int, base_offset: int) -> str:
    if before:
        return (
            f"expected offset {expected} right after the previous batch: replicated "
            f"batches must be contiguous"
        )
    if base_offset > expected:
        return (
            f"leaves a gap of {base_offset - expected} offsets after the log end offset {expected}"
        )
    return (
        f"overlaps {expected - base_offset} offsets already stored below the log end "
        f"offset {expected}"
    )


def fitting_batches(
    headers: Sequence[BatchHeader], first: int, room_bytes: int, max_last_offset: int
) -> tuple[int, int]:
    """(end index, bytes) of the run of batches from ``headers[first]`` that fit in
    ``room_bytes`` with last offsets <= ``max_last_offset`` (a segment's limits); the
    first batch is always taken (the caller rolled a segment for it if needed)."""
    stop = first
    run_bytes = 0
    while stop < len(headers):
        header = headers[stop]
        fits = run_bytes + header.size <= room_bytes and header.last_offset <= max_last_offset
        if stop > first and not fits:
            break
        run_bytes += header.size
        stop += 1
    return stop, run_bytes
