"""A strict reader over parsed YAML that keeps the field path for error messages.

Every loader reads through :class:`Fields`, so every error says which file, which field
(``slos[0].sli.events.total``) and why, and unknown fields are rejected with a
suggestion when they are close to a known one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from slo.errors import SpecError, suggest

__all__ = ["Fields"]

T = TypeVar("T")


class Fields:
    """The fields of one YAML mapping at ``path`` in ``file``."""

    def __init__(self, file: str, path: str, data: object, known: frozenset[str] | None = None):
        if not isinstance(data, Mapping):
            raise SpecError(file, path, f"must be a mapping, not {_kind(data)}")
        self.file = file
        self.path = path
        self.data: Mapping[Any, Any] = data
        if known is not None:
            self.reject_unknown(known)

    def reject_unknown(self, known: frozenset[str]) -> None:
        for key in self.data:
            if key not in known:
                allowed = ", ".join(sorted(known))
                raise SpecError(
                    self.file,
                    self.at(str(key)),
                    f'unknown field "{key}"{suggest(str(key), known)}; allowed: {allowed}',
                )

    def at(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, reason: str) -> SpecError:
        return SpecError(self.file, self.at(key), reason)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def raw(self, key: str) -> Any:
        return self.data.get(key)

    def text(self, key: str, default: str | None = None) -> str:
        value = self.data.get(key)
        if value is None:
            if default is None:
                raise self.error(key, "is required")
            return default
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"must be a non-empty string, not {_kind(value)}")
        return value

    def number(self, key: str, default: float | None = None) -> float:
        value = self.data.get(key)
        if value is None:
            if default is None:
                raise self.error(key, "is required")
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"must be a number, not {_kind(value)}")
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, not {_kind(value)}")
        return value

    def labels(self, key: str) -> tuple[tuple[str, str], ...]:
        """A string-to-string mapping, sorted so that output is deterministic."""
        value = self.data.get(key)
        if value is None:
            return ()
        if not isinstance(value, Mapping):
            raise self.error(key, f"must be a mapping of strings, not {_kind(value)}")
        out = []
        for name, item in value.items():
            if not isinstance(name, str) or isinstance(item, bool | dict | list) or item is None:
                raise SpecError(self.file, f"{self.at(key)}.{name}", "must be a string")
            out.append((name, str(item)))
        return tuple(sorted(out))

    def mapping(self, key: str, known: frozenset[str] | None = None) -> Fields:
        if key not in self.data or self.data[key] is None:
            raise self.error(key, "is required")
        return Fields(self.file, self.at(key), self.data[key], known)

    def items(self, key: str, required: bool = True) -> Iterator[tuple[str, Any]]:
        """(path, value) for each element of a list field."""
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.error(key, "is required")
            return
        if not isinstance(value, list) or (required and not value):
            raise self.error(key, "must be a non-empty list")
        for index, item in enumerate(value):
            yield f"{self.at(key)}[{index}]", item

    def parse(self, key: str, parser: Callable[[str], T], what: str) -> T:
        """Parse a string field with ``parser``; its ValueError becomes a SpecError."""
        text = self.text(key)
        try:
            return parser(text)
        except ValueError as exc:
            raise self.error(key, f"{exc} (expected {what})") from exc

    def one_of(self, keys: frozenset[str]) -> str:
        """The single key of ``keys`` that is present (a tagged union)."""
        present = sorted(k for k in keys if k in self.data)
        if len(present) != 1:
            choices = ", ".join(sorted(keys))
            found = ", ".join(present) or "none"
            raise SpecError(self.file, self.path, f"needs exactly one of {choices} (found {found})")
        return present[0]


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )
