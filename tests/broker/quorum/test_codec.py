"""The quorum wire codec: exact bytes, round trips, and hostile input."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.quorum import (
    AppendEntries,
    AppendEntriesResponse,
    Entry,
    InstallSnapshot,
    InstallSnapshotResponse,
    Message,
    PreVoteRequest,
    PreVoteResponse,
    QuorumMessageError,
    TimeoutNow,
    VoteRequest,
    VoteResponse,
)
from broker.quorum.codec import decode_message, encode_message, read_frame
from broker.quorum.messages import MAX_INDEX, MAX_NODE_ID


def _frame(body: bytes) -> bytes:
    """A frame around ``body`` with a correct length and CRC."""
    return struct.pack(">II", len(body) + 4, zlib.crc32(body)) + body


def _q(value: int) -> bytes:
    return struct.pack(">q", value)


def _envelope(message_type: int, term: int = 7) -> bytes:
    return bytes([1, message_type, 2]) + b"tw" + struct.pack(">ii", 1, 2) + _q(term)


# -- exact bytes -----------------------------------------------------------------------


def test_a_vote_request_is_encoded_field_by_field() -> None:
    body = (
        b"\x01"  # version
        b"\x03"  # message type: VoteRequest
        b"\x02"  # cluster id length
        b"tw"  # cluster id
        b"\x00\x00\x00\x01"  # sender
        b"\x00\x00\x00\x02"  # receiver
        b"\x00\x00\x00\x00\x00\x00\x00\x07"  # term
        b"\x00\x00\x00\x00\x00\x00\x00\x2a"  # last log index 42
        b"\x00\x00\x00\x00\x00\x00\x00\x06"  # last log term 6
        b"\x01"  # leadership transfer
    )
    expected = struct.pack(">I", len(body) + 4) + struct.pack(">I", zlib.crc32(body)) + body
    assert encode_message(VoteRequest("tw", 1, 2, 7, 42, 6, True)) == expected


def test_append_entries_carries_entry_terms_and_payloads_but_implies_their_indexes() -> None:
    message = AppendEntries("tw", 1, 2, 7, 3, 5, (Entry(6, 4, b"ab"), Entry(7, 5, b"")), 2)
    body = (
        _envelope(5)
        + _q(3)  # prev log index
        + _q(5)  # prev log term
        + _q(2)  # leader commit
        + b"\x00\x00\x00\x02"  # entry count
        + _q(6)  # entry 4: term
        + b"\x00\x00\x00\x02"  # entry 4: payload length
        + b"ab"  # entry 4: payload
        + _q(7)  # entry 5: term
        + b"\x00\x00\x00\x00"  # entry 5: empty payload (the leader's no-op)
    )
    assert encode_message(message) == _frame(body)


# -- round trips -----------------------------------------------------------------------

_ids = st.integers(0, MAX_NODE_ID)
_clusters = st.text(st.characters(codec="utf-8"), min_size=1, max_size=20)
_indexes = st.integers(0, MAX_INDEX)


@st.composite
def _positions(draw: st.DrawFn, term: int) -> tuple[int, int]:
    """A legal (index, term) log position no newer than ``term``."""
    if term == 0 or draw(st.booleans()):
        return 0, 0
    return draw(st.integers(1, MAX_INDEX - 10)), draw(st.integers(1, term))


@st.composite
def _entries(draw: st.DrawFn, prev: tuple[int, int], term: int) -> tuple[Entry, ...]:
    if term == 0:
        return ()
    terms = sorted(draw(st.lists(st.integers(max(prev[1], 1), term), max_size=5)))
    payloads = draw(st.lists(st.binary(max_size=40), min_size=len(terms), max_size=len(terms)))
    return tuple(
        Entry(t, prev[0] + 1 + i, p) for i, (t, p) in enumerate(zip(terms, payloads, strict=True))
    )


@st.composite
def messages(draw: st.DrawFn) -> Message:
    envelope = (draw(_clusters), draw(_ids), draw(_ids))
    term = draw(st.integers(0, MAX_INDEX))
    position = draw(_positions(term))
    kind = draw(st.sampled_from(range(9)))
    if kind == 0:
        return PreVoteRequest(*envelope, term, *position)
    if kind == 1:
        return PreVoteResponse(*envelope, term, draw(st.booleans()))
    if kind == 2:
        return VoteRequest(*envelope, term, *position, draw(st.booleans()))
    if kind == 3:
        return VoteResponse(*envelope, term, draw(st.booleans()))
    if kind == 4:
        entries = draw(_entries(position, term))
        return AppendEntries(*envelope, term, *position, entries, draw(_indexes))
    if kind == 5:
        hint = [draw(_indexes) for _ in range(4)]
        return AppendEntriesResponse(*envelope, term, draw(st.booleans()), *hint)
    if kind == 6 and position[0] > 0:
        return InstallSnapshot(*envelope, term, *position, draw(st.binary(max_size=100)))
    if kind == 7:
        return InstallSnapshotResponse(*envelope, term, draw(_indexes))
    return TimeoutNow(*envelope, term)


@settings(deadline=None)
@given(messages())
def test_every_message_survives_a_round_trip(message: Message) -> None:
    frame = encode_message(message)
    assert decode_message(frame) == message
    assert read_frame(frame + b"next") == (message, len(frame))


@settings(deadline=None)
@given(st.lists(messages(), max_size=5), st.integers(1, 64))
def test_a_stream_cut_anywhere_decodes_frame_by_frame(messages: list[Message], chunk: int) -> None:
    stream = b"".join(encode_message(m) for m in messages)
    buffer, decoded = bytearray(), []
    for start in range(0, len(stream), chunk):
        buffer += stream[start : start + chunk]
        while (result := read_frame(buffer)) is not None:
            decoded.append(result[0])
            del buffer[: result[1]]
    assert decoded == messages
    assert not buffer


# -- hostile input ---------------------------------------------------------------------

_ONE_ENTRY = AppendEntries("tw", 1, 2, 7, 0, 0, (Entry(7, 1, b"x" * 40),), 0)
_ONE_ENTRY_BODY = encode_message(_ONE_ENTRY)[8:]


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        pytest.param(_frame(_envelope(10)), "unknown message type 10", id="an unknown type"),
        pytest.param(
            _frame(b"\x02" + _envelope(9)[1:]), "unsupported version 2", id="a newer version"
        ),
        pytest.param(
            _frame(_ONE_ENTRY_BODY[:-28]),
            "truncated AppendEntries: 12 bytes left, entry 0 payload needs 40",
            id="an entry cut short",
        ),
        pytest.param(
            _frame(_envelope(5) + _q(0) + _q(0) + _q(0) + b"\xff\xff\xff\xff"),
            "truncated AppendEntries: 4294967295 entries need at least",
            id="an entry count larger than the frame",
        ),
        pytest.param(
            _frame(_envelope(9, term=-1)),
            "bad TimeoutNow: term must be >= 0, got -1",
            id="a negative term",
        ),
        pytest.param(
            _frame(_envelope(5) + _q(0) + _q(0) + _q(0) + b"\x00\x00\x00\x01" + _q(8) + bytes(4)),
            "bad AppendEntries: entry 1 has term 8, must be in 0..7",
            id="an entry newer than the message",
        ),
        pytest.param(
            _frame(_envelope(2) + b"\x02"), "granted flag must be 0 or 1", id="a bad flag"
        ),
        pytest.param(
            _frame(_envelope(9) + b"\x00"), "TimeoutNow has 1 trailing bytes", id="trailing bytes"
        ),
        pytest.param(
            _frame(bytes([1, 9, 2]) + b"\xff\xfe" + bytes(16)),
            "cluster id is not UTF-8",
            id="a cluster id that is not UTF-8",
        ),
        pytest.param(
            _frame(bytes([1, 9, 0]) + bytes(16)),
            "bad TimeoutNow: cluster id must be 1..255 bytes, got 0",
            id="no cluster id",
        ),
        pytest.param(
            _frame(_envelope(9))[:4] + b"\x00\x00\x00\x00" + _frame(_envelope(9))[8:],
            "frame CRC mismatch",
            id="a corrupt checksum",
        ),
        pytest.param(
            b"\x00\x00\x00\x02" + bytes(6), "frame length 2 is outside", id="a tiny length"
        ),
        pytest.param(_frame(_envelope(9))[:-1], "truncated frame", id="a short frame"),
        pytest.param(_frame(_envelope(9)) + b"\x00", "1 bytes after the frame", id="an extra byte"),
    ],
)
def test_malformed_input_is_refused_with_a_one_line_reason(frame: bytes, reason: str) -> None:
    with pytest.raises(QuorumMessageError, match="^" + reason.replace("(", r"\(")) as raised:
        decode_message(frame)
    assert "\n" not in str(raised.value)


def test_a_stream_refuses_an_oversized_frame_before_buffering_it() -> None:
    with pytest.raises(QuorumMessageError, match=r"outside 7\.\.1024"):
        read_frame(struct.pack(">II", 1 << 30, 0), max_frame_bytes=1024)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_raise_nothing_but_quorum_message_error(data: bytes) -> None:
    try:
        decode_message(data)
    except QuorumMessageError:
        pass


@settings(max_examples=300, deadline=None)
@given(messages(), st.data())
def test_mutated_frames_decode_or_raise_quorum_message_error(
    message: Message, data: st.DataObject
) -> None:
    body = bytearray(encode_message(message)[8:])
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(("flip", "cut", "grow", "insert")))
        position = data.draw(st.integers(0, max(len(body) - 1, 0)))
        if action == "flip" and body:
            body[position] ^= data.draw(st.integers(1, 255))
        elif action == "cut":
            del body[position:]
        elif action == "grow":
            body += data.draw(st.binary(min_size=1, max_size=16))
        else:
            body[position:position] = data.draw(st.binary(min_size=1, max_size=8))
    # Resealed, so the mutation reaches the parser instead of stopping at the CRC.
    try:
        decoded = decode_message(_frame(bytes(body)))
    except QuorumMessageError:
        return
    assert decode_message(encode_message(decoded)) == decoded
