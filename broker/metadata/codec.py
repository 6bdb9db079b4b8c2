"""Strict, canonical JSON for the frozen dataclasses of the metadata layer.

Why JSON and not a binary layout: the metadata log is small (a record per broker,
topic, partition or leadership change, not per message), so size and speed do not
matter, while being able to read a record or a snapshot with any tool during an incident
does. Strictness does not come from the format but from the schema: every field's type
is declared once, in the dataclass annotations, and both directions are driven by it.

Encoding (``dumps``): keys sorted, no whitespace, ASCII only (anything else escaped), so
one value has exactly one encoding and equal images give equal bytes on every node.

Decoding (``loads`` then ``from_plain``) refuses, with a one-line ``MetadataRecordError``:
bytes that are not UTF-8 JSON, duplicate keys, floats, NaN or infinities, an object with a
missing or unexpected field, a value of the wrong JSON type (``true`` is not an integer),
and any input that is not byte-for-byte the canonical encoding of what it decodes to.

Field types understood (``typing.get_type_hints(..., include_extras=True)``):
``Annotated[int, IntRange]``, ``bool``, ``Annotated[str, Text]``, ``uuid.UUID``
(canonical lowercase hyphenated text), ``enum.IntEnum`` subclasses (their integer value;
only declared members decode), ``X | None`` (``null``), ``tuple[X, ...]`` (array),
``Mapping[K, X]`` with string or integer keys (object; an integer key is written as its
canonical decimal text, so ``"07"`` or ``"+7"`` is refused) and nested dataclasses
(object). Bounds and text rules, map keys included, are checked by
``StrictData.__post_init__`` whether a value was decoded or built in code, so no invalid
value exists in memory either.

Nested dataclasses need not derive from ``StrictData``: plain frozen dataclasses (the
controller's request and reply values) are encoded the same way, and their fields,
``Annotated`` bounds included, are checked by the ``StrictData`` value that contains
them, when it is built. A plain dataclass is never checked on its own: only encode it
inside a ``StrictData`` envelope.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from broker.metadata.errors import MetadataRecordError

__all__ = [
    "INT32_MAX",
    "INT64_MAX",
    "IntRange",
    "OneOf",
    "StrictData",
    "Text",
    "dumps",
    "from_plain",
    "loads",
    "to_plain",
]

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

T = TypeVar("T", bound="StrictData")


@dataclass(frozen=True, slots=True)
class IntRange:
    """Inclusive bounds of an ``Annotated[int, ...]`` field."""

    minimum: int
    maximum: int


@dataclass(frozen=True, slots=True)
class Text:
    """Length bounds (in characters) of an ``Annotated[str, ...]`` field."""

    min_chars: int
    max_chars: int


@dataclass(frozen=True, slots=True)
class OneOf:
    """The allowed values of an ``Annotated[str, ...]`` field."""

    values: tuple[str, ...]

    def __init__(self, *values: str) -> None:
        object.__setattr__(self, "values", values)


class StrictData:
    """Base of every encodable dataclass: checks each field against its annotation on
    construction, then runs ``check`` (the class's own rules). Mappings are frozen into
    read-only, key-sorted views. Raises ``MetadataRecordError``."""

    __slots__ = ()

    def __post_init__(self) -> None:
        for name, shape in field_shapes(type(self)):
            value = getattr(self, name)
            shape.check(value, name)
            if shape.kind == "mapping" and not isinstance(value, types.MappingProxyType):
                object.__setattr__(self, name, types.MappingProxyType(dict(sorted(value.items()))))
        self.check()

    def check(self) -> None:
        """Rules across fields; subclasses override and raise MetadataRecordError."""


@dataclass(frozen=True, slots=True)
class _Shape:
    """A field type taken apart once (typing introspection is slow; records are many)."""

    kind: str  # optional, tuple, mapping, int, str, exact, enum, record
    base: Any
    extras: tuple[Any, ...] = ()
    inner: _Shape | None = None
    key: _Shape | None = None  # of a mapping

    def check(self, value: Any, path: str) -> None:
        """Raise MetadataRecordError unless ``value`` is exactly of this type."""
        kind = self.kind
        if kind == "int":
            _check_int(value, self.extras, path)
        elif kind == "str":
            _check_str(value, self.extras, path)
        elif kind in ("exact", "enum"):
            if type(value) is not self.base:
                raise MetadataRecordError(f"{path}: expected {self.base.__name__}, got {value!r}")
        elif kind == "record":
            if type(value) is not self.base:
                raise MetadataRecordError(f"{path}: expected {self.base.__name__}, got {value!r}")
            for name, shape in field_shapes(self.base):
                shape.check(getattr(value, name), f"{path}.{name}")
        elif kind == "optional":
            if value is not None:
                self._inner.check(value, path)
        elif kind == "tuple":
            if not isinstance(value, tuple):
                raise MetadataRecordError(f"{path}: expected a tuple, got {type(value).__name__}")
            for index, item in enumerate(value):
                self._inner.check(item, f"{path}[{index}]")
        else:
            if not isinstance(value, Mapping):
                raise MetadataRecordError(f"{path}: expected a mapping, got {type(value).__name__}")
            assert self.key is not None
            for key, item in value.items():
                self.key.check(key, f"{path} key")
                self._inner.check(item, f"{path}[{key!r}]")

    @property
    def _inner(self) -> _Shape:
        assert self.inner is not None
        return self.inner


_SHAPES: dict[Any, _Shape] = {}
_FIELDS: dict[type, tuple[tuple[str, _Shape], ...]] = {}


def field_shapes(cls: type) -> tuple[tuple[str, _Shape], ...]:
    """The (name, shape) of each dataclass field of ``cls``, in order."""
    shapes = _FIELDS.get(cls)
    if shapes is None:
        resolved = typing.get_type_hints(cls, include_extras=True)
        shapes = tuple((f.name, _shape(resolved[f.name])) for f in dataclasses.fields(cls))
        _FIELDS[cls] = shapes
    return shapes


def _shape(hint: Any) -> _Shape:
    shape = _SHAPES.get(hint)
    if shape is None:
        shape = _SHAPES[hint] = _take_apart(hint)
    return shape


def _take_apart(hint: Any) -> _Shape:
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        args = typing.get_args(hint)
        inner = [a for a in args if a is not type(None)]
        if len(args) != 2 or len(inner) != 1:  # pragma: no cover - a schema error
            raise TypeError(f"unsupported union {hint!r}")
        return _Shape("optional", hint, inner=_shape(inner[0]))
    extras: tuple[Any, ...] = ()
    if origin is typing.Annotated:
        hint, *rest = typing.get_args(hint)
        extras, origin = tuple(rest), typing.get_origin(hint)
    if origin is tuple:
        return _Shape("tuple", hint, inner=_shape(typing.get_args(hint)[0]))
    if origin is Mapping:
        key, value = (_shape(arg) for arg in typing.get_args(hint))
        if key.kind not in ("int", "str"):  # pragma: no cover - a schema error
            raise TypeError(f"unsupported mapping key in {hint!r}")
        return _Shape("mapping", hint, inner=value, key=key)
    if hint is int:
        return _Shape("int", hint, extras)
    if hint is str:
        return _Shape("str", hint, extras)
    if hint in (bool, uuid.UUID) or (isinstance(hint, type) and issubclass(hint, StrictData)):
        return _Shape("exact", hint)
    if isinstance(hint, type) and issubclass(hint, enum.IntEnum):
        return _Shape("enum", hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _Shape("record", hint)
    raise TypeError(f"unsupported field type {hint!r}")  # pragma: no cover - a schema error


def _check_int(value: Any, extras: tuple[Any, ...], path: str) -> None:
    if type(value) is not int:
        raise MetadataRecordError(f"{path}: expected an integer, got {value!r}")
    for rule in extras:
        if isinstance(rule, IntRange) and not rule.minimum <= value <= rule.maximum:
            raise MetadataRecordError(f"{path}: {value} is outside {rule.minimum}..{rule.maximum}")


def _check_str(value: Any, extras: tuple[Any, ...], path: str) -> None:
    if type(value) is not str:
        raise MetadataRecordError(f"{path}: expected a string, got {value!r}")
    for rule in extras:
        if isinstance(rule, Text) and not rule.min_chars <= len(value) <= rule.max_chars:
            raise MetadataRecordError(
                f"{path}: length {len(value)} is outside {rule.min_chars}..{rule.max_chars}"
            )
        if isinstance(rule, OneOf) and value not in rule.values:
            raise MetadataRecordError(f"{path}: {value!r} is not one of {', '.join(rule.values)}")


def to_plain(value: Any) -> Any:
    """The JSON-ready form of a checked value (dataclasses become sorted objects)."""
    if isinstance(value, StrictData) or (
        dataclasses.is_dataclass(value) and not isinstance(value, type)
    ):
        return {name: to_plain(getattr(value, name)) for name, _ in field_shapes(type(value))}
    if isinstance(value, tuple):
        return [to_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.IntEnum):
        return int(value)
    return value


def from_plain(raw: Any, cls: type[T], path: str = "") -> T:
    """Build ``cls`` from a decoded JSON object; raises MetadataRecordError."""
    return typing.cast(T, _dataclass(raw, cls, path or cls.__name__))


def _from_plain(raw: Any, shape: _Shape, path: str) -> Any:
    kind = shape.kind
    if kind == "optional":
        return None if raw is None else _from_plain(raw, shape._inner, path)
    if kind == "tuple":
        if not isinstance(raw, list):
            raise MetadataRecordError(f"{path}: expected an array, got {_kind(raw)}")
        return tuple(_from_plain(item, shape._inner, f"{path}[{i}]") for i, item in enumerate(raw))
    if kind == "mapping":
        if not isinstance(raw, dict):
            raise MetadataRecordError(f"{path}: expected an object, got {_kind(raw)}")
        as_int = shape.key is not None and shape.key.kind == "int"
        return {
            (_int_key(k, path) if as_int else k): _from_plain(v, shape._inner, f"{path}[{k!r}]")
            for k, v in raw.items()
        }
    if shape.base is uuid.UUID:
        return _uuid(raw, path)
    if kind == "enum":
        return _enum(raw, shape.base, path)
    if kind == "record" or (kind == "exact" and issubclass(shape.base, StrictData)):
        return _dataclass(raw, shape.base, path)
    return raw  # int, str, bool: exact types are checked by the constructor


def _int_key(raw: str, path: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or str(value) != raw:
        raise MetadataRecordError(f"{path}: key {raw!r} is not a canonical decimal integer")
    return value


def _enum(raw: Any, cls: type[enum.IntEnum], path: str) -> enum.IntEnum:
    if type(raw) is not int:
        raise MetadataRecordError(f"{path}: expected an integer, got {_kind(raw)}")
    try:
        return cls(raw)
    except ValueError:
        raise MetadataRecordError(f"{path}: {raw} is not a known {cls.__name__}") from None


def _uuid(raw: Any, path: str) -> uuid.UUID:
    if not isinstance(raw, str):
        raise MetadataRecordError(f"{path}: expected a UUID string, got {_kind(raw)}")
    try:
        value = uuid.UUID(raw)
    except ValueError:
        raise MetadataRecordError(f"{path}: {raw!r} is not a UUID") from None
    if str(value) != raw:
        raise MetadataRecordError(f"{path}: UUID {raw!r} is not in canonical form")
    return value


def _dataclass(raw: Any, cls: type[Any], path: str) -> Any:
    if not isinstance(raw, dict):
        raise MetadataRecordError(f"{path}: expected an object, got {_kind(raw)}")
    shapes = field_shapes(cls)
    names = {name for name, _ in shapes}
    missing = sorted(names - raw.keys())
    if missing:
        raise MetadataRecordError(f"{path}: missing field {missing[0]!r}")
    extra = sorted(raw.keys() - names)
    if extra:
        raise MetadataRecordError(f"{path}: unexpected field {extra[0]!r}")
    kwargs = {name: _from_plain(raw[name], shape, f"{path}.{name}") for name, shape in shapes}
    try:
        return cls(**kwargs)
    except MetadataRecordError as exc:
        raise MetadataRecordError(f"{path}: {exc}") from None


def _kind(raw: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(raw), "null" if raw is None else type(raw).__name__
    )


def dumps(plain: Any) -> bytes:
    """The canonical encoding of a JSON-ready value."""
    return json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def loads(data: bytes, what: str) -> Any:
    """Parse canonical JSON bytes; raises MetadataRecordError naming ``what``."""
    try:
        text = data.decode("utf-8")
        plain = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_float=_refuse_float,
            parse_constant=_refuse_float,
        )
    except UnicodeDecodeError:
        raise MetadataRecordError(f"{what}: not UTF-8") from None
    except MetadataRecordError as exc:
        raise MetadataRecordError(f"{what}: {exc}") from None
    except (ValueError, RecursionError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MetadataRecordError(f"{what}: not JSON ({reason})") from None
    if dumps(plain) != data:
        raise MetadataRecordError(f"{what}: not in canonical form (sorted keys, no spaces)")
    return plain


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise MetadataRecordError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _refuse_float(text: str) -> Any:
    raise MetadataRecordError(f"number {text} is not an integer")
