"""The one strict reader of YAML configuration: broker config, probe and lag-monitor
configs, SLO specs, workloads and game-day scenarios all read through :class:`Fields`.

Contract for every reader built on it:

- every error is a :class:`ConfigError` whose ``str()`` is one line,
  ``FILE: FIELD: REASON``, where FIELD is the path from the document's root
  (``targets[0].sla.end_to_end``, ``slos[0].sli.events.total``) and REASON says what is
  allowed;
- an unknown key is refused, with a suggestion when it is close to a known one
  (``unknown field "intervall" (did you mean "interval"?); allowed: ...``);
- durations follow the one grammar of :mod:`contracts.durations`; addresses are
  ``HOST:PORT`` (:func:`parse_host_port`, IPv6 hosts in brackets).

Pure except :func:`read_text` and :func:`read_yaml`, which read a file.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import yaml

from contracts.durations import parse_duration_seconds, parse_whole_seconds

__all__ = [
    "ConfigError",
    "Fields",
    "HostPort",
    "parse_flag",
    "parse_host_port",
    "parse_yaml",
    "parse_yaml_documents",
    "read_text",
    "read_yaml",
    "suggest",
]

T = TypeVar("T")


class ConfigError(ValueError):
    """Invalid configuration. ``str()`` is one line: ``FILE: FIELD: REASON``.

    ``field`` is empty for the document as a whole (shown as ``<document>``); ``file`` is
    empty for a command-line flag, whose name is then the field (``--listen: ...``).
    """

    def __init__(self, file: str, field: str, reason: str) -> None:
        self.file = file
        self.field = field
        self.reason = reason
        where = f"{field or '<document>'}: {reason}"
        super().__init__(f"{file}: {where}" if file else where)


def suggest(word: str, known: Iterable[str]) -> str:
    """``' (did you mean "x"?)'`` when a known word is close to ``word``, else ``''``."""
    close = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


class HostPort(NamedTuple):
    """A listener or server address. ``str()`` gives ``HOST:PORT`` (IPv6 hosts in
    brackets), which :func:`parse_host_port` reads back to an equal value."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_host_port(text: str) -> HostPort:
    """``"host:port"`` (an IPv6 host in brackets) -> HostPort. Raises ValueError."""
    host, sep, port = str(text).strip().rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not HOST:PORT (for example 127.0.0.1:9092)")
    return HostPort(host, int(port))


def parse_flag(flag: str, text: str, parser: Callable[[str], T]) -> T:
    """A command-line value read with ``parser``; its ValueError becomes a ConfigError
    naming the flag (``--listen: 'x' is not HOST:PORT ...``)."""
    try:
        return parser(text)
    except ValueError as exc:
        raise ConfigError("", flag, str(exc)) from None


def read_text(path: Path) -> str:
    """The file's text; an unreadable file is a ConfigError naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot read: {exc.strerror or exc}") from None


def read_yaml(path: Path) -> object:
    """The one YAML document of a file (None for an empty file)."""
    return parse_yaml(read_text(path), str(path))


def parse_yaml(text: str, file: str) -> object:
    """The one YAML document in ``text``; a syntax error names the file and line."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _yaml_error(file, exc) from None


def parse_yaml_documents(text: str, file: str) -> list[object]:
    """Every non-empty YAML document in ``text``, in order."""
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise _yaml_error(file, exc) from None


def _yaml_error(file: str, exc: yaml.YAMLError) -> ConfigError:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return ConfigError(file, where, f"not valid YAML: {problem}")


