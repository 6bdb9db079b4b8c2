"""RESP (the Redis protocol) command encoding for the raw Redis clients, sans I/O.

Commands are arrays of bulk strings: ``*<n>\\r\\n`` then ``$<len>\\r\\n<bytes>\\r\\n`` per
argument. Replies are parsed with ``hiredis.Reader`` (the C parser redis-py uses), so
errors come back as ``hiredis.ReplyError`` objects rather than raising.
"""

from __future__ import annotations

__all__ = ["command", "xadd", "xrange"]

STREAM_FIELD = b"v"


def _bytes(value: bytes | str | int) -> bytes:
    if isinstance(value, bytes):
        return value
    return str(value).encode()


def command(*args: bytes | str | int) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = _bytes(arg)
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def xadd(stream: str, value: bytes) -> bytes:
    """``XADD stream * v value``: one entry with an id chosen by the server."""
    return command(b"XADD", stream, b"*", STREAM_FIELD, value)


def xrange(stream: str, start: bytes, count: int) -> bytes:
    """``XRANGE stream start + COUNT count``; ``start`` may be exclusive (``(id``)."""
    return command(b"XRANGE", stream, start, b"+", b"COUNT", count)
