"""Length-prefixed framing: every Kafka request is ``int32 size`` then ``size`` bytes.

``FrameReader`` is sans-I/O and shaped for ``asyncio.BufferedProtocol``: the transport
asks for a buffer (``get_buffer``), the kernel writes into it, and ``buffer_updated``
returns the whole frames now available. Small frames are read into one shared receive
buffer and copied out once; a large frame (a produce request carrying a big batch) gets
its own buffer, into which the kernel writes the rest of it directly. That buffer grows
with the bytes that actually arrive (doubling, up to the announced size), so memory
stays within about twice what a client sent: a size prefix alone, or a frame that is
never finished, cannot make the broker reserve ``max_frame_bytes``. Growing is a
``realloc`` (which for buffers this large moves pages rather than copying bytes) plus
zeroing the new part, about what allocating the whole frame up front cost.

A negative size or one above the configured maximum is a protocol violation: the
connection must be closed (there is no way to resynchronise a byte stream).
"""

from __future__ import annotations

import struct

__all__ = ["FrameDecoder", "FrameError", "FrameReader"]

_SIZE = struct.Struct(">i")
RECEIVE_BUFFER_BYTES = 256 * 1024
LARGE_FRAME_BYTES = 64 * 1024


class FrameError(ValueError):
    """The stream cannot be framed; the message says why. Close the connection."""


def _check_size(size: int, maximum: int) -> None:
    if size < 0 or size > maximum:
        raise FrameError(f"frame size {size} is outside 0..{maximum} (socket.request.max.bytes)")


class _Zeros:
    """One shared buffer of zero bytes to grow frame buffers from. It is allocated with
    calloc and only ever read, so its pages stay unbacked and cost no memory; growing
    from it is a plain memcpy (a fresh ``bytes(n)`` per growth costs page faults)."""

    view = memoryview(b"")


def _zeros(n: int) -> memoryview:
    if len(_Zeros.view) < n:
        _Zeros.view = memoryview(bytes(max(n, 2 * len(_Zeros.view))))
    return _Zeros.view[:n]


class FrameReader:
    """Frames from a byte stream, for a buffered protocol. See the module docstring."""

    def __init__(
        self,
        max_frame_bytes: int,
        receive_bytes: int = RECEIVE_BUFFER_BYTES,
        large_frame_bytes: int = LARGE_FRAME_BYTES,
    ) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._large = min(large_frame_bytes, receive_bytes // 2)
        self._buf = bytearray(receive_bytes)
        self._view = memoryview(self._buf)
        self._start = 0
        self._end = 0
        self._frame: bytearray | None = None
        self._frame_size = 0  # the announced size of the large frame being read
        self._filled = 0

    @property
    def buffered_bytes(self) -> int:
        """Bytes received of a frame that is not complete yet (0 between frames)."""
        if self._frame is not None:
            return 4 + self._filled  # its size prefix, then what arrived of the body
        return self._end - self._start

    def get_buffer(self) -> memoryview:
        frame = self._frame
        if frame is not None:
            if self._filled == len(frame):  # full so far: double it, up to the frame size
                more = _zeros(min(len(frame), self._frame_size - len(frame)))
                try:
                    frame.extend(more)
                except BufferError:  # a caller still holds a view of it: grow a copy
                    frame = self._frame = frame + more
            return memoryview(frame)[self._filled :]
        if self._end == len(self._buf):
            self._compact()
        return self._view[self._end :]

    def _compact(self) -> None:
        pending = self._end - self._start
        self._buf[:pending] = self._buf[self._start : self._end]
        self._start, self._end = 0, pending

    def buffer_updated(self, nbytes: int) -> list[bytes | bytearray]:
        frames: list[bytes | bytearray] = []
        if self._frame is not None:
            self._filled += nbytes
            if self._filled == self._frame_size:
                frames.append(self._frame)
                self._frame = None
            return frames
        self._end += nbytes
        buf, start, end = self._buf, self._start, self._end
        while end - start >= 4:
            (size,) = _SIZE.unpack_from(buf, start)
            _check_size(size, self.max_frame_bytes)
            available = end - start - 4
            if available >= size:
                frames.append(bytes(buf[start + 4 : start + 4 + size]))
                start += 4 + size
            elif size >= self._large:
                # Give the rest of this frame its own buffer; the kernel fills it.
                frame = bytearray(min(size, max(2 * available, self._large)))
                frame[:available] = buf[start + 4 : end]
                self._frame, self._frame_size, self._filled = frame, size, available
                start = end
                break
            else:
                break
        if start == end:
            start = end = 0
        self._start, self._end = start, end
        if len(buf) - end < self._large:
            self._compact()  # keep room for a whole small frame after the pending bytes
        return frames


class FrameDecoder:
    """The same framing for a plain stream of byte chunks (tests and tools)."""

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
            try:
                _check_size(size, self.max_frame_bytes)
            except FrameError:
                del buf[:]
                raise
            if end - pos - 4 < size:
                break
            frames.append(bytes(buf[pos + 4 : pos + 4 + size]))
            pos += 4 + size
        if pos:
            del buf[:pos]
        return frames
