"""The in-process evaluator: no Prometheus needed.

Each poll scrapes every target's ``/metrics`` and

- advances the SLO engine (:mod:`slo.engine`) on compressed time: at a time scale ``f``
  the engine gets one 60 s step every ``60 / f`` real seconds (:class:`slo.timescale.
  TimeScale`), so its windows, periods and alerts behave as they do in the compressed
  Prometheus rules; page and ticket alerts carry the generated rules' names and labels;
- evaluates the built-in infrastructure rules (:data:`loadtest.gameday.rules.
  GAMEDAY_RULES`) with a Python twin of each expression, compressed the same way (ranges,
  ``for`` and age thresholds divided by ``f``).

Extra rule files of a scenario need Prometheus; this evaluator covers the SLOs and the
built-in rules only.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from typing import Final

import numpy as np

from loadtest.gameday.alerting import Targets
from loadtest.gameday.observations import AlertInstance, SLOReading
from loadtest.gameday.rules import BROKER_JOB, GAMEDAY_RULES, GameDayRule
from slo.alerts import alert_labels, slo_labels
from slo.conventions import SEVERITY_PAGE, SEVERITY_TICKET, Severity
from slo.duration import parse_duration
from slo.engine import Engine, Evaluation
from slo.model import SLO
from slo.sampling import Sampler
from slo.sources.local import parse_exposition
from slo.sources.samples import Sample, SampleIndex
from slo.timescale import TimeScale

__all__ = ["InProcessAlerts"]

_STEP_SECONDS: Final = 60
Labels = dict[str, str]


class _Snapshot:
    """One poll: samples by name, whether the broker answered, and recent history."""

    def __init__(self, samples: list[Sample], broker_up: bool) -> None:
        self.samples = samples
        self.broker_up = broker_up
        self.by_name: dict[str, list[Sample]] = defaultdict(list)
        for s in samples:
            self.by_name[s.name].append(s)

    def by(
        self, name: str, keys: Sequence[str], agg: Callable[[list[float]], float]
    ) -> list[tuple[Labels, float]]:
        groups: dict[tuple[str, ...], list[float]] = defaultdict(list)
        for s in self.by_name.get(name, []):
            groups[tuple(s.labels.get(k, "") for k in keys)].append(s.value)
        return [(dict(zip(keys, k, strict=True)), agg(v)) for k, v in groups.items()]


class InProcessAlerts:
    name = "in-process"

    def __init__(
        self,
        slos: Sequence[SLO],
        time_scale: float,
        targets: Targets,
        exclude: Iterable[str] = (),
        rules: Sequence[GameDayRule] = GAMEDAY_RULES,
    ) -> None:
        self.slos = list(slos)
        self.time_scale = time_scale
        self.targets = targets
        self.rules = [r for r in rules if r.alert not in set(exclude)]
        self.scale = TimeScale(time_scale, time.time())
        self.engine = Engine(self.slos, step_seconds=_STEP_SECONDS) if self.slos else None
        self.sampler = Sampler(self.slos, _STEP_SECONDS, use_promql=False)
        self.queries = self.sampler.queries()
        self.last: Evaluation | None = None
        self._since: dict[AlertInstance, float] = {}
        self._history: deque[tuple[float, _Snapshot]] = deque()
        self._readings: dict[str, SLOReading] = {}

    # --- lifecycle ---------------------------------------------------------------------
    def start(self, timeout_seconds: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            _, failed = self._scrape()
            if not failed:
                self.scale = TimeScale(self.time_scale, time.time())
                return
            time.sleep(0.2)
        raise RuntimeError(f"metrics targets do not answer: {self.targets}")

    def close(self) -> None:
        pass

    def _scrape(self) -> tuple[list[Sample], set[str]]:
        samples: list[Sample] = []
        failed: set[str] = set()
        for job, urls in self.targets.urls().items():
            for url in urls:
                try:
                    with urllib.request.urlopen(url, timeout=1) as response:
                        samples.extend(parse_exposition(response.read().decode()))
                except (urllib.error.URLError, OSError, ValueError):
                    failed.add(job)
        return samples, failed

    # --- evaluation ----------------------------------------------------------------------
    def firing(self) -> set[AlertInstance]:
        now = time.time()
        samples, failed = self._scrape()
        snapshot = _Snapshot(samples, BROKER_JOB not in failed)
        self._history.append((now, snapshot))
        while self._history and now - self._history[0][0] > 3600:
            self._history.popleft()
        conditions = self._slo_alerts(now, samples)
        for rule in self.rules:
            for labels in self._condition(rule, now, snapshot):
                conditions[AlertInstance.of(rule.alert, labels)] = self._for(rule)
        firing = set()
        for instance, hold in conditions.items():
            since = self._since.setdefault(instance, now)
            if now - since >= hold:
                firing.add(instance)
        for instance in list(self._since):
            if instance not in conditions:
                del self._since[instance]
        return firing

    def slo_readings(self) -> dict[str, SLOReading]:
        return dict(self._readings)

    def _for(self, rule: GameDayRule) -> float:
        seconds = 0 if rule.for_ == "0s" else parse_duration(rule.for_)
        return self.scale.real_seconds(seconds)

    def _slo_alerts(self, now: float, samples: list[Sample]) -> dict[AlertInstance, float]:
        out: dict[AlertInstance, float] = {}
        if self.engine is None:
            return out
        t = int(self.scale.virtual(now) // _STEP_SECONDS * _STEP_SECONDS)
        if self.engine.now is None or t > self.engine.now:
            values = SampleIndex(samples).answer_all(self.queries)
            self.engine.record(t, *self.sampler.step(values))
            self.last = self.engine.evaluate()
        ev = self.last
        if ev is None:
            return out
        for i, slo in enumerate(self.slos):
            column = int(np.flatnonzero(self.engine.windows[i] == 300)[0])
            remaining = float(ev.budget_remaining[i])
            burn = float(ev.burn_rate[i, column])
            self._readings[slo.id] = SLOReading(remaining, burn if np.isfinite(burn) else None)
            severities: tuple[tuple[Severity, bool], ...] = (
                (SEVERITY_PAGE, bool(ev.page[i])),
                (SEVERITY_TICKET, bool(ev.ticket[i])),
            )
            for severity, on in severities:
                if on:
                    labels = {**dict(slo.labels), **slo_labels(slo), **alert_labels(slo, severity)}
                    out[AlertInstance.of(slo.alerting.name, labels)] = 0.0
        return out

    # --- the built-in rules' twins -------------------------------------------------------
    def _condition(self, rule: GameDayRule, now: float, snap: _Snapshot) -> list[Labels]:
        age = 1 / self.time_scale
        name = rule.alert
        if name == "TidewatchGameDayBrokerDown":
            return [] if snap.broker_up else [{"job": BROKER_JOB}]
        if name == "TidewatchGameDayConsumerLagHigh":
            rows = snap.by("tidewatch_group_lag_seconds", ("group",), max)
            return [labels for labels, v in rows if v > 300 * age]
        if name == "TidewatchGameDayConsumerStopped":
            rows = snap.by("tidewatch_group_partition_status_code", ("group",), max)
            return [labels for labels, v in rows if v >= 3]
        if name == "TidewatchGameDayRetentionHeadroomLow":
            rows = snap.by("tidewatch_group_retention_headroom_seconds", ("group", "topic"), min)
            return [labels for labels, v in rows if v < 3600 * age]
        if name == "TidewatchGameDayStorageErrors":
            increase = self._increase("tidewatch_broker_storage_errors_total", (), now)
            return [labels for labels, v in increase if v > 0]
        if name == "TidewatchGameDayPartitionHotSpot":
            return self._hot_topics(now)
        return []

    def _window(self, now: float) -> tuple[float, _Snapshot] | None:
        """The oldest snapshot within the compressed 5m window (for rates)."""
        span = self.scale.real_seconds(300)
        for t, snap in self._history:
            if now - t <= span:
                return (t, snap) if now - t > 0 else None
        return None

    def _increase(self, name: str, keys: Sequence[str], now: float) -> list[tuple[Labels, float]]:
        then = self._window(now)
        if then is None:
            return []
        current = {
            tuple(sorted(lb.items())): v
            for lb, v in self._history[-1][1].by(name, (*keys, "partition"), sum)
        }
        before = {
            tuple(sorted(lb.items())): v for lb, v in then[1].by(name, (*keys, "partition"), sum)
        }
        out = []
        for key, value in current.items():
            delta = value - before.get(key, value)
            out.append((dict(key), delta if delta >= 0 else value))
        return out

    def _hot_topics(self, now: float) -> list[Labels]:
        then = self._window(now)
        if then is None:
            return []
        t0, old = then
        seconds = now - t0
        metric = "tidewatch_partition_records_appended_total"
        before = {
            (lb["topic"], lb["partition"]): v
            for lb, v in old.by(metric, ("topic", "partition"), sum)
        }
        rates: dict[str, list[float]] = defaultdict(list)
        for lb, v in self._history[-1][1].by(metric, ("topic", "partition"), sum):
            key = (lb["topic"], lb["partition"])
            if key in before:
                delta = v - before[key]
                rates[lb["topic"]].append((delta if delta >= 0 else v) / seconds)
        return [
            {"topic": topic}
            for topic, r in rates.items()
            if r and max(r) > 2 * (sum(r) / len(r)) and sum(r) > 1
        ]