def _kind(value: object) -> str:
    """How a value is named in errors: ``'two'``, ``5``, ``false``, ``a list``, ``nothing``."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return repr(value)


def _address(value: object, allowed: str = "HOST:PORT") -> HostPort:
    if not isinstance(value, str):
        raise ValueError(f"must be {allowed}, not {_kind(value)}")
    return parse_host_port(value)


class Fields:
    """The keys of one YAML mapping found at ``path`` in ``file``.

    Every reader method takes a key and returns its value checked and converted, or
    raises :class:`ConfigError` for ``FILE: PATH.KEY``. A ``default`` of None means the
    key is required; otherwise an absent key (or a null value) gives the default.
    """

    def __init__(
        self, file: str, path: str, data: object, known: frozenset[str] | None = None
    ) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(file, path, f"must be a mapping, not {_kind(data)}")
        self.file = file
        self.path = path
        self.data: Mapping[Any, Any] = data
        if known is not None:
            self.reject_unknown(known)

    # -- paths and errors ---------------------------------------------------------------
    def reject_unknown(self, known: frozenset[str]) -> None:
        for key in self.data:
            if key not in known:
                raise self.error(
                    str(key),
                    f'unknown field "{key}"{suggest(str(key), known)}; '
                    f"allowed: {', '.join(sorted(known))}",
                )

    def at(self, key: str | int) -> str:
        """The path of ``key`` (or of list element ``key``) below this mapping."""
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, reason: str) -> ConfigError:
        return ConfigError(self.file, self.at(key), reason)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def raw(self, key: str) -> Any:
        return self.data.get(key)

    def _default(self, key: str, default: T | None) -> T:
        """What an absent key reads as: ``default``, or an error when there is none."""
        if default is None:
            raise self.error(key, "is required")
        return default

    # -- scalars ------------------------------------------------------------------------
    def text(self, key: str, default: str | None = None, pattern: str | None = None) -> str:
        value = self.data.get(key)
        if value is None:
            return self._default(key, default)
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"must be a non-empty string, not {_kind(value)}")
        if pattern is not None and not re.fullmatch(pattern, value):
            raise self.error(key, f"{value!r} must match {pattern}")
        return value

    def optional_text(self, key: str) -> str | None:
        return self.text(key) if self.has(key) else None

    def choice(self, key: str, allowed: tuple[str, ...], default: str | None = None) -> str:
        """One of ``allowed``. A YAML number counts as its spelling (``acks: 1``)."""
        value = self.data.get(key)
        if value is None:
            return self._default(key, default)
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise self.error(key, f"must be one of {', '.join(allowed)}, not {_kind(value)}")
        if value not in allowed:
            raise self.error(
                key,
                f'"{value}" is not allowed{suggest(value, allowed)}; allowed: {", ".join(allowed)}',
            )
        return value

    def choices(
        self, key: str, allowed: tuple[str, ...], default: str | None = None
    ) -> tuple[str, ...]:
        """One of ``allowed``, or a non-empty list of distinct ones (``acks: [all, 1]``),
        in the order given; an element's error names its index."""
        value = self.data.get(key)
        if not isinstance(value, list):
            return (self.choice(key, allowed, default),)
        if not value:
            raise self.error(key, f"must not be an empty list; allowed: {', '.join(allowed)}")
        out: list[str] = []
        for index, item in enumerate(value):
            path = f"{self.at(key)}[{index}]"
            if isinstance(item, int | float) and not isinstance(item, bool):
                item = str(item)
            if not isinstance(item, str) or item not in allowed:
                shown = f'"{item}"' if isinstance(item, str) else _kind(item)
                reason = f"{shown} is not allowed; allowed: {', '.join(allowed)}"
                raise ConfigError(self.file, path, reason)
            if item in out:
                raise ConfigError(self.file, path, f'"{item}" is given twice')
            out.append(item)
        return tuple(out)

    def number(self, key: str, default: float | None = None) -> float:
        value = self.data.get(key)
        if value is None:
            return self._default(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"must be a number, not {_kind(value)}")
        return float(value)

    def integer(
        self,
        key: str,
        default: int | None = None,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int:
        value = self.data.get(key)
        if value is None:
            return self._default(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be a whole number, not {_kind(value)}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be at least {minimum}, not {value}")
        if maximum is not None and value > maximum:
            raise self.error(key, f"must be at most {maximum}, not {value}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, not {_kind(value)}")
        return value

    def duration(
        self,
        key: str,
        default: float | None = None,
        *,
        bare_numbers: bool = True,
        allow_zero: bool = False,
    ) -> float:
        """Seconds (see :mod:`contracts.durations`); a YAML number is seconds too unless
        ``bare_numbers`` is false."""
        read = partial(parse_duration_seconds, bare_numbers=bare_numbers, allow_zero=allow_zero)
        return self._converted(key, default, read)

    def whole_seconds(self, key: str, default: int | None = None) -> int:
        """A duration string in whole seconds (SLO windows): ``30d``, ``1h30m``."""
        return self._converted(key, default, parse_whole_seconds)

    def _converted(self, key: str, default: T | None, convert: Callable[[object], T]) -> T:
        """The value at ``key`` read by ``convert``, whose ValueError names the field."""
        value = self.data.get(key)
        if value is None:
            return self._default(key, default)
        try:
            return convert(value)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None

    def host_port(self, key: str, default: HostPort | None = None) -> HostPort:
        """An address, ``HOST:PORT``, that cannot be turned off (a Kafka listener)."""
        return self._converted(key, default, _address)

    def host_port_or_off(self, key: str, default: HostPort | None) -> HostPort | None:
        """``HOST:PORT``, or None for ``off``, false or null (a listener turned off). An
        absent key gives ``default``."""
        if key not in self.data:
            return default
        value = self.data[key]
        if value is None or value is False or value == "off":
            return None
        return self._converted(key, None, partial(_address, allowed="HOST:PORT or off"))

    def parse(self, key: str, parser: Callable[[str], T], what: str) -> T:
        """Parse a required string field with ``parser``; its ValueError becomes a
        ConfigError that adds ``(expected WHAT)``."""
        text = self.text(key)
        try:
            return parser(text)
        except ValueError as exc:
            raise self.error(key, f"{exc} (expected {what})") from exc

    # -- collections --------------------------------------------------------------------
    def labels(self, key: str) -> tuple[tuple[str, str], ...]:
        """A mapping of names to scalars as sorted ``(name, text)`` pairs, so that output
        is deterministic (labels, annotations, client configs)."""
        return tuple(sorted(self.string_map(key).items()))

    def string_map(self, key: str) -> dict[str, str]:
        """A mapping of names to scalars, values as text (booleans as ``true``/``false``,
        as Kafka and Prometheus spell them). Absent: empty."""
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.error(key, f"must be a mapping of names to values, not {_kind(value)}")
        out = {}
        for name, item in value.items():
            if not isinstance(name, str) or item is None or isinstance(item, Mapping | list):
                raise ConfigError(self.file, f"{self.at(key)}.{name}", "must be a string or number")
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
            raise self.error(key, f"must be a list of strings, not {_kind(value)}")
        return tuple(items)

    def mapping(
        self, key: str, known: frozenset[str] | None = None, *, required: bool = True
    ) -> Fields:
        """The nested mapping at ``key``; when absent, an error or (not ``required``) an
        empty mapping."""
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.error(key, "is required")
            value = {}
        return Fields(self.file, self.at(key), value, known)

    def items(self, key: str, required: bool = True) -> Iterator[tuple[str, Any]]:
        """``(path, element)`` for each element of a list field; a required list must
        be present and non-empty."""
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.error(key, "is required and must be a non-empty list")
            return
        if not isinstance(value, list) or (required and not value):
            what = "a non-empty list" if required else "a list"
            raise self.error(key, f"must be {what}, not {_kind(value)}")
        for index, item in enumerate(value):
            yield f"{self.at(key)}[{index}]", item

    def one_of(self, keys: frozenset[str]) -> str:
        """The single key of ``keys`` that is present (a tagged union)."""
        present = sorted(k for k in keys if k in self.data)
        if len(present) != 1:
            choices = ", ".join(sorted(keys))
            found = ", ".join(present) or "none"
            raise ConfigError(
                self.file, self.path, f"needs exactly one of {choices} (found {found})"
            )
        return present[0]
