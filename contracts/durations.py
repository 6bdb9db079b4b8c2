"""The one duration grammar of every Tidewatch file and flag, and its one spelling.

A duration is one or more parts, each a number and a unit, with the units in falling
order and each at most once::

    duration := part+          units, largest first: y w d h m s ms
    part     := digits [ "." digits ] unit

So ``250ms``, ``1.5s``, ``1m30s``, ``2h``, ``30d`` and ``1h30m`` are durations; ``30 days``,
``1s1m`` and ``5`` (a string without a unit) are not. The units are Prometheus's
(``y`` is 365 days, ``w`` is 7 days) so every rule duration reads the same in a spec,
a config file and a generated rule. Where a field allows it, a YAML number is a
number of seconds too (``interval: 2``); that is the caller's choice
(``bare_numbers``), never the string's.

Values are exact (fractions, not floats) until they are returned, so ``0.1h`` is 360
whole seconds. :func:`parse_duration_seconds` returns seconds as a float (probe
intervals, timeouts); :func:`parse_whole_seconds` returns an int and refuses a value
with a fraction of a second (SLO windows and rule durations have a resolution of one
second). Both raise ``ValueError`` with a one-line reason; readers turn it into a
:class:`contracts.fields.ConfigError` naming the file and the field.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Final

__all__ = ["format_duration", "parse_duration_seconds", "parse_whole_seconds"]

# Seconds per unit, largest first: the order parts must be written in.
_UNIT_SECONDS: Final[dict[str, Fraction]] = {
    "y": Fraction(365 * 86_400),
    "w": Fraction(7 * 86_400),
    "d": Fraction(86_400),
    "h": Fraction(3_600),
    "m": Fraction(60),
    "s": Fraction(1),
    "ms": Fraction(1, 1000),
}
# "m" must not take the "m" of "ms": "30ms" is thirty milliseconds, not thirty minutes.
_DURATION: Final = re.compile(
    "".join(
        rf"(?:(?P<{unit}>\d+(?:\.\d+)?){unit}{'(?!s)' if unit == 'm' else ''})?"
        for unit in _UNIT_SECONDS
    )
)
# format_duration never writes weeks or years, so "7d" and "28d" read as people write them.
_FORMAT_UNITS_MS: Final = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000))
_SUB_SECOND_EXAMPLES: Final = "250ms, 1.5s, 1m30s or 2h"
_WHOLE_SECOND_EXAMPLES: Final = "5m, 1h30m or 30d"


def parse_duration_seconds(
    value: object, *, bare_numbers: bool = False, allow_zero: bool = False
) -> float:
    """Seconds as a float: ``"250ms"`` -> 0.25, ``"1m30s"`` -> 90.0.

    With ``bare_numbers`` a YAML number is seconds (``2`` -> 2.0). The result is longer
    than zero unless ``allow_zero``. Raises ValueError saying what is allowed.
    """
    return float(_parse(value, bare_numbers, allow_zero, _SUB_SECOND_EXAMPLES))


def parse_whole_seconds(
    value: object, *, bare_numbers: bool = False, allow_zero: bool = False
) -> int:
    """Whole seconds: ``"1h30m"`` -> 5400. A fraction of a second (``"1500ms"``) is
    refused. Otherwise as :func:`parse_duration_seconds`."""
    seconds = _parse(value, bare_numbers, allow_zero, _WHOLE_SECOND_EXAMPLES)
    if seconds.denominator != 1:
        raise ValueError(
            f"{value!r} is not a whole number of seconds (this field counts whole seconds)"
        )
    return int(seconds)


def format_duration(seconds: float) -> str:
    """The shortest spelling, rounded to the millisecond: 300 -> ``5m``, 86400 -> ``1d``,
    5400 -> ``1h30m``, 0.25 -> ``250ms``, 1.5 -> ``1s500ms``.

    Whole seconds give Prometheus durations; weeks and years are never used. Raises
    ValueError unless ``seconds`` rounds to at least one millisecond.
    """
    remaining = round(Fraction(seconds) * 1000)
    if remaining <= 0:
        raise ValueError(f"{seconds} s is not a positive duration")
    parts = []
    for unit, size in _FORMAT_UNITS_MS:
        if remaining >= size:
            parts.append(f"{remaining // size}{unit}")
            remaining %= size
    if remaining:
        parts.append(f"{remaining}ms")
    return "".join(parts)


def _parse(value: object, bare_numbers: bool, allow_zero: bool, examples: str) -> Fraction:
    seconds = _number(value) if bare_numbers else None
    if seconds is None:
        seconds = _text(value, bare_numbers, examples)
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise ValueError(f"{value!r} must be longer than zero")
    return seconds


def _number(value: object) -> Fraction | None:
    """A YAML number as seconds, or None when ``value`` is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number of seconds")
    return Fraction(value)


def _text(value: object, bare_numbers: bool, examples: str) -> Fraction:
    match = _DURATION.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None or not any(match.groups()):
        numbers = ", or a number of seconds" if bare_numbers else ""
        raise ValueError(f"{value!r} is not a duration like {examples}{numbers}")
    return sum(
        (
            Fraction(amount) * _UNIT_SECONDS[unit]
            for unit, amount in match.groupdict().items()
            if amount is not None
        ),
        Fraction(0),
    )
