"""The in-process evaluator: no Prometheus needed.

Each poll scrapes every target's ``/metrics`` and

- advances the SLO engine (:mod:`slo.engine`) on compressed time: at a time scale ``f``
  the engine gets one 60 s step every ``60 / f`` real seconds (:class:`slo.timescale.
  TimeScale`), so its windows, periods and alerts behave as they do in the compressed
  Prometheus rules; page and ticket alerts carry the generated rules' names and labels;
- evaluates a Python twin of the alert pack's broker alerts (:mod:`alerts.
  infrastructure`: unreachable, storage errors, lag beyond SLA, lag status, retention
  headroom, partition hot spot) with the same thresholds, compressed the same way
  (ranges, ``for`` and ages divided by ``f``).

The pack's other alerts (slow flushes, truncated recovery, request errors, auth
failures, probe alerts) and extra rule files of a scenario need Prometheus. A test
(``tests/loadtest/test_inprocess_twins.py``) feeds the same series to each twin and to
``promtool test rules`` with the pack's real rule, and requires the same alerts.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from broker.metrics import catalog as m
from contracts import alerts as a
from contracts.alerts import AlertThresholds
from contracts.lag.status import LagStatus
from contracts.scrape import BROKER_JOB
from loadtest.gameday.alerting import Targets
from loadtest.gameday.observations import AlertInstance, SLOReading
from loadtest.gameday.rules import compressed_thresholds, for_seconds, pack_slos
from slo.alerts import alert_labels, slo_labels
from slo.conventions import SEVERITY_PAGE, SEVERITY_TICKET, Severity
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


@dataclass(frozen=True, slots=True)
class _Twin:
    """A Python twin of one pack alert: labels of the instances whose condition holds."""

    alert: str
    severity: Severity
    hold: str  # the pack's ``for`` (nominal)
    condition: Callable[[_Snapshot], list[Labels]]


class InProcessAlerts:
    name = "in-process"

    def __init__(
        self,
        slos: Sequence[SLO],
        time_scale: float,
        targets: Targets,
        thresholds: AlertThresholds | None = None,
        pack: bool = True,
        exclude: Iterable[str] = (),
        probes: bool = False,
    ) -> None:
        self.time_scale = time_scale
        self.targets = targets
        self.t = compressed_thresholds(thresholds or AlertThresholds(), time_scale)
        dropped = set(exclude)
        self.slos = [*(pack_slos(self.t, probes) if pack else []), *slos]
        self.twins = [w for w in self._twins() if w.alert not in dropped] if pack else []
        self.excluded_slo_alerts = dropped
        self.scale = TimeScale(time_scale, time.time())
        self.engine = Engine(self.slos, step_seconds=_STEP_SECONDS) if self.slos else None
        self.sampler = Sampler(self.slos, _STEP_SECONDS, use_promql=False)
        self.queries = self.sampler.queries()
        self.last: Evaluation | None = None
        self._since: dict[AlertInstance, float] = {}
        self._history: deque[tuple[float, _Snapshot]] = deque()
        self._readings: dict[str, SLOReading] = {}
        self._now = 0.0

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
        samples, failed = self._scrape()
        return self.evaluate(time.time(), samples, broker_up=BROKER_JOB not in failed)

    def evaluate(self, now: float, samples: list[Sample], broker_up: bool) -> set[AlertInstance]:
        """The alert instances firing at ``now`` (seconds, the clock of earlier calls),
        given one scrape of every target; called once per poll, in time order."""
        snapshot = _Snapshot(samples, broker_up)
        self._history.append((now, snapshot))
        while self._history and now - self._history[0][0] > 3600:
            self._history.popleft()
        self._now = now
        conditions = self._slo_alerts(now, samples)
        for twin in self.twins:
            for labels in twin.condition(snapshot):
                instance = AlertInstance.of(twin.alert, {**labels, "severity": twin.severity})
                conditions[instance] = for_seconds(twin.hold, self.time_scale)
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

    def known_alerts(self) -> set[str]:
        names = {w.alert for w in self.twins}
        return names | {s.alerting.name for s in self.slos} - self.excluded_slo_alerts

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
            if slo.alerting.name in self.excluded_slo_alerts:
                continue
            severities: tuple[tuple[Severity, bool], ...] = (
                (SEVERITY_PAGE, bool(ev.page[i])),
                (SEVERITY_TICKET, bool(ev.ticket[i])),
            )
            for severity, on in severities:
                if on:
                    labels = {**dict(slo.labels), **slo_labels(slo), **alert_labels(slo, severity)}
                    out[AlertInstance.of(slo.alerting.name, labels)] = 0.0
        return out

    # --- the pack's broker alerts, as Python --------------------------------------------
    def _twins(self) -> list[_Twin]:
        t = self.t
        keys = ("cluster", "group", "topic")

        def unreachable(snap: _Snapshot) -> list[Labels]:
            return [] if snap.broker_up else [{"job": BROKER_JOB}]

        def storage(snap: _Snapshot) -> list[Labels]:
            rows = self._increase(m.STORAGE_ERRORS.name, ("cluster", "broker"))
            return [labels for labels, v in rows if v > 0]

        def lag(snap: _Snapshot) -> list[Labels]:
            rows = snap.by(m.GROUP_LAG_SECONDS.name, keys, max)
            return [labels for labels, v in rows if v > t.lag_sla_seconds]

        def status(snap: _Snapshot) -> list[Labels]:
            rows = snap.by(m.GROUP_PARTITION_STATUS.name, keys, max)
            return [labels for labels, v in rows if v >= int(LagStatus.STALL)]

        def headroom(limit: float) -> Callable[[_Snapshot], list[Labels]]:
            def check(snap: _Snapshot) -> list[Labels]:
                rows = snap.by(m.GROUP_RETENTION_HEADROOM.name, keys, min)
                return [labels for labels, v in rows if v < limit]

            return check

        page: Severity = SEVERITY_PAGE
        ticket: Severity = SEVERITY_TICKET
        return [
            _Twin(a.BROKER_UNREACHABLE, page, t.broker_unreachable_for, unreachable),
            _Twin(a.BROKER_STORAGE_ERRORS, page, t.storage_errors_for, storage),
            _Twin(a.CONSUMER_LAG_BEYOND_SLA, page, t.lag_sla_for, lag),
            _Twin(a.CONSUMER_LAG_STATUS, ticket, t.lag_status_for, status),
            _Twin(
                a.RETENTION_HEADROOM_LOW,
                page,
                t.retention_headroom_for,
                headroom(t.retention_headroom_page_seconds),
            ),
            _Twin(
                a.RETENTION_HEADROOM_LOW,
                ticket,
                t.retention_headroom_for,
                headroom(t.retention_headroom_ticket_seconds),
            ),
            _Twin(a.PARTITION_HOT_SPOT, ticket, t.hot_partition_for, self._hot_topics),
        ]

    def _window(self, nominal_seconds: int) -> tuple[float, _Snapshot] | None:
        """The oldest snapshot within a compressed window (for rates and increases)."""
        span = self.scale.real_seconds(nominal_seconds)
        for t, snap in self._history:
            if self._now - t <= span:
                return (t, snap) if self._now - t > 0 else None
        return None

    def _increase(self, name: str, keys: Sequence[str]) -> list[tuple[Labels, float]]:
        then = self._window(300)
        if then is None:
            return []
        current = {_key(lb): v for lb, v in self._history[-1][1].by(name, keys, sum)}
        before = {_key(lb): v for lb, v in then[1].by(name, keys, sum)}
        out = []
        for key, value in current.items():
            delta = value - before.get(key, value)
            out.append((dict(key), delta if delta >= 0 else value))
        return out

    def _hot_topics(self, snap: _Snapshot) -> list[Labels]:
        then = self._window(600)
        if then is None:
            return []
        t0, old = then
        seconds = self._now - t0
        metric = m.PARTITION_BYTES_APPENDED.name
        keys = ("cluster", "topic", "partition")
        before = {_key(lb): v for lb, v in old.by(metric, keys, sum)}
        rates: dict[tuple[str, str], list[float]] = defaultdict(list)
        for lb, v in snap.by(metric, keys, sum):
            if _key(lb) in before:
                delta = v - before[_key(lb)]
                rates[(lb["cluster"], lb["topic"])].append((delta if delta >= 0 else v) / seconds)
        skew, floor = self.t.hot_partition_skew_ratio, self.t.hot_partition_min_bytes_per_second
        return [
            {"cluster": cluster, "topic": topic}
            for (cluster, topic), r in rates.items()
            if r and sum(r) > floor and max(r) / (sum(r) / len(r)) >= skew
        ]


def _key(labels: Labels) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))
