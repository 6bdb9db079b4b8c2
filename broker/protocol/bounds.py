"""A structural check of a request body, run before kio decodes it.

Why: kio 0.6.5's native decoder reserves memory for an array from the element count it
reads, before it notices that the buffer is too short. A flexible request whose
compact-array count is a 5-byte varint (up to 2**35) makes it ask for tens or hundreds
of GB, and a failed Rust allocation aborts the whole broker process; no ``except``
can catch it, so one 20-byte request from anyone would stop the broker. kio also
returns None for a null array whose schema is not nullable, which handlers then
iterate and crash on.

What: ``check_request`` walks the body with the schema kio itself is generated from
(its dataclasses' fields and ``kafka_type`` metadata), without building anything, and
raises ``BoundsError`` when

- an array count, string or bytes length runs past the end of the body (an array of
  ``n`` elements needs at least ``n`` bytes, so counts are bounded by the bytes left);
- a length or count is negative other than -1 (or 0 in compact form) for null, or
  null where the schema does not allow it;
- a varint is longer than 5 bytes, or a tagged field's size runs past the body.

Walkers are compiled once per kio class and cached. Known tagged fields are walked
within their declared size. This module is pure: bytes in, an end position or an
error out.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import Field, fields, is_dataclass
from types import EllipsisType, NoneType, UnionType
from typing import Any, Union, get_args, get_origin

__all__ = ["BoundsError", "check_request"]

Buffer = bytes | bytearray
Walker = Callable[[Buffer, int, int], int]

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_FIXED_BYTES = {
    "bool": 1,
    "int8": 1,
    "uint8": 1,
    "int16": 2,
    "uint16": 2,
    "error_code": 2,
    "int32": 4,
    "uint32": 4,
    "timedelta_i32": 4,
    "int64": 8,
    "uint64": 8,
    "float64": 8,
    "timedelta_i64": 8,
    "datetime_i64": 8,
    "uuid": 16,
}


class BoundsError(ValueError):
    """The body cannot be a valid encoding of the request; the message says where."""


def check_request(cls: type[Any], buf: Buffer, offset: int) -> int:
    """Walk the body of request class ``cls`` at ``offset``; returns where it ends."""
    return _entity(cls)(buf, offset, len(buf))


def _uvarint(buf: Buffer, pos: int, end: int) -> tuple[int, int]:
    result = 0
    for shift in range(0, 35, 7):
        if pos >= end:
            raise BoundsError("a varint runs past the end of the request")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
    raise BoundsError("a varint is longer than 5 bytes")


def _need(pos: int, size: int, end: int, what: str) -> None:
    if size > end - pos:
        raise BoundsError(f"{what} of {size} bytes runs past the end of the request")


def _length(buf: Buffer, pos: int, end: int, flexible: bool, wide: bool) -> tuple[int, int]:
    """A length or count: -1 is null; anything else below 0 is an error."""
    if flexible:
        raw, pos = _uvarint(buf, pos, end)
        return raw - 1, pos
    fmt = _I32 if wide else _I16
    _need(pos, fmt.size, end, "a length field")
    return int(fmt.unpack_from(buf, pos)[0]), pos + fmt.size


def _fixed(size: int) -> Walker:
    def walk(buf: Buffer, pos: int, end: int) -> int:
        _need(pos, size, end, "a field")
        return pos + size

    return walk


def _sized(kafka_type: str, flexible: bool, nullable: bool) -> Walker:
    wide = kafka_type != "string"  # bytes and records have int32 lengths

    def walk(buf: Buffer, pos: int, end: int) -> int:
        size, pos = _length(buf, pos, end, flexible, wide)
        if size < 0:
            if size == -1 and nullable:
                return pos
            raise BoundsError(f"{kafka_type} length {size} is not allowed here")
        _need(pos, size, end, kafka_type)
        return pos + size

    return walk


def _primitive(kafka_type: str, flexible: bool, nullable: bool) -> Walker:
    size = _FIXED_BYTES.get(kafka_type)
    if size is not None:
        return _fixed(size)
    if kafka_type in ("string", "bytes", "records"):
        return _sized(kafka_type, flexible, nullable)
    raise TypeError(f"no bounds walker for kafka_type {kafka_type!r}")


def _array(element: Walker, flexible: bool, nullable: bool) -> Walker:
    def walk(buf: Buffer, pos: int, end: int) -> int:
        count, pos = _length(buf, pos, end, flexible, True)
        if count < 0:
            if count == -1 and nullable:
                return pos
            raise BoundsError(f"array count {count} is not allowed here")
        if count > end - pos:
            raise BoundsError(f"an array of {count} elements cannot fit in {end - pos} bytes")
        for _ in range(count):
            pos = element(buf, pos, end)
        return pos

    return walk


def _nullable_entity(inner: Walker) -> Walker:
    """KIP-893 nullable structs: an int8 marker, -1 for null, then the struct."""

    def walk(buf: Buffer, pos: int, end: int) -> int:
        _need(pos, 1, end, "a struct marker")
        if buf[pos] == 0xFF:
            return pos + 1
        return inner(buf, pos + 1, end)

    return walk


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(inner type, nullable) of ``X | None``."""
    if get_origin(annotation) in (UnionType, Union):
        args = [a for a in get_args(annotation) if a is not NoneType]
        return args[0], len(args) < len(get_args(annotation))
    return annotation, False


def _field(field: Field[Any], flexible: bool) -> Walker:
    annotation, nullable = _unwrap(field.type)
    kafka_type = field.metadata.get("kafka_type", "")
    if get_origin(annotation) is tuple:
        element_type, ellipsis = get_args(annotation)
        assert isinstance(ellipsis, EllipsisType)
        element_type, _ = _unwrap(element_type)
        if is_dataclass(element_type):
            element = _entity(element_type)  # type: ignore[arg-type]
        else:
            element = _primitive(kafka_type, flexible, False)
        return _array(element, flexible, nullable)
    if is_dataclass(annotation):
        inner = _entity(annotation)  # type: ignore[arg-type]
        return _nullable_entity(inner) if nullable else inner
    return _primitive(kafka_type, flexible, nullable)


_WALKERS: dict[type[Any], Walker] = {}


def _entity(cls: type[Any]) -> Walker:
    walker = _WALKERS.get(cls)
    if walker is None:
        walker = _WALKERS[cls] = _compile_entity(cls)
    return walker


def _compile_entity(cls: type[Any]) -> Walker:
    flexible = bool(getattr(cls, "__flexible__", False))
    positional: list[Walker] = []
    tagged: dict[int, Walker] = {}
    for field in fields(cls):
        tag = field.metadata.get("tag")
        if tag is None:
            positional.append(_field(field, flexible))
        else:
            tagged[int(tag)] = _field(field, flexible)

    def walk(buf: Buffer, pos: int, end: int) -> int:
        for walk_field in positional:
            pos = walk_field(buf, pos, end)
        if not flexible:
            return pos
        count, pos = _uvarint(buf, pos, end)
        if count > end - pos:
            raise BoundsError(f"{count} tagged fields cannot fit in {end - pos} bytes")
        for _ in range(count):
            tag, pos = _uvarint(buf, pos, end)
            size, pos = _uvarint(buf, pos, end)
            _need(pos, size, end, "a tagged field")
            known = tagged.get(tag)
            if known is not None:
                known(buf, pos, pos + size)
            pos += size
        return pos

    return walk
