"""Prometheus-style durations ("5m", "1h30m", "30d") as whole seconds."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["DurationError", "format_duration", "parse_duration"]

_UNITS_SECONDS: Final = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_DURATION_RE: Final = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


class DurationError(ValueError):
    """A string that is not a Prometheus duration."""


def parse_duration(text: str) -> int:
    """Parse ``"1h30m"`` into seconds; the result is always positive."""
    match = _DURATION_RE.match(text.strip()) if isinstance(text, str) else None
    if not text or match is None or not any(match.groups()):
        raise DurationError(f"{text!r} is not a duration like 5m, 1h30m or 30d")
    seconds = sum(
        int(value) * _UNITS_SECONDS[unit]
        for value, unit in zip(match.groups(), "wdhms", strict=True)
        if value
    )
    if seconds <= 0:
        raise DurationError(f"{text!r} must be longer than zero")
    return seconds


def format_duration(seconds: int) -> str:
    """The shortest Prometheus spelling: 300 -> "5m", 86400 -> "1d", 5400 -> "1h30m".

    Weeks are never used so that "7d" and "28d" read as people write them.
    """
    if seconds <= 0:
        raise DurationError(f"{seconds} s is not a positive duration")
    parts = []
    remaining = seconds
    for unit in "dhms":
        size = _UNITS_SECONDS[unit]
        if remaining >= size:
            parts.append(f"{remaining // size}{unit}")
            remaining %= size
    return "".join(parts)
