"""The in-process evaluator: no Prometheus needed.

Each poll scrapes every target's ``/metrics`` and

- advances the SLO engine (:mod:`slo.engine`) on compressed time: at a time scale ``f``
  the engine gets one 60 s step every ``60 / f`` real seconds (:class:`slo.timescale.
  TimeScale`), so its windows, periods and alerts behave as they do in the compressed
  Prometheus rules; page and ticket alerts carry the generated rules' names and labels;
- evaluates the Python twins of the alert pack's broker alerts
  (:mod:`loadtest.gameday.twins`: unreachable, storage errors, lag beyond SLA, lag
  status, retention headroom, partition hot spot, and offline partitions, under min ISR,
  active controller count, under-replicated partitions, follower lag, broker fenced)
  with the same thresholds, compressed the same way (ranges, ``for`` and ages divided by
  ``f``).

The pack's other alerts (slow flushes, truncated recovery, request errors, auth
failures, ISR flapping, unclean elections, probe alerts) and extra rule files of a
scenario need Prometheus.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from typing import Final

import numpy as np

from contracts.alerts import AlertThresholds
from contracts.scrape import BROKER_JOB
from loadtest.gameday.alerting import Targets
from loadtest.gameday.observations import AlertInstance, SLOReading
from loadtest.gameday.rules import compressed_thresholds, pack_slos
from loadtest.gameday.twins import AlertTwins
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
        self.twins = AlertTwins(self.t, time_scale, dropped) if pack else None
        self.excluded_slo_alerts = dropped
        self.scale = TimeScale(time_scale, time.time())
        self.engine = Engine(self.slos, step_seconds=_STEP_SECONDS) if self.slos else None
        self.sampler = Sampler(self.slos, _STEP_SECONDS, use_promql=False)
        self.queries = self.sampler.queries()
        self.last: Evaluation | None = None
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
        samples, failed = self._scrape()
        now = time.time()
        firing = self._slo_alerts(now, samples)
        if self.twins is not None:
            firing |= self.twins.evaluate(now, samples, broker_up=BROKER_JOB not in failed)
        return firing

    def slo_readings(self) -> dict[str, SLOReading]:
        return dict(self._readings)

    def known_alerts(self) -> set[str]:
        names = self.twins.names if self.twins is not None else set()
        return names | {s.alerting.name for s in self.slos} - self.excluded_slo_alerts

    def _slo_alerts(self, now: float, samples: list[Sample]) -> set[AlertInstance]:
        """The SLO alerts firing now (they have no ``for``: the engine's multiwindow
        conditions are the whole rule)."""
        out: set[AlertInstance] = set()
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
                    out.add(AlertInstance.of(slo.alerting.name, labels))
        return out
