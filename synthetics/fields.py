"""A strict reader over parsed YAML for the probe and lag-monitor configs.

Every value is read through :class:`Fields`, so every error names the file, the field
(``targets[0].sla.end_to_end``) and what is allowed, and unknown keys are rejected with
a suggestion when they are close to a known one. Durations are written as ``250ms``,
``1s``, ``1m30s``, ``2h`` or as a number of seconds.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

__all__ = ["ConfigError", "Fields", "parse_duration_seconds", "parse_host_port"]

_DURATION: Final = re.compile(
    r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m(?!s))?(?:(?P<s>\d+(?:\.\d+)?)s)?(?:(?P<ms>\d+)ms)?$"
)
_DURATION_HINT: Final = "a duration like 250ms, 1s, 1m30s or 2h, or a number of seconds"


class ConfigError(ValueError):
    """Invalid configuration. ``str()`` is one line: ``FILE: FIELD: REASON``."""

    def __init__(self, file: str, field: str, reason: str) -> None:
        self.file = file
        self.field = field
        self.reason = reason
        super().__init__(f"{file}: {field or '<document>'}: {reason}")


def parse_duration_seconds(value: object) -> float:
    """``"250ms"`` -> 0.25, ``"1m30s"`` -> 90.0, ``2`` -> 2.0. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not {_DURATION_HINT}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value).strip()) if isinstance(value, str) else None
        if match is None or not any(match.groups()):
            raise ValueError(f"{value!r} is not {_DURATION_HINT}")
        parts = match.groupdict()
        seconds = (
            int(parts["h"] or 0) * 3600
            + int(parts["m"] or 0) * 60
            + float(parts["s"] or 0)
            + int(parts["ms"] or 0) / 1000
        )
    if not seconds > 0:
        raise ValueError(f"{value!r} must be longer than zero")
    return seconds


def parse_host_port(value: str) -> tuple[str, int]:
    """``"host:port"`` (IPv6 in brackets) -> (host, port). Raises ValueError."""
    host, sep, port = value.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{value!r} is not HOST:PORT (for example 127.0.0.1:9092)")
    return host.strip("[]"), int(port)


def suggest(word: str, known: frozenset[str]) -> str:
    close = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def kind(value: object) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


class Fields:
    """The keys of one YAML mapping found at ``path`` in ``file``."""

    def __init__(
        self, file: str, path: str, data: object, known: frozenset[str] | None = None
    ) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(file, path, f"must be a mapping, not {kind(data)}")
        self.file = file
        self.path = path
        self.data: Mapping[Any, Any] = data
        if known is not None:
            for key in data:
                if key not in known:
                    allowed = ", ".join(sorted(known))
                    raise ConfigError(
                        file,
                        self.at(str(key)),
                        f'unknown field "{key}"{suggest(str(key), known)}; allowed: {allowed}',
                    )

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, reason: str) -> ConfigError:
        return ConfigError(self.file, self.at(key), reason)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def raw(self, key: str) -> Any:
        return self.data.get(key)

    def text(self, key: str, default: str | None = None, pattern: str | None = None) -> str:
        value = self.data.get(key)
        if value is None:
            if default is None:
                raise self.error(key, "is required")
            return default
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"must be a non-empty string, not {kind(value)}")
        if pattern is not None and not re.fullmatch(pattern, value):
            raise self.error(key, f"{value!r} must match {pattern}")
        return value

    def optional_text(self, key: str) -> str | None:
        return self.text(key) if self.has(key) else None

    def choice(self, key: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.text(key, default)
        if value not in allowed:
            raise self.error(key, f"{value!r} is not one of {', '.join(allowed)}")
        return value

    def integer(
        self, key: str, default: int, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be a whole number, not {kind(value)}")
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            low = "" if minimum is None else f" >= {minimum}"
            high = "" if maximum is None else f" <= {maximum}"
            joiner = " and" if low and high else ""
            raise self.error(key, f"must be{low}{joiner}{high} (got {value})")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, not {kind(value)}")
        return value

    def duration(self, key: str, default: float) -> float:
        """Seconds; see the module docstring for the accepted spellings."""
        value = self.data.get(key)
        if value is None:
            return default
        try:
            return parse_duration_seconds(value)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None

    def mapping(self, key: str, known: frozenset[str] | None = None) -> Fields:
        """The nested mapping at ``key`` (an empty one when absent)."""
        value = self.data.get(key)
        return Fields(self.file, self.at(key), {} if value is None else value, known)

    def string_map(self, key: str) -> dict[str, str]:
        """A mapping of strings to scalars, values turned into strings (topic configs)."""
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.error(key, f"must be a mapping, not {kind(value)}")
        out = {}
        for name, item in value.items():
            if not isinstance(name, str) or item is None or isinstance(item, Mapping | list):
                raise ConfigError(self.file, f"{self.at(key)}.{name}", "must be a scalar value")
            out[name] = str(item).lower() if isinstance(item, bool) else str(item)
        return out

    def strings(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        """A list of strings, or one string of comma-separated items."""
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, str):
            items = [v.strip() for v in value.split(",") if v.strip()]
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            items = [v.strip() for v in value]
        else:
            raise self.error(key, f"must be a list of strings, not {kind(value)}")
        return tuple(items)

    def items(self, key: str) -> Iterator[tuple[str, Any]]:
        """(path, element) for each element of a required, non-empty list."""
        value = self.data.get(key)
        if not isinstance(value, list) or not value:
            raise self.error(key, "is required and must be a non-empty list")
        for index, item in enumerate(value):
            yield f"{self.at(key)}[{index}]", item

    def host_port(self, key: str, default: str | None) -> tuple[str, int] | None:
        """``HOST:PORT``, or None when the value is ``off``/false (or absent without default)."""
        value = self.data.get(key, default)
        if value is None or value is False or value == "off":
            return None
        if not isinstance(value, str):
            raise self.error(key, f"must be HOST:PORT or off, not {kind(value)}")
        try:
            return parse_host_port(value)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None
