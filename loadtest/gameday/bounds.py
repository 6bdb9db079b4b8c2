"""Bounds on counts in game-day expectations (``lost: 0``, ``lost: {min: 1}``), pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from contracts.fields import Fields

__all__ = ["Bound", "CountExpectation", "parse_counts"]

_BOUND: Final = frozenset({"min", "max"})


@dataclass(frozen=True, slots=True)
class Bound:
    minimum: int | None = None
    maximum: int | None = None

    def holds(self, value: int) -> bool:
        low = self.minimum is None or value >= self.minimum
        return low and (self.maximum is None or value <= self.maximum)

    def describe(self) -> str:
        if self.minimum == self.maximum and self.minimum is not None:
            return f"= {self.minimum}"
        parts = []
        if self.minimum is not None:
            parts.append(f">= {self.minimum}")
        if self.maximum is not None:
            parts.append(f"<= {self.maximum}")
        return " and ".join(parts)


@dataclass(frozen=True, slots=True)
class CountExpectation:
    """Bounds on accounting counts (data loss per group, or probe anomalies)."""

    bounds: tuple[tuple[str, Bound], ...]


def parse_counts(expect: Fields, key: str, allowed: tuple[str, ...]) -> CountExpectation | None:
    """The bounds at ``expect.key``: each count a number (exactly) or ``{min, max}``."""
    if not expect.has(key):
        return None
    f = expect.mapping(key, frozenset(allowed))
    bounds = []
    for name in allowed:
        if not f.has(name):
            continue
        raw = f.raw(name)
        if isinstance(raw, Mapping):
            b = f.mapping(name, _BOUND)
            low = int(b.number("min")) if b.has("min") else None
            high = int(b.number("max")) if b.has("max") else None
            bounds.append((name, Bound(low, high)))
        else:
            value = int(f.number(name))
            bounds.append((name, Bound(value, value)))
    return CountExpectation(tuple(bounds))
