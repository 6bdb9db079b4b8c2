"""Expose the latest evaluation as Prometheus metrics, from the catalog in conventions.

A custom collector reads the evaluation arrays at scrape time (no per-SLO Gauge
children to keep in sync); every metric it yields is declared in
:data:`slo.conventions.ENGINE_METRICS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from contracts.durations import format_duration
from contracts.metrics import MetricSpec
from slo import conventions as c
from slo.alerts import slo_labels
from slo.engine import Evaluation
from slo.model import SLO

__all__ = ["EngineCollector", "Snapshot"]

Snapshot = tuple[Sequence[SLO], Evaluation | None, float]


def _family(spec: MetricSpec) -> GaugeMetricFamily:
    return GaugeMetricFamily(spec.name, spec.help, labels=list(spec.labels), unit="")


class EngineCollector(Collector):
    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self.snapshot = snapshot

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        slos, ev, tick_seconds = self.snapshot()
        f = {
            spec.name: _family(spec)
            for spec in c.ENGINE_METRICS
            if spec is not c.METRIC_SLI_ERROR_RATIO
        }
        f[c.METRIC_SLOS.name].add_metric([], float(len(slos)))
        f[c.METRIC_TICK_DURATION.name].add_metric([], tick_seconds)
        if ev is not None:
            for i, slo in enumerate(slos):
                self._add_slo(f, i, slo, ev)
        yield from f.values()

    @staticmethod
    def _add_slo(f: dict[str, GaugeMetricFamily], i: int, slo: SLO, ev: Evaluation) -> None:
        ids = slo_labels(slo)
        key = [ids[name] for name in (c.LABEL_ID, c.LABEL_SERVICE, c.LABEL_SLO)]
        seen: set[str] = set()
        for k, seconds in enumerate(ev.window_seconds[i]):
            window = format_duration(int(seconds))
            if window in seen:
                continue
            seen.add(window)
            name = c.sli_error_ratio_rule(window)
            if name not in f:
                spec = c.METRIC_SLI_ERROR_RATIO
                f[name] = GaugeMetricFamily(name, spec.help, labels=list(spec.labels))
            f[name].add_metric([*key, window], ev.error_ratio[i, k])
            f[c.METRIC_BURN_RATE.name].add_metric([*key, window], ev.burn_rate[i, k])
            f[c.METRIC_DATA_COVERAGE.name].add_metric([*key, window], ev.coverage[i, k])
        budget = slo.error_budget_ratio
        f[c.METRIC_OBJECTIVE.name].add_metric(key, slo.objective_ratio)
        f[c.METRIC_ERROR_BUDGET.name].add_metric(key, budget)
        f[c.METRIC_CURRENT_BURN_RATE.name].add_metric(key, ev.burn_rate[i, 0])
        f[c.METRIC_PERIOD_BURN_RATE.name].add_metric(key, ev.burn_rate[i, -1])
        f[c.METRIC_PERIOD_BUDGET_REMAINING.name].add_metric(key, ev.budget_remaining[i])
        f[c.METRIC_TIME_TO_EXHAUSTION.name].add_metric(key, ev.time_to_exhaustion_seconds[i])
        f[c.METRIC_NO_DATA.name].add_metric(key, float(ev.no_data[i]))
        for severity, firing in ((c.SEVERITY_PAGE, ev.page[i]), (c.SEVERITY_TICKET, ev.ticket[i])):
            windows = ",".join(
                cond.windows
                for j, cond in enumerate(slo.alerting.conditions)
                if cond.severity == severity and ev.condition_firing[i, j]
            )
            f[c.METRIC_ALERT_FIRING.name].add_metric([*key, severity, windows], float(firing))
