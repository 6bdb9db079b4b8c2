"""What the interop tests send and what they read back, independent of any client.

``Message`` is what a producer is asked to send; ``Consumed`` is what a consumer
returned, normalised (no headers is the empty tuple, timestamps in milliseconds).
``sample_messages`` builds the data set each client family sends: keys, null keys,
null values, empty keys and values, binary keys, values and headers, repeated and
non-ASCII header names, a header with a null value where the client allows it, a large
random value, and explicit timestamps where the client can set them.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

__all__ = ["ALL_BYTES", "Consumed", "Header", "Message", "compressible_messages", "sample_messages"]

Header = tuple[str, bytes | None]
ALL_BYTES = bytes(range(256))
# Recent enough that a default 7-day retention never deletes test data mid-run.
BASE_TIMESTAMP_MS = (int(time.time()) - 3600) * 1000


@dataclass(frozen=True)
class Message:
    value: bytes | None
    key: bytes | None = None
    headers: tuple[Header, ...] = ()
    # None: the producer stamps the record with its own clock.
    timestamp_ms: int | None = None


@dataclass(frozen=True)
class Consumed:
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...]
    timestamp_ms: int

    def as_message(self) -> Message:
        return Message(self.value, self.key, self.headers, self.timestamp_ms)


def sample_messages(
    tag: str,
    *,
    timestamps: bool = True,
    null_header_values: bool = True,
    nul_in_headers: bool = True,
    null_key_and_value: bool = True,
) -> list[Message]:
    """The data set one client family produces; ``tag`` makes every family's set
    distinct so that a record landing in the wrong topic cannot pass for another.

    ``timestamps``: whether the client can set record timestamps (kcat cannot).
    ``null_header_values``: whether it can send a header whose value is null.
    ``nul_in_headers``: whether header values may contain NUL (not through argv).
    ``null_key_and_value``: whether one record may have both a null key and a null
    value (kafka-python and aiokafka refuse it, kcat skips empty input).
    """
    label = tag.encode()
    rng = random.Random(f"interop-{tag}")
    binary_header = b"\x00\x01\x7f\x80\xfe\xff" if nul_in_headers else b"\x01\x7f\x80\xfe\xff"
    messages = [
        Message(
            key=b"key-\x00\xff-" + label,
            value=ALL_BYTES + label + ALL_BYTES[::-1],
            headers=(
                ("trace", binary_header + label),
                ("n\u00e4me-\u2603", "v\u00e4lue".encode()),
                ("repeated", b"first"),
                ("repeated", b"second"),
            ),
        ),
        Message(key=b"tombstone-" + label, value=None),
        Message(key=None, value=b"no key, " + label),
        Message(key=b"", value=b"", headers=(("empty", b""),)),
        Message(
            key="\u00fcnicode key \u2603".encode(),
            value="\u00fcnicode value \U0001f30a ".encode() + label,
        ),
        Message(key=b"large-" + label, value=rng.randbytes(300 * 1024)),
    ]
    if null_key_and_value:
        messages.append(Message(key=None, value=None))
    if null_header_values:
        messages.append(
            Message(
                key=b"null-header",
                value=b"v-" + label,
                headers=(("absent", None), ("present", b"x")),
            )
        )
    if timestamps:
        messages = [
            Message(m.value, m.key, m.headers, BASE_TIMESTAMP_MS + 1000 * i + 7)
            for i, m in enumerate(messages)
        ]
    return messages


def compressible_messages(
    tag: str, count: int = 200, *, timestamps: bool = True, varying_headers: bool = True
) -> list[Message]:
    """Repetitive values that every codec shrinks by far more than half.

    ``varying_headers``: a different header value per record (kcat can only send the
    same headers for a whole run, so it gets one fixed header instead).
    """
    messages = []
    for i in range(count):
        value = (f"{tag} record {i:05d} ".encode() * 40)[:1000] + bytes([i % 256])
        header = str(i).encode() if varying_headers else tag.encode()
        messages.append(
            Message(
                key=f"k{i % 7}".encode(),
                value=value,
                headers=(("index", header),),
                timestamp_ms=BASE_TIMESTAMP_MS + i if timestamps else None,
            )
        )
    return messages
