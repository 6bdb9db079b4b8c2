"""The frames of the quorum transport, and its Hello handshake. Pure: bytes in, values out.

Every frame on a quorum connection (controller voters with each other, brokers with the
voters) is, big-endian::

    u32   length     bytes after this field: the kind byte and the body (1..max)
    u8    kind       1 hello, 2 raft, 3 rpc request, 4 rpc response
    ...   body

    hello          u16 format_version (1)
                   u8 cluster_id_len, cluster_id_len bytes of UTF-8 (1..255)
                   i32 node_id (>= 0)
                   u16 voter_count, voter_count x i32 voter id (ascending, >= 0)
    raft           one ``broker.quorum.codec`` frame (its own length prefix and CRC)
    rpc request    u64 request_id, then ``broker.metadata.rpc`` bytes (canonical JSON)
    rpc response   u64 request_id of the request it answers, then rpc bytes

The connecting side sends a Hello first; the accepting side checks it and answers with
its own Hello, which the connecting side checks in turn (it must name the voter it
dialled). The Hello carries the sender's voter set so that two nodes configured with
different voters refuse each other at once instead of electing two leaders. Nothing but
a Hello may come first, and a Hello never comes again.

``FrameError`` carries a ``reason`` (a short snake_case key for metrics) and a one-line
message. The transport closes the connection on a framing or handshake error; an rpc
body too short to hold its request id (``malformed_rpc``) only costs that frame, since
the frame boundaries are still known.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from broker.quorum.codec import MAX_FRAME_BYTES as MAX_RAFT_FRAME_BYTES
from broker.quorum.messages import MAX_NODE_ID

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "FORMAT_VERSION",
    "FRAME_LENGTH",
    "MAX_HELLO_BYTES",
    "REQUEST_ID",
    "FrameError",
    "FrameKind",
    "Hello",
    "check_frame_length",
    "check_hello",
    "decode_hello",
    "encode_hello",
    "frame_header",
    "split_rpc_body",
]

FORMAT_VERSION = 1
FRAME_LENGTH = struct.Struct(">I")
REQUEST_ID = struct.Struct(">Q")
# The largest Raft frame the quorum codec accepts, plus its length prefix and our kind
# byte: every snapshot the Raft core may send fits in one frame.
DEFAULT_MAX_FRAME_BYTES = MAX_RAFT_FRAME_BYTES + 4 + 1
MAX_VOTERS = 255
_MAX_CLUSTER_ID_BYTES = 255
MAX_HELLO_BYTES = 1 + 2 + 1 + _MAX_CLUSTER_ID_BYTES + 4 + 2 + 4 * MAX_VOTERS

_HELLO_HEAD = struct.Struct(">HB")  # format version, cluster id length
_HELLO_IDS = struct.Struct(">iH")  # node id, voter count
_VOTER = struct.Struct(">i")
_HEADER = struct.Struct(">IB")  # length, kind


class FrameKind(enum.IntEnum):
    HELLO = 1
    RAFT = 2
    RPC_REQUEST = 3
    RPC_RESPONSE = 4

    @property
    def label(self) -> str:
        """The lower-case name used as a stats key (``rpc_request``)."""
        return self.name.lower()


class FrameError(ValueError):
    """A frame that breaks the framing, the handshake or an rpc body's layout."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Hello:
    """Who is on the other end: its cluster, node id and the voter set it was given."""

    cluster_id: str
    node_id: int
    voters: frozenset[int]
    version: int = FORMAT_VERSION


def frame_header(kind: FrameKind, body_bytes: int) -> bytes:
    """The 5 bytes in front of a body of ``body_bytes`` bytes."""
    return _HEADER.pack(body_bytes + 1, kind)


def check_frame_length(length: int, max_frame_bytes: int) -> None:
    """Raise FrameError unless a length field is 1..max_frame_bytes."""
    if length == 0:
        raise FrameError("empty_frame", "a frame of length 0 has no kind byte")
    if length > max_frame_bytes:
        raise FrameError(
            "frame_too_large", f"a frame of {length} bytes exceeds the limit of {max_frame_bytes}"
        )


