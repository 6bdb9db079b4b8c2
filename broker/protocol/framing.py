"""Length-prefixed framing: every Kafka request is ``int32 size`` then ``size`` bytes.

``FrameDecoder`` is sans-I/O: feed it bytes as they arrive and take whole frames out.
A negative size or one above the configured maximum is a protocol violation: the
connection must be closed (there is no way to resynchronise a byte stream).
"""

from __future__ import annotations

import struct

__all__ = ["FrameDecoder", "FrameError"]

_SIZE = struct.Struct(">i")


class FrameError(ValueError):
    """The stream cannot be framed; the message says why. Close the connection."""


class FrameDecoder:
    def __init__(self, max_frame_bytes: int) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buf = bytearray()

    @property
    def buffered_bytes(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Append ``data`` and return every complete frame (without its size prefix)."""
        buf = self._buf
        buf += data
        frames: list[bytes] = []
        pos = 0
        end = len(buf)
        while end - pos >= 4:
            (size,) = _SIZE.unpack_from(buf, pos)
            if size < 0 or size > self.max_frame_bytes:
                del buf[:]
                raise FrameError(
                    f"frame size {size} is outside 0..{self.max_frame_bytes} "
                    f"(socket.request.max.bytes)"
                )
            if end - pos - 4 < size:
                break
            frames.append(bytes(buf[pos + 4 : pos + 4 + size]))
            pos += 4 + size
        if pos:
            del buf[:pos]
        return frames
