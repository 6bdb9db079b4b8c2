"""Binary wire encoding of quorum messages: compact, versioned, checksummed.

One message is one frame; all integers are big-endian::

    u32   frame_length    bytes after this field (<= max_frame_bytes)
    u32   crc32           zlib CRC-32 of every byte after this field
    u8    version         1
    u8    message_type    1..9, see _TYPES
    u8    cluster_id_len  then cluster_id_len bytes of UTF-8
    i32   sender          node ids are >= 0
    i32   receiver
    i64   term            >= 0
    ...   body, by type (indexes and terms are i64 >= 0, flags are u8 0 or 1):

    1 PreVoteRequest         i64 last_log_index, i64 last_log_term
    2 PreVoteResponse        u8 granted
    3 VoteRequest            i64 last_log_index, i64 last_log_term, u8 leadership_transfer
    4 VoteResponse           u8 granted
    5 AppendEntries          i64 prev_log_index, i64 prev_log_term, i64 leader_commit,
                             u32 count, count x (i64 term, u32 payload_len, payload);
                             entry indexes are implied: prev_log_index + 1, + 2, ...
    6 AppendEntriesResponse  u8 success, i64 match_index, i64 rejected_index,
                             i64 conflict_index, i64 conflict_term
    7 InstallSnapshot        i64 snapshot_index, i64 snapshot_term, u32 data_len, data
    8 InstallSnapshotResponse i64 match_index
    9 TimeoutNow             (no body)

The decoder trusts nothing: every length is checked against what is left before it is
used, the CRC before anything is parsed, every value against the message rules
(``messages.py``), and trailing bytes are refused. Anything wrong raises
``QuorumMessageError`` with a one-line reason; nothing else escapes, and the work done is
linear in the input. A snapshot travels in one frame (no chunking), so
``max_frame_bytes`` bounds the snapshot size.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from typing import Any

from broker.quorum.errors import QuorumMessageError
from broker.quorum.messages import (
    AppendEntries,
    AppendEntriesResponse,
    Entry,
    InstallSnapshot,
    InstallSnapshotResponse,
    Message,
    PreVoteRequest,
    PreVoteResponse,
    TimeoutNow,
    VoteRequest,
    VoteResponse,
)

__all__ = ["MAX_FRAME_BYTES", "VERSION", "decode_message", "encode_message", "read_frame"]

VERSION = 1
MAX_FRAME_BYTES = 64 * 1024 * 1024

_PREFIX = struct.Struct(">II")  # frame_length, crc32
_HEAD = struct.Struct(">BBB")  # version, message_type, cluster_id_len
_IDS = struct.Struct(">iiq")  # sender, receiver, term
_POSITION = struct.Struct(">qq")  # an (index, term) pair
_VOTE = struct.Struct(">qqB")
_FLAG = struct.Struct(">B")
_APPEND = struct.Struct(">qqqI")
_ENTRY = struct.Struct(">qI")
_APPEND_RESPONSE = struct.Struct(">Bqqqq")
_SNAPSHOT = struct.Struct(">qqI")
_INDEX = struct.Struct(">q")


# -- encoding --------------------------------------------------------------------------


def _encode_body(message: Message) -> bytes:
    match message:
        case PreVoteRequest():
            return _POSITION.pack(message.last_log_index, message.last_log_term)
        case VoteRequest():
            return _VOTE.pack(
                message.last_log_index, message.last_log_term, message.leadership_transfer
            )
        case PreVoteResponse() | VoteResponse():
            return _FLAG.pack(message.granted)
        case AppendEntries():
            parts = [
                _APPEND.pack(
                    message.prev_log_index,
                    message.prev_log_term,
                    message.leader_commit,
                    len(message.entries),
                )
            ]
            for entry in message.entries:
                parts.append(_ENTRY.pack(entry.term, len(entry.payload)))
                parts.append(entry.payload)
            return b"".join(parts)
        case AppendEntriesResponse():
            return _APPEND_RESPONSE.pack(
                message.success,
                message.match_index,
                message.rejected_index,
                message.conflict_index,
                message.conflict_term,
            )
        case InstallSnapshot():
            head = _SNAPSHOT.pack(message.snapshot_index, message.snapshot_term, len(message.data))
            return head + message.data
        case InstallSnapshotResponse():
            return _INDEX.pack(message.match_index)
        case TimeoutNow():
            return b""


def encode_message(message: Message) -> bytes:
    """The frame for ``message`` (length prefix included)."""
    cluster = message.cluster_id.encode("utf-8")
    body = b"".join(
        (
            _HEAD.pack(VERSION, _CODES[type(message)], len(cluster)),
            cluster,
            _IDS.pack(message.sender, message.receiver, message.term),
            _encode_body(message),
        )
    )
    return _PREFIX.pack(len(body) + 4, zlib.crc32(body)) + body


# -- decoding --------------------------------------------------------------------------

_Header = tuple[str, int, int, int]  # cluster_id, sender, receiver, term


class _Reader:
    """A cursor over one frame body that names what it was reading when it ran out."""

    def __init__(self, data: memoryview, what: str) -> None:
        self._data = data
        self._position = 0
        self.what = what

    def left(self) -> int:
        return len(self._data) - self._position

    def take(self, layout: struct.Struct, field: str) -> tuple[Any, ...]:
        self._need(layout.size, field)
        values = layout.unpack_from(self._data, self._position)
        self._position += layout.size
        return values

    def take_bytes(self, size: int, field: str) -> bytes:
        self._need(size, field)
        chunk = bytes(self._data[self._position : self._position + size])
        self._position += size
        return chunk

    def _need(self, size: int, field: str) -> None:
        if self.left() < size:
            raise QuorumMessageError(
                f"truncated {self.what}: {self.left()} bytes left, {field} needs {size}"
            )


def _flag(value: int, field: str) -> bool:
    if value not in (0, 1):
        raise QuorumMessageError(f"{field} flag must be 0 or 1, got {value}")
    return bool(value)


def _decode_entries(reader: _Reader, prev_index: int, count: int) -> tuple[Entry, ...]:
    if count * _ENTRY.size > reader.left():
        raise QuorumMessageError(
            f"truncated {reader.what}: {count} entries need at least "
            f"{count * _ENTRY.size} bytes, {reader.left()} left"
        )
    entries = []
    for position in range(count):
        term, size = reader.take(_ENTRY, f"entry {position} header")
        payload = reader.take_bytes(size, f"entry {position} payload")
        entries.append(Entry(term, prev_index + 1 + position, payload))
    return tuple(entries)


def _decode_append_entries(envelope: _Header, reader: _Reader) -> Message:
    prev_index, prev_term, commit, count = reader.take(_APPEND, "AppendEntries header")
    if prev_index < 0:
        raise QuorumMessageError(f"prev log index must be >= 0, got {prev_index}")
    entries = _decode_entries(reader, prev_index, count)
    return AppendEntries(*envelope, prev_index, prev_term, entries, commit)


def _decode_pre_vote_request(envelope: _Header, reader: _Reader) -> Message:
    return PreVoteRequest(*envelope, *reader.take(_POSITION, "last log position"))


def _decode_vote_request(envelope: _Header, reader: _Reader) -> Message:
    index, term, transfer = reader.take(_VOTE, "vote request body")
    return VoteRequest(*envelope, index, term, _flag(transfer, "leadership transfer"))


def _decode_pre_vote_response(envelope: _Header, reader: _Reader) -> Message:
    return PreVoteResponse(*envelope, _flag(reader.take(_FLAG, "granted")[0], "granted"))


def _decode_vote_response(envelope: _Header, reader: _Reader) -> Message:
    return VoteResponse(*envelope, _flag(reader.take(_FLAG, "granted")[0], "granted"))


def _decode_append_response(envelope: _Header, reader: _Reader) -> Message:
    success, *indexes = reader.take(_APPEND_RESPONSE, "response body")
    return AppendEntriesResponse(*envelope, _flag(success, "success"), *indexes)


def _decode_install_snapshot(envelope: _Header, reader: _Reader) -> Message:
    index, term, size = reader.take(_SNAPSHOT, "snapshot header")
    return InstallSnapshot(*envelope, index, term, reader.take_bytes(size, "snapshot data"))


def _decode_snapshot_response(envelope: _Header, reader: _Reader) -> Message:
    return InstallSnapshotResponse(*envelope, *reader.take(_INDEX, "match index"))


def _decode_timeout_now(envelope: _Header, reader: _Reader) -> Message:
    return TimeoutNow(*envelope)


_Decoder = Callable[[_Header, _Reader], Message]
_TYPES: dict[int, tuple[type[Message], _Decoder]] = {
    1: (PreVoteRequest, _decode_pre_vote_request),
    2: (PreVoteResponse, _decode_pre_vote_response),
    3: (VoteRequest, _decode_vote_request),
    4: (VoteResponse, _decode_vote_response),
    5: (AppendEntries, _decode_append_entries),
    6: (AppendEntriesResponse, _decode_append_response),
    7: (InstallSnapshot, _decode_install_snapshot),
    8: (InstallSnapshotResponse, _decode_snapshot_response),
    9: (TimeoutNow, _decode_timeout_now),
}
_CODES: dict[type[Message], int] = {kind: code for code, (kind, _) in _TYPES.items()}


def _decode_body(body: memoryview) -> Message:
    reader = _Reader(body, "frame")
    version, code, cluster_size = reader.take(_HEAD, "header")
    if version != VERSION:
        raise QuorumMessageError(f"unsupported version {version}, this node speaks {VERSION}")
    if code not in _TYPES:
        raise QuorumMessageError(f"unknown message type {code}")
    kind, decode = _TYPES[code]
    reader.what = kind.__name__
    try:
        cluster_id = reader.take_bytes(cluster_size, "cluster id").decode("utf-8")
    except UnicodeDecodeError as error:
        raise QuorumMessageError(f"cluster id is not UTF-8: {error.reason}") from None
    sender, receiver, term = reader.take(_IDS, "sender, receiver and term")
    envelope: _Header = (cluster_id, sender, receiver, term)
    try:
        message = decode(envelope, reader)
    except ValueError as error:
        raise QuorumMessageError(f"bad {kind.__name__}: {error}") from None
    if reader.left():
        raise QuorumMessageError(f"{kind.__name__} has {reader.left()} trailing bytes")
    return message


def read_frame(
    buffer: bytes | bytearray | memoryview, max_frame_bytes: int = MAX_FRAME_BYTES
) -> tuple[Message, int] | None:
    """Decode the first frame of a stream buffer: (message, bytes consumed), or None if
    the buffer does not hold a whole frame yet. A bad frame raises, and so does a length
    over ``max_frame_bytes``, before the transport buffers that much."""
    view = memoryview(buffer)
    if len(view) < _PREFIX.size:
        return None
    length, crc = _PREFIX.unpack_from(view)
    if not 4 + _HEAD.size <= length <= max_frame_bytes:
        raise QuorumMessageError(f"frame length {length} is outside 7..{max_frame_bytes}")
    end = 4 + length
    if len(view) < end:
        return None
    body = view[_PREFIX.size : end]
    actual = zlib.crc32(body)
    if actual != crc:
        raise QuorumMessageError(f"frame CRC mismatch: stored {crc:#010x}, computed {actual:#010x}")
    return _decode_body(body), end


def decode_message(frame: bytes | bytearray | memoryview) -> Message:
    """Decode exactly one whole frame (as ``encode_message`` made it)."""
    decoded = read_frame(frame, max_frame_bytes=max(len(frame), MAX_FRAME_BYTES))
    if decoded is None:
        raise QuorumMessageError(f"truncated frame: {len(frame)} bytes do not hold a whole frame")
    message, consumed = decoded
    if consumed != len(frame):
        raise QuorumMessageError(f"{len(frame) - consumed} bytes after the frame")
    return message
