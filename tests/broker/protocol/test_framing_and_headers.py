"""Framing and request headers: sans-I/O, bytes in and messages out."""

from __future__ import annotations

import struct

import pytest

from broker.protocol.framing import FrameDecoder, FrameError, FrameReader
from broker.protocol.header import HeaderError, parse_header_prefix, skip_tagged_fields


def frame(body: bytes) -> bytes:
    return struct.pack(">i", len(body)) + body


def test_frames_split_across_reads_are_reassembled() -> None:
    decoder = FrameDecoder(1024)
    stream = frame(b"one") + frame(b"") + frame(b"three")
    frames = []
    for i in range(len(stream)):
        frames += decoder.feed(stream[i : i + 1])
    assert frames == [b"one", b"", b"three"]
    assert decoder.buffered_bytes == 0


def test_a_frame_above_the_maximum_is_a_framing_error() -> None:
    decoder = FrameDecoder(100)
    with pytest.raises(FrameError, match=r"outside 0\.\.100"):
        decoder.feed(struct.pack(">i", 101))


def test_a_negative_frame_size_is_a_framing_error() -> None:
    with pytest.raises(FrameError):
        FrameDecoder(100).feed(struct.pack(">i", -5) + b"xxxx")


def test_a_request_header_is_decoded_field_by_field() -> None:
    raw = struct.pack(">hhih", 3, 12, 77, 6) + b"client" + b"body"
    header = parse_header_prefix(raw)
    assert (header.api_key, header.api_version, header.correlation_id) == (3, 12, 77)
    assert header.client_id == "client"
    assert raw[header.size :] == b"body"


def test_a_null_client_id_is_allowed() -> None:
    header = parse_header_prefix(struct.pack(">hhih", 18, 0, 1, -1))
    assert header.client_id is None
    assert header.size == 10


@pytest.mark.parametrize(
    "raw",
    [b"\x00\x01", struct.pack(">hhih", 3, 1, 1, 50) + b"short", struct.pack(">hhih", 3, 1, 1, -7)],
    ids=["shorter than a header", "client id past the end", "negative client id length"],
)
def test_malformed_headers_are_rejected(raw: bytes) -> None:
    with pytest.raises(HeaderError):
        parse_header_prefix(raw)


def test_tagged_fields_are_skipped_and_overruns_detected() -> None:
    tags = b"\x02" + b"\x00\x02ab" + b"\x05\x01z"
    assert skip_tagged_fields(tags + b"rest", 0) == len(tags)
    with pytest.raises(HeaderError):
        skip_tagged_fields(b"\x01\x00\x09ab", 0)


def _feed_reader(reader: FrameReader, stream: bytes, chunk: int) -> list[bytes]:
    frames: list[bytes] = []
    pos = 0
    while pos < len(stream):
        target = reader.get_buffer()
        n = min(chunk, len(target), len(stream) - pos)
        target[:n] = stream[pos : pos + n]
        pos += n
        frames += [bytes(f) for f in reader.buffer_updated(n)]
    return frames


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20], ids=lambda c: f"reads of {c} bytes")
def test_the_buffered_reader_reassembles_small_and_large_frames(chunk: int) -> None:
    bodies = [b"a" * 10, b"b" * 200_000, b"", b"c" * 70_000, b"d" * 3, b"e" * 65_536]
    stream = b"".join(frame(body) for body in bodies)
    reader = FrameReader(1 << 20, receive_bytes=128 * 1024, large_frame_bytes=16 * 1024)
    assert _feed_reader(reader, stream, chunk) == bodies


def test_the_buffered_reader_rejects_an_oversized_frame() -> None:
    reader = FrameReader(1000)
    target = reader.get_buffer()
    target[:4] = struct.pack(">i", 5000)
    with pytest.raises(FrameError, match="outside"):
        reader.buffer_updated(4)
