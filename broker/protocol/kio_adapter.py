"""The one place that talks to kio: decoding request bodies and encoding responses.

Handlers work with kio's frozen dataclasses; this adapter caches kio's readers and
writers per class, frames responses with the right header version, and turns any
decoding failure into ``DecodeError`` (kio raises ordinary exceptions on bad input).
Every body is walked by ``bounds.check_request`` before kio sees it: kio's native
decoder would otherwise trust array counts and abort the process on a huge one.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from dataclasses import fields
from functools import cache
from typing import Any

from kio.serial import entity_reader, entity_writer
from kio.static.protocol import Entity, RequestPayload

from broker.protocol.apis import request_class, response_class, response_header_flexible
from broker.protocol.bounds import check_request
from broker.protocol.header import skip_tagged_fields

__all__ = [
    "DecodeError",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
    "response_header",
]

_CORRELATION = struct.Struct(">i")
_CORRELATION_TAGS = struct.Struct(">iB")


class DecodeError(ValueError):
    """A request body could not be decoded; the message names the API and version."""


@cache
def _reader(cls: type[Entity]) -> Callable[[bytes | bytearray, int], tuple[Any, int]]:
    return entity_reader(cls)


@cache
def _writer(cls: type[Entity]) -> Callable[[io.BytesIO, Any], None]:
    return entity_writer(cls)


def decode_request(
    api_key: int, version: int, frame: bytes | bytearray, offset: int
) -> tuple[Any, int]:
    """Decode the body at ``offset``; returns (request, trailing byte count)."""
    cls = request_class(api_key, version)
    try:
        check_request(cls, frame, offset)
        request, size = _reader(cls)(frame, offset)
    except Exception as exc:
        raise DecodeError(f"cannot decode {cls.__name__} v{version}: {exc}") from exc
    trailing = len(frame) - offset - size
    if trailing < 0:
        raise DecodeError(f"{cls.__name__} v{version} runs past the end of the frame")
    return request, trailing


def response_header(api_key: int, version: int, correlation_id: int) -> bytes:
    if response_header_flexible(api_key, version):
        return _CORRELATION_TAGS.pack(correlation_id, 0)
    return _CORRELATION.pack(correlation_id)


def encode_response(api_key: int, version: int, correlation_id: int, response: Entity) -> bytes:
    """Header and body of a response (without the size prefix)."""
    buf = io.BytesIO()
    buf.write(response_header(api_key, version, correlation_id))
    _writer(type(response))(buf, response)
    return buf.getvalue()


def encode_request(request: RequestPayload, correlation_id: int, client_id: str) -> bytes:
    """Header and body of a request this broker sends to another (without the size
    prefix); the header version is the one kio's schema names for the request."""
    header_cls: type[Entity] = request.__header_schema__
    names = {f.name for f in fields(header_cls)}
    values = {
        "request_api_key": request.__api_key__,
        "request_api_version": request.__version__,
        "correlation_id": correlation_id,
        "client_id": client_id,
    }
    header = header_cls(**{k: v for k, v in values.items() if k in names})
    buf = io.BytesIO()
    _writer(header_cls)(buf, header)
    _writer(type(request))(buf, request)
    return buf.getvalue()


def decode_response(api_key: int, version: int, frame: bytes | bytearray) -> tuple[int, Any]:
    """(correlation id, response) from a response frame (without its size prefix). The
    body is walked by ``check_request`` first, as for requests: a peer's bytes are not
    trusted to be sane. Raises DecodeError."""
    cls = response_class(api_key, version)
    if len(frame) < _CORRELATION.size:
        raise DecodeError(f"a {cls.__name__} frame of {len(frame)} bytes has no header")
    (correlation_id,) = _CORRELATION.unpack_from(frame, 0)
    offset = _CORRELATION.size
    try:
        if response_header_flexible(api_key, version):
            offset = skip_tagged_fields(frame, offset)
        check_request(cls, frame, offset)
        response, size = _reader(cls)(frame, offset)
    except Exception as exc:  # HeaderError, BoundsError, kio's own
        raise DecodeError(f"cannot decode {cls.__name__} v{version}: {exc}") from exc
    if offset + size != len(frame):
        raise DecodeError(f"{cls.__name__} v{version} does not fill its frame")
    return correlation_id, response


def encode_entity(entity: Entity) -> bytes:
    """Body bytes of any kio entity (used by tests comparing hand-written codecs)."""
    buf = io.BytesIO()
    _writer(type(entity))(buf, entity)
    return buf.getvalue()
