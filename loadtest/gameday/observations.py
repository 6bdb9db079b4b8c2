"""What a game day observed, poll by poll (pure): alert firing intervals, SLO readings,
consumer lag. Times are seconds from the start of the load.

An alert instance is its name and labels. Polling sees an instance firing or not; an
interval starts at the first poll that sees it firing and ends at the first poll that
does not (so detection and reset times are exact to the poll period).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AlertHistory",
    "AlertInstance",
    "GroupLag",
    "LagHistory",
    "SLOHistory",
    "SLOReading",
]

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class AlertInstance:
    name: str
    labels: Labels = ()

    @classmethod
    def of(cls, name: str, labels: Mapping[str, str]) -> AlertInstance:
        drop = {"alertname", "alertstate"}
        return cls(name, tuple(sorted((k, v) for k, v in labels.items() if k not in drop)))

    def matches(self, name: str, labels: Labels = ()) -> bool:
        mine = dict(self.labels)
        return self.name == name and all(mine.get(k) == v for k, v in labels)

    def describe(self) -> str:
        inner = ", ".join(f'{k}="{v}"' for k, v in self.labels)
        return f"{self.name}{{{inner}}}" if inner else self.name


@dataclass
class AlertHistory:
    intervals: dict[AlertInstance, list[list[float | None]]] = field(default_factory=dict)
    first_poll: float | None = None
    last_poll: float | None = None

    def observe(self, t: float, firing: Iterable[AlertInstance]) -> None:
        if self.first_poll is None:
            self.first_poll = t
        self.last_poll = t
        now = set(firing)
        for instance, spans in self.intervals.items():
            if spans[-1][1] is None and instance not in now:
                spans[-1][1] = t
        for instance in now:
            spans = self.intervals.setdefault(instance, [])
            if not spans or spans[-1][1] is not None:
                spans.append([t, None])

    def spans(self, name: str, labels: Labels = ()) -> list[tuple[float, float | None]]:
        """Firing intervals of every matching instance, merged, in time order."""
        raw = sorted(
            (s[0], s[1])
            for inst, spans in self.intervals.items()
            if inst.matches(name, labels)
            for s in spans
        )
        merged: list[tuple[float, float | None]] = []
        for start, end in raw:
            assert start is not None
            if merged:
                last_start, last_end = merged[-1]
                if last_end is None or start <= last_end:
                    new_end = None if last_end is None or end is None else max(last_end, end)
                    merged[-1] = (last_start, new_end)
                    continue
            merged.append((start, end))
        return merged

    def firing_at(self, name: str, labels: Labels, t: float) -> bool:
        return any(s <= t and (e is None or t < e) for s, e in self.spans(name, labels))

    def first_start(self, name: str, labels: Labels, since: float) -> float | None:
        """First time at or after ``since`` a matching alert started firing."""
        starts = [s for s, _ in self.spans(name, labels) if s >= since]
        return min(starts, default=None)

    def resolved_after(self, name: str, labels: Labels, t: float) -> float | None:
        """When matching alerts stopped firing for good, at or after ``t``: ``t`` itself
        when none fires from ``t`` on; None when one still fires at the last poll."""
        spans = self.spans(name, labels)
        if any(e is None for _, e in spans):
            return None
        ends = [e for _, e in spans if e is not None and e > t]
        return max(ends, default=t)

    def names(self) -> set[str]:
        return {i.name for i in self.intervals}

    def firing_names(self) -> set[str]:
        """Alerts firing at the last poll."""
        # list() copies in one step under the GIL: safe next to the polling thread.
        return {i.name for i, spans in list(self.intervals.items()) if spans[-1][1] is None}

    def as_dict(self) -> list[dict[str, Any]]:
        return [
            {"alert": i.name, "labels": dict(i.labels), "firing": [list(s) for s in spans]}
            for i, spans in sorted(self.intervals.items(), key=lambda kv: kv[0].describe())
        ]


@dataclass(frozen=True, slots=True)
class SLOReading:
    budget_remaining: float | None
    burn_rate: float | None  # over the shortest (5m nominal) window


@dataclass
class SLOHistory:
    samples: dict[str, list[tuple[float, SLOReading]]] = field(default_factory=dict)

    def observe(self, t: float, readings: Mapping[str, SLOReading]) -> None:
        for slo, reading in readings.items():
            self.samples.setdefault(slo, []).append((t, reading))

    def find(self, slo: str) -> str | None:
        """The recorded id matching ``slo`` (an SLO id, or a name unique among ids)."""
        if slo in self.samples:
            return slo
        matches = [k for k in self.samples if k.endswith(f"-{slo}")]
        return matches[0] if len(matches) == 1 else None

    def min_budget(self, slo: str) -> float | None:
        values = [r.budget_remaining for _, r in self.samples.get(slo, [])]
        return min((v for v in values if v is not None), default=None)

    def max_burn(self, slo: str) -> float | None:
        values = [r.burn_rate for _, r in self.samples.get(slo, [])]
        return max((v for v in values if v is not None), default=None)

    def as_dict(self) -> dict[str, list[list[float | None]]]:
        return {
            slo: [[t, r.budget_remaining, r.burn_rate] for t, r in rows]
            for slo, rows in sorted(self.samples.items())
        }


@dataclass(frozen=True, slots=True)
class GroupLag:
    records: int
    seconds: float


@dataclass
class LagHistory:
    """Each group's lag at each poll (records summed over partitions, and the worst
    partition's lag in seconds); None when the broker could not be asked."""

    samples: dict[str, list[tuple[float, GroupLag | None]]] = field(default_factory=dict)

    def observe(self, t: float, lag: Mapping[str, GroupLag | None]) -> None:
        for group, value in lag.items():
            self.samples.setdefault(group, []).append((t, value))

    def caught_up_after(
        self, groups: Iterable[str], t: float, tolerance_seconds: float
    ) -> float | None:
        """The first poll at or after ``t`` at which every group's lag in seconds was
        within ``tolerance_seconds`` (None if there was none). Consumers commit
        periodically, so under steady load the lag never stays exactly 0."""
        wanted = list(groups)
        by_group = {g: dict(self.samples.get(g, [])) for g in wanted}
        times = sorted({s for g in wanted for s in by_group[g] if s >= t})
        for moment in times:
            values = [by_group[g].get(moment) for g in wanted]
            if values and all(v is not None and v.seconds <= tolerance_seconds for v in values):
                return moment
        return None

    def as_dict(self) -> dict[str, list[list[float | int | None]]]:
        return {
            g: [[t, v.records if v else None, v.seconds if v else None] for t, v in rows]
            for g, rows in sorted(self.samples.items())
        }
