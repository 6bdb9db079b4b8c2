"""Time compression for game days: SLO windows that pass ``factor`` times faster.

A burn-rate alert built for hours (page when 2 % of a 30-day budget burns within 1h)
needs hours of history; a game day has minutes. A :class:`TimeScale` with factor ``f``
lets ``f`` scenario seconds pass per real second, applied the same way to both
evaluation paths:

- **in-process engine**: the engine has no clock; the caller passes times. Feed it
  :meth:`TimeScale.virtual` times and tick every ``step / f`` real seconds: every
  window, period and no-data delay of the model then lasts ``1 / f`` of its nominal
  length in real time, and the engine cannot tell (``SLOService(time_scale=...)``,
  ``tidewatch slo serve --time-scale F``).
- **Prometheus**: Prometheus evaluates on its wall clock, so the rules are compressed
  instead: :func:`compress_rules` divides every range selector (``[1h]``), subquery
  range and resolution (``[30d:5m]``), ``offset``, and the ``for``/``keep_firing_for``
  and group ``interval`` of a rule file by ``f`` (a ``for`` down to a floor the caller
  gives: it is counted in scrapes, and the scrape interval does not shrink as much).
  Recording-rule *names* keep their nominal windows (``slo:sli_error:ratio_rate5m``
  covers 5 s at f = 60), so dashboards and alert expressions stay valid.

Error ratios, burn rates and budgets are ratios of event counts within a window, so
they are unchanged; only *where time is the quantity being measured* (a threshold on an
age in seconds, such as consumer lag) must the caller scale the number too, see
``loadtest.gameday.rules``. Pure: no clock is read here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from contracts.durations import format_duration, parse_duration_seconds

__all__ = ["TimeScale", "compress_duration", "compress_promql", "compress_rules"]

_DURATION: Final = r"(?:\d+(?:ms|s|m|h|d|w|y))+"
_RANGE: Final = re.compile(rf"\[\s*({_DURATION})\s*(?::\s*({_DURATION})?\s*)?\]")
_OFFSET: Final = re.compile(rf"(\boffset\s+-?)({_DURATION})")
_STRING: Final = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|`[^`]*`")


@dataclass(frozen=True, slots=True)
class TimeScale:
    """``factor`` scenario seconds per real second, from ``origin_real`` on."""

    factor: float = 1.0
    origin_real: float = 0.0

    def __post_init__(self) -> None:
        if not self.factor > 0:
            raise ValueError("a time scale factor must be positive")

    def virtual(self, real: float) -> float:
        """Scenario time at real time ``real`` (equal at the origin, then faster)."""
        return self.origin_real + (real - self.origin_real) * self.factor

    def real_seconds(self, virtual_seconds: float) -> float:
        """How long ``virtual_seconds`` of scenario time last in real time."""
        return virtual_seconds / self.factor


def compress_duration(text: str, factor: float) -> str:
    """``"1h"`` at factor 60 -> ``"1m"``; ``"5m"`` at 600 -> ``"500ms"`` (at least 1ms)."""
    ms = round(parse_duration_seconds(text, allow_zero=True) * 1000)
    return format_duration(max(1, round(ms / factor)) / 1000)


def compress_promql(expr: str, factor: float) -> str:
    """Divide every range, subquery and offset duration of ``expr`` by ``factor``
    (string literals, such as regular expressions in matchers, are left alone)."""
    if factor == 1:
        return expr
    out = []
    last = 0
    for literal in _STRING.finditer(expr):
        out.append(_compress_code(expr[last : literal.start()], factor))
        out.append(literal.group(0))
        last = literal.end()
    out.append(_compress_code(expr[last:], factor))
    return "".join(out)


def _compress_code(code: str, factor: float) -> str:
    def range_(m: re.Match[str]) -> str:
        window = compress_duration(m.group(1), factor)
        if ":" not in m.group(0):
            return f"[{window}]"
        step = compress_duration(m.group(2), factor) if m.group(2) else ""
        return f"[{window}:{step}]"

    def offset(m: re.Match[str]) -> str:
        return m.group(1) + compress_duration(m.group(2), factor)

    return _OFFSET.sub(offset, _RANGE.sub(range_, code))


def compress_rules(
    document: dict[str, Any], factor: float, *, min_for_seconds: float = 0.0
) -> dict[str, Any]:
    """A copy of a Prometheus rule file with every duration divided by ``factor``.

    A ``for`` or ``keep_firing_for`` that is not zero lasts at least ``min_for_seconds``
    once compressed: the caller's floor (a few scrape intervals, see
    ``loadtest.gameday.rules``), because compression shrinks the duration but not the
    scrape interval it is measured in, and a ``for`` of one scrape lets a single slow
    scrape fire the alert."""
    groups = []
    for group in document.get("groups", []):
        g = dict(group)
        if "interval" in g:
            g["interval"] = compress_duration(str(g["interval"]), factor)
        rules = []
        for rule in group.get("rules", []):
            r = dict(rule)
            r["expr"] = compress_promql(str(r["expr"]), factor)
            for key in ("for", "keep_firing_for"):
                if key in r:
                    r[key] = _compress_hold(str(r[key]), factor, min_for_seconds)
            rules.append(r)
        g["rules"] = rules
        groups.append(g)
    return {**document, "groups": groups}


def _compress_hold(text: str, factor: float, min_seconds: float) -> str:
    """A compressed ``for``/``keep_firing_for``; one that is not zero lasts at least
    ``min_seconds``."""
    compressed = compress_duration(text, factor)
    nominal = parse_duration_seconds(text, allow_zero=True)
    if nominal > 0 and min_seconds > 0 and parse_duration_seconds(compressed) < min_seconds:
        return format_duration(min_seconds)
    return compressed
