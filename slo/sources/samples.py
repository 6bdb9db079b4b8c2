"""Evaluate selector queries over a set of samples (sans-I/O)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from contracts.promql import Matcher, Selector
from slo.sampling import Query

__all__ = ["Sample", "SampleIndex"]


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def _matches(m: Matcher, labels: dict[str, str]) -> bool:
    # Bucket bounds are compared as numbers: "1", "1.0" and "1e0" are the same bound.
    if m.label == "le" and m.op == "=":
        try:
            return float(labels.get("le", "nan")) == float(m.value)
        except ValueError:
            return False
    return m.matches(labels)


def selector_matches(selector: Selector, sample: Sample) -> bool:
    return sample.name == selector.metric and all(
        _matches(m, sample.labels) for m in selector.matchers
    )


class SampleIndex:
    """Samples grouped by metric name, answering sum/max/min/avg over a selector."""

    def __init__(self, samples: Iterable[Sample]) -> None:
        self.by_name: dict[str, list[Sample]] = defaultdict(list)
        for s in samples:
            self.by_name[s.name].append(s)

    def answer(self, query: Query) -> float | None:
        if query.selector is None:
            return None  # PromQL needs Prometheus
        values = [
            s.value
            for s in self.by_name.get(query.selector.metric, ())
            if selector_matches(query.selector, s)
        ]
        if not values:
            return None
        if query.kind == "sum":
            return float(sum(values))
        if query.kind == "max":
            return max(values)
        if query.kind == "min":
            return min(values)
        return sum(values) / len(values)

    def answer_all(self, queries: Sequence[Query]) -> dict[Query, float | None]:
        return {q: self.answer(q) for q in queries}
