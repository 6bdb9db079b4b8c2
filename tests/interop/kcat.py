"""Wrappers around the kcat binary (Debian kcat 1.7.1 on librdkafka 2.0.2).

Producing: messages go through a file read with ``-l``, split by multi-byte delimiters
that cannot occur in test data, so keys and values may hold any bytes. kcat cannot set
per-message headers or timestamps: ``-H`` applies to a whole run and records are stamped
with the producer's clock, so ``produce`` runs kcat once per run of messages sharing
headers. A null value needs ``-Z`` (empty values become NULL); a null key is a message
without the key delimiter.

Consuming: ``-J`` prints one JSON object per record. kcat escapes control characters
and passes other bytes through raw, so stdout is decoded with ``surrogateescape`` and
strings are encoded back the same way to recover the exact bytes. Null keys, values and
header values are JSON ``null``.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from tests.interop.messages import Consumed, Message
from tests.support import tools

__all__ = ["KcatError", "kcat", "kcat_consume", "kcat_produce", "kcat_query_offset"]

RECORD_DELIMITER = b"<<TIDEWATCH-RECORD>>"
KEY_DELIMITER = b"<<TIDEWATCH-KEY>>"
_CODECS = {"none", "gzip", "snappy", "lz4", "zstd"}


class KcatError(AssertionError):
    """kcat exited non-zero; the message carries its stderr."""


@dataclass(frozen=True)
class KcatResult:
    stdout: bytes
    stderr: str


def kcat(*args: str | bytes, stdin: bytes | None = None, timeout_s: float = 30.0) -> KcatResult:
    """Run kcat with ``args`` and return its output; raises KcatError on failure."""
    proc = subprocess.run(
        [tools.require_tool(tools.KCAT), *args],
        input=stdin,
        capture_output=True,
        timeout=timeout_s,
        check=False,
    )
    stderr = proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        raise KcatError(f"kcat {' '.join(map(str, args))} exited {proc.returncode}:\n{stderr}")
    return KcatResult(proc.stdout, stderr)


def _header_args(headers: Sequence[tuple[str, bytes | None]]) -> list[bytes]:
    args: list[bytes] = []
    for name, value in headers:
        if "=" in name:
            raise ValueError(f"kcat cannot send a header name containing '=': {name!r}")
        encoded = name.encode() if value is None else name.encode() + b"=" + value
        if b"\x00" in encoded:
            raise ValueError("kcat takes headers from argv, which cannot hold NUL bytes")
        args += [b"-H", encoded]
    return args


def _encode_input(messages: Sequence[Message], null_values: bool) -> bytes:
    out = bytearray()
    for m in messages:
        for blob in (m.key, m.value):
            if blob and (RECORD_DELIMITER in blob or KEY_DELIMITER in blob):
                raise ValueError("message contains a kcat delimiter")
        if null_values and (m.key == b"" or m.value == b""):
            raise ValueError("with -Z kcat turns empty keys and values into NULL")
        if m.key is not None:
            out += m.key + KEY_DELIMITER
        out += m.value or b""
        out += RECORD_DELIMITER
    return bytes(out)


def kcat_produce(
    bootstrap: str,
    topic: str,
    partition: int,
    messages: Sequence[Message],
    *,
    compression: str = "none",
    properties: Sequence[str] = (),
) -> None:
    """Produce ``messages`` in order; every message must leave ``timestamp_ms`` unset."""
    if compression not in _CODECS:
        raise ValueError(f"unknown codec {compression}")
    if any(m.timestamp_ms is not None for m in messages):
        raise ValueError("kcat cannot set record timestamps")
    # One kcat run per run of messages with the same headers and the same need for -Z.
    runs = groupby(messages, key=lambda m: (m.headers, m.value is None))
    with tempfile.TemporaryDirectory(prefix="kcat-") as tmp:
        for i, ((headers, null_values), group) in enumerate(runs):
            path = Path(tmp) / f"input-{i}.bin"
            path.write_bytes(_encode_input(list(group), null_values))
            args: list[str | bytes] = [
                "-P",
                "-b",
                bootstrap,
                "-t",
                topic,
                "-p",
                str(partition),
                "-D",
                RECORD_DELIMITER.decode(),
                "-K",
                KEY_DELIMITER.decode(),
                "-X",
                f"compression.codec={compression}",
                "-X",
                "linger.ms=5",
                *_header_args(headers),
            ]
            for prop in properties:
                args += ["-X", prop]
            if null_values:
                args.append("-Z")
            kcat(*args, "-l", str(path))


def _bytes(value: str | None) -> bytes | None:
    return None if value is None else value.encode("utf-8", "surrogateescape")


def kcat_consume(
    bootstrap: str,
    topic: str,
    partition: int,
    count: int,
    *,
    start_offset: int = 0,
    properties: Sequence[str] = (),
    timeout_s: float = 30.0,
) -> list[Consumed]:
    """Read ``count`` records from ``start_offset`` (kcat exits at the end of the log)."""
    args = ["-C", "-b", bootstrap, "-t", topic, "-p", str(partition)]
    args += ["-o", str(start_offset), "-c", str(count), "-e", "-J", "-q"]
    for prop in properties:
        args += ["-X", prop]
    result = kcat(*args, timeout_s=timeout_s)
    consumed = []
    # Split on b"\n" only: str.splitlines would also break at raw U+2028 or \x85 bytes.
    for line in result.stdout.split(b"\n"):
        if not line:
            continue
        record = json.loads(line.decode("utf-8", "surrogateescape"))
        flat = record.get("headers") or []
        headers = tuple(
            (name.encode("utf-8", "surrogateescape").decode(), _bytes(value))
            for name, value in zip(flat[::2], flat[1::2], strict=True)
        )
        consumed.append(
            Consumed(
                offset=record["offset"],
                key=_bytes(record["key"]),
                value=_bytes(record["payload"]),
                headers=headers,
                timestamp_ms=record["ts"],
            )
        )
    return consumed


def kcat_query_offset(bootstrap: str, topic: str, partition: int, timestamp_ms: int) -> int:
    """``kcat -Q``: the offset of the first record at or after ``timestamp_ms``."""
    result = kcat("-Q", "-b", bootstrap, "-t", f"{topic}:{partition}:{timestamp_ms}")
    # Output: "<topic> [<partition>] offset <n>"
    text = result.stdout.decode().strip()
    return int(text.rsplit(" ", 1)[1])