def encode_hello(hello: Hello) -> bytes:
    """The body of a Hello frame (``frame_header(FrameKind.HELLO, len(body))`` goes in
    front of it)."""
    cluster = hello.cluster_id.encode("utf-8")
    voters = sorted(hello.voters)
    body = b"".join(
        (
            _HELLO_HEAD.pack(hello.version, len(cluster)),
            cluster,
            _HELLO_IDS.pack(hello.node_id, len(voters)),
            *(_VOTER.pack(voter) for voter in voters),
        )
    )
    return body


def decode_hello(kind: int, body: bytes | memoryview) -> Hello:
    """The Hello in a frame's kind and body; FrameError (``no_hello``,
    ``unsupported_version`` or ``malformed_hello``) otherwise."""
    if kind != FrameKind.HELLO:
        raise FrameError("no_hello", f"expected a Hello frame first, got frame kind {kind}")
    data = bytes(body)
    if len(data) < _HELLO_HEAD.size:
        raise FrameError("malformed_hello", f"a Hello of {len(data)} bytes is truncated")
    version, cluster_size = _HELLO_HEAD.unpack_from(data)
    if version != FORMAT_VERSION:
        raise FrameError(
            "unsupported_version",
            f"Hello format version {version}, this node speaks {FORMAT_VERSION}",
        )
    position = _HELLO_HEAD.size
    ids_end = position + cluster_size + _HELLO_IDS.size
    if cluster_size == 0 or len(data) < ids_end:
        raise FrameError("malformed_hello", "a Hello with an empty or truncated cluster id")
    try:
        cluster_id = data[position : position + cluster_size].decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError("malformed_hello", "the Hello's cluster id is not UTF-8") from None
    node_id, count = _HELLO_IDS.unpack_from(data, position + cluster_size)
    if len(data) != ids_end + count * _VOTER.size:
        raise FrameError(
            "malformed_hello", f"a Hello with {count} voters must be {ids_end + 4 * count} bytes"
        )
    voters = [_VOTER.unpack_from(data, ids_end + 4 * i)[0] for i in range(count)]
    ids = [node_id, *voters]
    if not all(0 <= value <= MAX_NODE_ID for value in ids):
        raise FrameError("malformed_hello", f"a Hello with a negative node id in {ids}")
    if voters != sorted(set(voters)):
        raise FrameError("malformed_hello", f"the Hello's voters {voters} are not ascending")
    return Hello(cluster_id, node_id, frozenset(voters), version)


def check_hello(
    hello: Hello,
    *,
    cluster_id: str,
    voters: frozenset[int],
    own_node_id: int,
    expected_node_id: int | None,
) -> None:
    """Raise FrameError unless the peer's Hello fits this node: same cluster id
    (``cluster_id``), same voter set (``voter_set``), another node id (``own_node_id``),
    and, on a connection we dialled, the voter we dialled (``unexpected_node_id``)."""
    node = hello.node_id
    if hello.cluster_id != cluster_id:
        raise FrameError(
            "cluster_id",
            f"node {node} belongs to cluster {hello.cluster_id!r}, this is cluster {cluster_id!r}",
        )
    if hello.voters != voters:
        raise FrameError(
            "voter_set",
            f"node {node} was given voters {sorted(hello.voters)}, this node {sorted(voters)}",
        )
    if node == own_node_id:
        raise FrameError("own_node_id", f"the peer claims this node's id {node}")
    if expected_node_id is not None and node != expected_node_id:
        raise FrameError(
            "unexpected_node_id", f"dialled voter {expected_node_id}, node {node} answered"
        )


def split_rpc_body(body: bytes | memoryview) -> tuple[int, bytes]:
    """(request id, rpc bytes) of an rpc frame body; FrameError if it has no id."""
    if len(body) < REQUEST_ID.size:
        raise FrameError("malformed_rpc", f"an rpc frame of {len(body)} bytes has no request id")
    (request_id,) = REQUEST_ID.unpack_from(body)
    return request_id, bytes(body[REQUEST_ID.size :])
