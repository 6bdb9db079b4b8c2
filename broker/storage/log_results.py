"""What the partition log's operations return: immutable result values (Kafka's
``LogAppendInfo``, ``FetchDataInfo``...). No behaviour, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["AppendInfo", "DeletedSegment", "ReadInfo", "ReplicaAppendInfo", "TruncationInfo"]


class AppendInfo(NamedTuple):
    """Where an appended batch landed. ``duplicate`` marks a retried idempotent batch
    that was not stored again; its offsets are those of the original."""

    base_offset: int
    last_offset: int
    records: int
    size_bytes: int
    max_timestamp: int
    duplicate: bool = False


class ReplicaAppendInfo(NamedTuple):
    """What a follower append stored. ``size_bytes`` is how much of the input was
    consumed (its whole batches); a partial batch after them was left for the next
    fetch. With no whole batch, ``batches`` is 0, ``first_offset`` the log end offset
    and ``last_offset`` one below it."""

    first_offset: int
    last_offset: int
    batches: int
    records: int
    size_bytes: int
    max_timestamp: int


@dataclass(frozen=True, slots=True)
class DeletedSegment:
    base_offset: int
    next_offset: int
    size_bytes: int
    reason: str


@dataclass(frozen=True, slots=True)
class TruncationInfo:
    """What a truncation did: the log end offset before and after, and bytes removed."""

    previous_end_offset: int
    log_end_offset: int
    removed_bytes: int


@dataclass(frozen=True, slots=True)
class ReadInfo:
    """Whole batches read from one segment, starting at the batch holding the offset.
    ``records`` counts the records in them (``next_offset`` - first batch's base)."""

    data: memoryview | bytes
    batches: int
    records: int = 0
