"""FrameReader's buffer for a large frame grows with the bytes that arrive, so a size
prefix cannot make the broker reserve memory for bytes that never come."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from broker.protocol.framing import FrameReader

LARGE = 16 * 1024


def _deliver(reader: FrameReader, data: bytes, chunk: int, hold_views: bool) -> list[bytes]:
    """Write ``data`` into the reader's buffers ``chunk`` bytes at a time; with
    ``hold_views`` the previous buffer view stays referenced (a careless transport)."""
    frames: list[bytes] = []
    held = []
    pos = 0
    while pos < len(data):
        target = reader.get_buffer()
        n = min(chunk, len(target), len(data) - pos)
        target[:n] = data[pos : pos + n]
        if hold_views:
            held.append(target)
        del target
        frames += [bytes(f) for f in reader.buffer_updated(n)]
        pos += n
    return frames


def test_an_announced_frame_costs_about_twice_the_bytes_received_not_its_size() -> None:
    reader = FrameReader(64 << 20, receive_bytes=64 * 1024, large_frame_bytes=LARGE)
    announced = 64 * 1024 * 1024 - 1
    received = 0
    _deliver(reader, struct.pack(">i", announced), 4, hold_views=False)
    for _ in range(40):  # 40 x 3000 bytes of a 64 MiB frame
        _deliver(reader, b"\x00" * 3000, 3000, hold_views=False)
        received += 3000
        reserved = len(reader.get_buffer()) + reader.buffered_bytes - 4
        assert reserved <= max(2 * received, LARGE) + 64 * 1024
    assert reader.buffered_bytes == 4 + received


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 300_000), min_size=1, max_size=5),
    chunk=st.sampled_from([1_000, 4_096, 65_536, 1 << 20]),
    hold_views=st.booleans(),
)
def test_frames_are_reassembled_whatever_the_read_sizes_and_held_views(
    sizes: list[int], chunk: int, hold_views: bool
) -> None:
    bodies = [bytes([i % 251]) * size for i, size in enumerate(sizes)]
    stream = b"".join(struct.pack(">i", len(b)) + b for b in bodies)
    reader = FrameReader(1 << 20, receive_bytes=64 * 1024, large_frame_bytes=LARGE)
    assert _deliver(reader, stream, chunk, hold_views) == bodies
    assert reader.buffered_bytes == 0
