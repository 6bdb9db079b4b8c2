"""Python twins of the alert pack's broker alerts, for game days without Prometheus.

Each twin evaluates one rule of :mod:`alerts.infrastructure` on scraped samples, with the
same thresholds and the same semantics as Prometheus, compressed by the game day's time
scale (ranges and ``for`` divided by it; the ages among the thresholds come compressed):

- instant selectors read the last scrape (a series gone from a scrape is gone, as
  Prometheus' staleness markers make it);
- ``rate``/``increase`` are Prometheus' extrapolated rate over the samples of the range
  (both ends included, as in Prometheus 2.x), per series, before aggregation;
- an alert fires once its condition has held at every poll for its ``for`` duration.

Twinned: broker unreachable, storage errors, lag beyond the SLA, lag status, retention
headroom (page and ticket), partition hot spot, and the replication alerts of
:mod:`loadtest.gameday.replication_twins` (offline partitions, under min ISR, active
controller count, under-replicated partitions, follower lag, broker fenced). The pack's
other alerts need Prometheus.
``tests/loadtest/test_twins.py`` feeds the same series to each twin and to ``promtool
test rules`` with the pack's generated rule, and requires the same alerts at every
minute it checks. Pure: times and samples in, alert instances out.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from broker.metrics import catalog as m
from contracts import alerts as a
from contracts.alerts import AlertThresholds
from contracts.lag.status import LagStatus
from contracts.scrape import BROKER_JOB
from loadtest.gameday.observations import AlertInstance
from loadtest.gameday.replication_twins import REPLICATION_TWINS, ReplicationTwin
from loadtest.gameday.rules import for_seconds
from slo.conventions import SEVERITY_PAGE, SEVERITY_TICKET, Severity
from slo.sources.samples import Sample

__all__ = ["AlertTwins", "extrapolated_increase"]

Labels = dict[str, str]
SeriesKey = tuple[tuple[str, str], ...]
# Snapshots older than the longest range any twin reads are dropped.
_HISTORY_SECONDS: Final = 3600
# The pack's ranges (alerts/infrastructure.py): increases over 5m, rates over 10m.
_INCREASE_SECONDS: Final = 300
_HOT_RATE_SECONDS: Final = 600
_GROUP_KEYS: Final = ("cluster", "group", "topic")


class _Snapshot:
    """One poll: samples by name and whether the broker answered."""

    def __init__(self, samples: Iterable[Sample], broker_up: bool) -> None:
        self.broker_up = broker_up
        self.by_name: dict[str, list[Sample]] = defaultdict(list)
        for s in samples:
            self.by_name[s.name].append(s)

    def by(
        self, name: str, keys: Sequence[str], agg: Callable[[list[float]], float]
    ) -> dict[SeriesKey, float]:
        """``agg by (keys) (name)``, keyed by the sorted (label, value) pairs."""
        groups: dict[SeriesKey, list[float]] = defaultdict(list)
        for s in self.by_name.get(name, []):
            groups[_key({k: s.labels.get(k, "") for k in keys})].append(s.value)
        return {k: agg(v) for k, v in groups.items()}


@dataclass(frozen=True, slots=True)
class _Twin:
    """A Python twin of one pack alert: labels of the instances whose condition holds."""

    alert: str
    severity: Severity
    hold: str  # the pack's ``for`` (nominal)
    condition: Callable[[], list[Labels]]


def extrapolated_increase(points: Sequence[tuple[float, float]], start: float, end: float) -> float:
    """Prometheus' ``increase`` of a counter over [start, end] from its ``points`` (time,
    value) in that range, two at least: resets add the value before them, and the
    increase is extrapolated towards the range's ends (to an end within 1.1 average
    sample intervals, else by half an interval; never below a zero counter value)."""
    (first_t, first_v), (last_t, last_v) = points[0], points[-1]
    result = last_v - first_v
    previous = 0.0
    for _, value in points:
        if value < previous:
            result += previous
        previous = value
    sampled = last_t - first_t
    average = sampled / (len(points) - 1)
    to_start, to_end = first_t - start, end - last_t
    if result > 0 and first_v >= 0:
        to_start = min(to_start, sampled * (first_v / result))
    threshold = average * 1.1
    interval = sampled
    interval += to_start if to_start < threshold else average / 2
    interval += to_end if to_end < threshold else average / 2
    return result * (interval / sampled)


class AlertTwins:
    """The twins of one game day (``exclude``: alert names to leave out), fed one poll at
    a time by :meth:`evaluate`. ``thresholds`` are already compressed (see
    :func:`loadtest.gameday.rules.compressed_thresholds`)."""

    def __init__(
        self, thresholds: AlertThresholds, time_scale: float, exclude: Iterable[str] = ()
    ) -> None:
        self.t = thresholds
        self.time_scale = time_scale
        dropped = set(exclude)
        self.twins = [w for w in self._twins() if w.alert not in dropped]
        self._history: deque[tuple[float, _Snapshot]] = deque()
        self._since: dict[AlertInstance, float] = {}

    @property
    def names(self) -> set[str]:
        return {w.alert for w in self.twins}

    def evaluate(
        self, now: float, samples: Iterable[Sample], broker_up: bool
    ) -> set[AlertInstance]:
        """The instances firing at ``now`` (seconds), given one scrape of every target;
        called once per poll, in time order."""
        self._history.append((now, _Snapshot(samples, broker_up)))
        while now - self._history[0][0] > _HISTORY_SECONDS / self.time_scale:
            self._history.popleft()
        holding: dict[AlertInstance, float] = {}
        for twin in self.twins:
            for labels in twin.condition():
                instance = AlertInstance.of(twin.alert, {**labels, "severity": twin.severity})
                holding[instance] = for_seconds(twin.hold, self.time_scale)
        for instance in list(self._since):
            if instance not in holding:
                del self._since[instance]
        firing = set()
        for instance, hold in holding.items():
            since = self._since.setdefault(instance, now)
            if now - since >= hold:
                firing.add(instance)
        return firing

    # --- PromQL over the history ----------------------------------------------------------
    @property
    def _now(self) -> float:
        return self._history[-1][0]

    @property
    def _last(self) -> _Snapshot:
        return self._history[-1][1]

    def _increase_by(
        self, name: str, keys: Sequence[str], nominal_seconds: int
    ) -> dict[SeriesKey, float]:
        """``sum by (keys) (increase(name[range]))`` at the last poll."""
        end = self._now
        start = end - nominal_seconds / self.time_scale
        points: dict[SeriesKey, list[tuple[float, float]]] = defaultdict(list)
        for t, snapshot in self._history:
            if t >= start:
                for s in snapshot.by_name.get(name, []):
                    points[_key(s.labels)].append((t, s.value))
        out: dict[SeriesKey, float] = defaultdict(float)
        for series, values in points.items():
            if len(values) >= 2:
                labels = dict(series)
                group = _key({k: labels.get(k, "") for k in keys})
                out[group] += extrapolated_increase(values, start, end)
        return out

    # --- the pack's broker alerts ----------------------------------------------------------
    def _unreachable(self) -> list[Labels]:
        return [] if self._last.broker_up else [{"job": BROKER_JOB}]

    def _storage_errors(self) -> list[Labels]:
        rows = self._increase_by(m.STORAGE_ERRORS.name, ("cluster", "broker"), _INCREASE_SECONDS)
        return [dict(k) for k, v in rows.items() if v > 0]

    def _lag_beyond_sla(self) -> list[Labels]:
        rows = self._last.by(m.GROUP_LAG_SECONDS.name, _GROUP_KEYS, max)
        return [dict(k) for k, v in rows.items() if v > self.t.lag_sla_seconds]

    def _lag_status(self) -> list[Labels]:
        rows = self._last.by(m.GROUP_PARTITION_STATUS.name, _GROUP_KEYS, max)
        return [dict(k) for k, v in rows.items() if v >= int(LagStatus.STALL)]

    def _headroom_below(self, limit: float) -> Callable[[], list[Labels]]:
        def check() -> list[Labels]:
            rows = self._last.by(m.GROUP_RETENTION_HEADROOM.name, _GROUP_KEYS, min)
            beyond_sla = {_key(labels) for labels in self._lag_beyond_sla()}
            return [dict(k) for k, v in rows.items() if v < limit and k in beyond_sla]

        return check

    def _hot_topics(self) -> list[Labels]:
        keys = ("cluster", "topic", "partition")
        increases = self._increase_by(m.PARTITION_BYTES_APPENDED.name, keys, _HOT_RATE_SECONDS)
        seconds = _HOT_RATE_SECONDS / self.time_scale
        rates: dict[tuple[str, str], list[float]] = defaultdict(list)
        for series, increase in increases.items():
            labels = dict(series)
            rates[(labels["cluster"], labels["topic"])].append(increase / seconds)
        skew, floor = self.t.hot_partition_skew_ratio, self.t.hot_partition_min_bytes_per_second
        return [
            {"cluster": cluster, "topic": topic}
            for (cluster, topic), r in rates.items()
            if sum(r) > max(floor, 0.0) and max(r) / (sum(r) / len(r)) >= skew
        ]

    def _replication(self, twin: ReplicationTwin) -> _Twin:
        def condition() -> list[Labels]:
            return twin.condition(self._last.by, self.t)

        return _Twin(twin.alert, twin.severity, twin.hold(self.t), condition)

    def _twins(self) -> list[_Twin]:
        t = self.t
        page: Severity = SEVERITY_PAGE
        ticket: Severity = SEVERITY_TICKET
        return [
            _Twin(a.BROKER_UNREACHABLE, page, t.broker_unreachable_for, self._unreachable),
            _Twin(a.BROKER_STORAGE_ERRORS, page, t.storage_errors_for, self._storage_errors),
            _Twin(a.CONSUMER_LAG_BEYOND_SLA, page, t.lag_sla_for, self._lag_beyond_sla),
            _Twin(a.CONSUMER_LAG_STATUS, ticket, t.lag_status_for, self._lag_status),
            _Twin(
                a.RETENTION_HEADROOM_LOW,
                page,
                t.retention_headroom_for,
                self._headroom_below(t.retention_headroom_page_seconds),
            ),
            _Twin(
                a.RETENTION_HEADROOM_LOW,
                ticket,
                t.retention_headroom_for,
                self._headroom_below(t.retention_headroom_ticket_seconds),
            ),
            _Twin(a.PARTITION_HOT_SPOT, ticket, t.hot_partition_for, self._hot_topics),
            *(self._replication(twin) for twin in REPLICATION_TWINS),
        ]


def _key(labels: Labels) -> SeriesKey:
    return tuple(sorted(labels.items()))
