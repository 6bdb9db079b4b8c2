"""PromQL selectors as values, written from catalog specs, and the metric names a PromQL
expression uses.

Two ways in, one model:

- :class:`Selector` and :class:`Matcher` are the selector as data: the SLO engine parses
  user specs into them, evaluates them against scraped samples (:meth:`Selector.matches`)
  and renders them into rules (:meth:`Selector.promql`). Both validate on construction
  (metric and label names, regular expressions).
- :func:`selector` writes a selector for a catalog spec, for dashboards and alert rules
  that never spell a metric name: it checks every label matcher against the labels the
  spec declares, so a renamed metric or label fails the build instead of leaving a dead
  panel or a silent alert.

:func:`metric_names` goes the other way (expression in, names out) for the check that
every name used exists in a catalog (:func:`check_expression`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

from contracts.metrics import HISTOGRAM_SUFFIXES

__all__ = [
    "TARGET_LABELS",
    "MatchOp",
    "MatchValue",
    "Matcher",
    "MetricLike",
    "Ne",
    "NotRe",
    "Re",
    "Selector",
    "Series",
    "UnknownMetricError",
    "check_expression",
    "is_label_name",
    "is_metric_name",
    "metric_names",
    "recorded_names",
    "regex_union",
    "selector",
]

# Labels Prometheus adds to every scraped series (target labels), besides the spec's own.
TARGET_LABELS: Final = ("job", "instance")

_NAME_RE: Final = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_RE: Final = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
MatchOp = Literal["=", "!=", "=~", "!~"]


def is_metric_name(text: str) -> bool:
    """Whether ``text`` is a valid Prometheus metric (or recording-rule, alert) name."""
    return _NAME_RE.match(text) is not None


def is_label_name(text: str) -> bool:
    return _LABEL_RE.match(text) is not None


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


# --- selectors as data ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher; a missing label matches as the empty string (as in PromQL)."""

    label: str
    op: MatchOp
    value: str

    def __post_init__(self) -> None:
        if not is_label_name(self.label):
            raise ValueError(f"{self.label!r} is not a label name")
        if self.op in ("=~", "!~"):
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"bad regular expression {self.value!r}: {exc}") from exc

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Regular expressions are anchored at both ends, as Prometheus anchors them."""
        actual = labels.get(self.label, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        full = re.fullmatch(self.value, actual) is not None
        return full if self.op == "=~" else not full

    def promql(self) -> str:
        return f"{self.label}{self.op}{_quote(self.value)}"


@dataclass(frozen=True, slots=True)
class Selector:
    """A metric name with label matchers, the sum of all matching series."""

    metric: str
    matchers: tuple[Matcher, ...] = ()

    def __post_init__(self) -> None:
        if not is_metric_name(self.metric):
            raise ValueError(f"{self.metric!r} is not a metric name")

    def promql(self, suffix: str = "", extra: tuple[Matcher, ...] = ()) -> str:
        """The compact form generated rules use: ``name{a="x",b=~"y"}``."""
        matchers = ",".join(m.promql() for m in (*self.matchers, *extra))
        return f"{self.metric}{suffix}{{{matchers}}}" if matchers else f"{self.metric}{suffix}"

    def matches(self, name: str, labels: Mapping[str, str]) -> bool:
        return name == self.metric and all(m.matches(labels) for m in self.matchers)

    def with_suffix(self, suffix: str, extra: tuple[Matcher, ...] = ()) -> Selector:
        return Selector(self.metric + suffix, (*self.matchers, *extra))


# --- selectors written from catalog specs -------------------------------------------------


class MetricLike(Protocol):
    """What a selector is written for: a name and the labels its series carry."""

    @property
    def name(self) -> str: ...

    @property
    def all_labels(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class Series:
    """A series named elsewhere (an SLO recording rule, Prometheus' ``up``) with its labels."""

    name: str
    labels: tuple[str, ...] = ()

    @property
    def all_labels(self) -> tuple[str, ...]:
        return self.labels


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


MatchValue = str | Re | Ne | NotRe


def _matcher(label: str, value: MatchValue) -> Matcher:
    if isinstance(value, Re):
        return Matcher(label, "=~", value.pattern)
    if isinstance(value, Ne):
        return Matcher(label, "!=", value.value)
    if isinstance(value, NotRe):
        return Matcher(label, "!~", value.pattern)
    return Matcher(label, "=", value)


def selector(spec: MetricLike, suffix: str = "", /, **matchers: MatchValue | None) -> str:
    """``name{label="v", ...}`` for ``spec``, in the readable form hand-written rules and
    panels use (a space after each comma); ``None`` matchers are left out.

    ``suffix`` is one of the histogram series suffixes (``_bucket`` allows an ``le``
    matcher). A label the spec does not declare (nor Prometheus' target labels) raises
    ``ValueError``.
    """
    if suffix and suffix not in HISTOGRAM_SUFFIXES:
        raise ValueError(f"unknown series suffix {suffix!r}")
    if not is_metric_name(spec.name):
        raise ValueError(f"{spec.name!r} is not a metric name")
    allowed = {*spec.all_labels, *TARGET_LABELS}
    if suffix == "_bucket":
        allowed.add("le")
    parts = []
    for label, value in matchers.items():
        if value is None:
            continue
        if label not in allowed:
            raise ValueError(f"{spec.name} has no label {label!r} (labels: {sorted(allowed)})")
        parts.append(_matcher(label, value).promql())
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


class UnknownMetricError(ValueError):
    """An expression uses a metric name that no catalog defines."""


def check_expression(expr: str, known: frozenset[str], where: str) -> None:
    """Raise :class:`UnknownMetricError` naming ``where`` when ``expr`` uses a name
    outside ``known`` (the names of the catalogs the caller reads)."""
    unknown = sorted(metric_names(expr) - known)
    if unknown:
        raise UnknownMetricError(f"{where}: metric(s) defined in no catalog: {', '.join(unknown)}")


def recorded_names(rule_file: Mapping[str, Any]) -> set[str]:
    """``record:`` names of a rule file structure (``{"groups": [...]}``)."""
    return {
        rule["record"]
        for group in rule_file.get("groups", [])
        for rule in group.get("rules", [])
        if "record" in rule
    }
