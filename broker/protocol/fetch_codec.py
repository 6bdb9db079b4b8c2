"""Hand-written FetchResponse encoder (hot path), versions 4-16.

The response is returned as a list of buffers so record data read from segments goes
to the socket without being copied into one large bytes object::

    throttle_time_ms      int32
    error_code            int16                 (v7+)
    session_id            int32                 (v7+)
    responses             array of
      topic               string (v4-12) | topic_id uuid (v13+)
      partitions          array of
        index                   int32
        error_code              int16
        high_watermark          int64
        last_stable_offset      int64
        log_start_offset        int64           (v5+)
        aborted_transactions    array (empty)
        preferred_read_replica  int32 (-1)      (v11+)
        records                 nullable bytes
        [tags]                                  (v12+) tag 0: diverging_epoch
                                                  {epoch int32, end_offset int64, [tags]}
      [tags]                                    (v12+)
    [tags]                                      (v12+)
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from broker.protocol.primitives import EMPTY_TAGS, compact_len, compact_string, string

__all__ = ["FetchPartitionData", "FetchTopicData", "encode_fetch_response"]

FLEXIBLE_FROM = 12
TOPIC_IDS_FROM = 13

_I32 = struct.Struct(">i")
_TOP_V7 = struct.Struct(">ihi")
_PART_V4 = struct.Struct(">ihqq")
_PART_V5 = struct.Struct(">ihqqq")
_NO_REPLICA = _I32.pack(-1)
_DIVERGING_EPOCH = struct.Struct(">BBBiqB")  # 1 tag, tag 0, size 13, epoch, end, no tags


@dataclass(frozen=True, slots=True)
class FetchPartitionData:
    index: int
    error_code: int
    high_watermark: int = -1
    last_stable_offset: int = -1
    log_start_offset: int = -1
    records: bytes | memoryview = b""
    # (epoch, end offset) for a follower whose log diverged (v12+, replica fetches).
    diverging_epoch: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class FetchTopicData:
    name: str
    topic_id: uuid.UUID
    partitions: Sequence[FetchPartitionData]


def encode_fetch_response(
    version: int,
    topics: Sequence[FetchTopicData],
    error_code: int = 0,
    session_id: int = 0,
) -> list[bytes | memoryview]:
    """Body buffers of a FetchResponse (no header, no size prefix)."""
    flexible = version >= FLEXIBLE_FROM
    parts: list[bytes | memoryview] = []
    out = bytearray()
    if version >= 7:
        out += _TOP_V7.pack(0, error_code, session_id)
    else:
        out += _I32.pack(0)
    out += compact_len(len(topics)) if flexible else _I32.pack(len(topics))
    for topic in topics:
        if version >= TOPIC_IDS_FROM:
            out += topic.topic_id.bytes
        else:
            out += compact_string(topic.name) if flexible else string(topic.name)
        out += compact_len(len(topic.partitions)) if flexible else _I32.pack(len(topic.partitions))
        for p in topic.partitions:
            if version >= 5:
                out += _PART_V5.pack(
                    p.index,
                    p.error_code,
                    p.high_watermark,
                    p.last_stable_offset,
                    p.log_start_offset,
                )
            else:
                out += _PART_V4.pack(p.index, p.error_code, p.high_watermark, p.last_stable_offset)
            out += compact_len(0) if flexible else _I32.pack(0)
            if version >= 11:
                out += _NO_REPLICA
            size = len(p.records)
            out += compact_len(size) if flexible else _I32.pack(size)
            if size:
                parts.append(bytes(out))
                parts.append(p.records)
                out = bytearray()
            if flexible:
                if p.diverging_epoch is None:
                    out += EMPTY_TAGS
                else:
                    out += _DIVERGING_EPOCH.pack(1, 0, 13, *p.diverging_epoch, 0)
        if flexible:
            out += EMPTY_TAGS
    if flexible:
        out += EMPTY_TAGS
    parts.append(bytes(out))
    return parts
