"""PromQL written from catalog objects, and the metric names a PromQL expression uses.

Dashboards and alert rules never spell a metric name: they pass the catalog's spec
object to :func:`selector`, which also checks every label matcher against the labels the
spec declares, so a renamed metric or label fails the build instead of leaving a dead
panel or a silent alert. :func:`metric_names` goes the other way (expression in, names
out) for the check that every name used exists in a catalog.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Protocol

__all__ = [
    "HISTOGRAM_SUFFIXES",
    "MetricLike",
    "Ne",
    "NotRe",
    "Re",
    "Series",
    "metric_names",
    "regex_union",
    "selector",
]

HISTOGRAM_SUFFIXES: Final = ("_bucket", "_sum", "_count")
# Labels Prometheus adds to every scraped series (target labels), besides the spec's own.
TARGET_LABELS: Final = ("job", "instance")


class MetricLike(Protocol):
    """What the catalogs have in common: a name and the labels a series may carry."""

    @property
    def name(self) -> str: ...

    @property
    def labels(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class Series:
    """A series named elsewhere (an SLO recording rule, Prometheus' ``up``) with its labels."""

    name: str
    labels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Re:
    """A ``=~`` matcher value."""

    pattern: str


@dataclass(frozen=True, slots=True)
class Ne:
    """A ``!=`` matcher value."""

    value: str


@dataclass(frozen=True, slots=True)
class NotRe:
    """A ``!~`` matcher value."""

    pattern: str


Matcher = str | Re | Ne | NotRe


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _matcher(label: str, value: Matcher) -> str:
    if isinstance(value, Re):
        return f"{label}=~{_quote(value.pattern)}"
    if isinstance(value, Ne):
        return f"{label}!={_quote(value.value)}"
    if isinstance(value, NotRe):
        return f"{label}!~{_quote(value.pattern)}"
    return f"{label}={_quote(value)}"


def _declared_labels(spec: MetricLike) -> tuple[str, ...]:
    all_labels = getattr(spec, "all_labels", None)
    declared = tuple(all_labels) if all_labels is not None else tuple(spec.labels)
    return (*declared, *TARGET_LABELS)


def selector(spec: MetricLike, suffix: str = "", /, **matchers: Matcher | None) -> str:
    """``name{label="v", ...}`` for ``spec``; ``None`` matchers are left out.

    ``suffix`` is one of the histogram series suffixes (``_bucket`` allows an ``le``
    matcher). A label the spec does not declare raises ``ValueError``.
    """
    if suffix and suffix not in HISTOGRAM_SUFFIXES:
        raise ValueError(f"unknown series suffix {suffix!r}")
    allowed = set(_declared_labels(spec))
    if suffix == "_bucket":
        allowed.add("le")
    parts = []
    for label, value in matchers.items():
        if value is None:
            continue
        if label not in allowed:
            raise ValueError(f"{spec.name} has no label {label!r} (labels: {sorted(allowed)})")
        parts.append(_matcher(label, value))
    body = "{" + ", ".join(parts) + "}" if parts else ""
    return f"{spec.name}{suffix}{body}"


def regex_union(values: Iterable[str]) -> str:
    """An anchored-by-Prometheus alternation of literal values, sorted for stable output."""
    return "|".join(re.escape(v) for v in sorted(set(values)))


# --- names used by an expression ---------------------------------------------------------

_STRING: Final = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_BRACES: Final = re.compile(r"\{[^{}]*\}")
_BRACKETS: Final = re.compile(r"\[[^\[\]]*\]")
_LABEL_LISTS: Final = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_NUMBER: Final = re.compile(r"(?<![a-zA-Z0-9_:])(?:0x[0-9a-fA-F]+|\d[0-9a-zA-Z_.]*)")
_IDENTIFIER: Final = re.compile(r"(?<![a-zA-Z0-9_:$])[a-zA-Z_:][a-zA-Z0-9_:]*")
_KEYWORDS: Final = frozenset(
    {
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "inf",
        "nan",
        "start",
        "end",
    }
)


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (functions, keywords and labels excluded).

    A small tokenizer, enough for the expressions we generate and for hand-written ones:
    strings, label matchers, ranges and label lists are removed first; an identifier
    followed by ``(`` is a function or an aggregation; a ``{__name__="x"}`` selector
    contributes ``x``.
    """
    names = set(re.findall(r'__name__\s*=\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"', expr))
    text = _STRING.sub('""', expr)
    previous = None
    while previous != text:  # nested braces cannot occur in PromQL, but be safe
        previous = text
        text = _BRACES.sub(" ", text)
    text = _BRACKETS.sub(" ", text)
    text = _LABEL_LISTS.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    for match in _IDENTIFIER.finditer(text):
        word = match.group(0)
        rest = text[match.end() :].lstrip()
        if rest.startswith("("):
            continue
        if word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names
