"""Alert-window catalogues as data: which windows page and which ticket.

A catalogue lists conditions by the share of the error budget a burn over the long
window consumes; :func:`conditions_for_period` turns them into burn-rate factors for a
given SLO period (see :mod:`slo.burnrate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Final, cast

import yaml

from contracts.durations import parse_whole_seconds
from slo.burnrate import burn_rate_factor
from slo.conventions import ALERT_WINDOWS, Severity
from slo.model import SLO, BurnRateCondition

__all__ = [
    "DEFAULT_CATALOG",
    "WindowCatalog",
    "WindowCondition",
    "conditions_for_period",
    "evaluated_windows",
    "load",
]

DEFAULT_CATALOG: Final = "sre-workbook"


@dataclass(frozen=True, slots=True)
class WindowCondition:
    severity: Severity
    long_seconds: int
    short_seconds: int
    budget_percent: float


@dataclass(frozen=True, slots=True)
class WindowCatalog:
    name: str
    conditions: tuple[WindowCondition, ...]


@cache
def load(name: str = DEFAULT_CATALOG) -> WindowCatalog:
    """Load a catalogue shipped in this package (``slo/windows/NAME.yaml``)."""
    path = resources.files(__package__).joinpath(f"{name}.yaml")
    if not path.is_file():
        raise KeyError(f"no alert-window catalogue named {name!r}")
    data = cast(dict[str, Any], yaml.safe_load(path.read_text(encoding="utf-8")))
    conditions = tuple(
        WindowCondition(
            severity=row["severity"],
            long_seconds=parse_whole_seconds(row["long"]),
            short_seconds=parse_whole_seconds(row["short"]),
            budget_percent=float(row["budget_percent"]),
        )
        for row in data["conditions"]
    )
    return WindowCatalog(name=str(data["name"]), conditions=conditions)


def conditions_for_period(
    period_seconds: int, catalog: WindowCatalog | None = None
) -> tuple[BurnRateCondition, ...]:
    """The catalogue's conditions with burn-rate factors for an SLO period."""
    catalog = catalog or load()
    return tuple(
        BurnRateCondition(
            severity=c.severity,
            factor=burn_rate_factor(c.budget_percent / 100, period_seconds, c.long_seconds),
            long_seconds=c.long_seconds,
            short_seconds=c.short_seconds,
        )
        for c in catalog.conditions
    )


def evaluated_windows(slo: SLO) -> list[int]:
    """Windows (seconds) an SLO's error ratio is computed over, besides its period:
    Sloth's set plus every window its alert conditions use, shortest first."""
    seconds = {parse_whole_seconds(w) for w in ALERT_WINDOWS}
    for condition in slo.alerting.conditions:
        seconds.update((condition.long_seconds, condition.short_seconds))
    return sorted(seconds)
