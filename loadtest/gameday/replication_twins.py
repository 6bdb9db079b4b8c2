"""Python twins of the alert pack's replication alerts (alerts/replication.py), for game
days without Prometheus.

Twinned: offline partitions, under min ISR, active controller count, under-replicated
partitions, follower lag, broker fenced: the alerts a broker failure in a three-broker
game day raises. Each reads only the last scrape of every broker (instant selectors),
with the rule's own aggregation, so each is a pure function of the samples: partition
state is deduplicated over the reporting brokers (``max by (cluster, topic,
partition)``) and counted per topic; controllers are summed per cluster; follower lag is
the worst partition per follower. The ``for`` of each is applied by
:class:`loadtest.gameday.twins.AlertTwins`, which evaluates these with its own twins.
ISR flapping and unclean elections (counter increases) need Prometheus.
``tests/loadtest/test_twins.py`` proves every twin equal to ``promtool test rules`` on the
pack's generated rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from broker.metrics import replication_catalog as r
from contracts import alerts as a
from contracts.alerts import AlertThresholds
from contracts.metrics import MetricSpec
from slo.conventions import SEVERITY_PAGE, SEVERITY_TICKET, Severity
from slo.sources.samples import Sample

__all__ = ["REPLICATION_TWINS", "ReplicationTwin", "SamplesByName"]

Labels = dict[str, str]
SamplesByName = Mapping[str, Sequence[Sample]]
_PARTITION: Final = ("cluster", "topic", "partition")
_Key = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReplicationTwin:
    """One replication alert's twin: the labels of the instances whose condition holds
    in one scrape, and the alert's ``for`` (nominal) from the thresholds."""

    alert: str
    severity: Severity
    hold: Callable[[AlertThresholds], str]
    condition: Callable[[SamplesByName, AlertThresholds], list[Labels]]


def _by(
    samples: SamplesByName,
    spec: MetricSpec,
    keys: Sequence[str],
    agg: Callable[[Iterable[float]], float],
) -> dict[_Key, float]:
    """``agg by (keys) (spec)`` over one scrape."""
    groups: dict[_Key, list[float]] = defaultdict(list)
    for s in samples.get(spec.name, ()):
        groups[tuple(s.labels.get(k, "") for k in keys)].append(s.value)
    return {key: agg(values) for key, values in groups.items()}


def _partitions_where(samples: SamplesByName, spec: MetricSpec) -> set[_Key]:
    """``max by (cluster, topic, partition) (spec) == 1``."""
    return {key for key, value in _by(samples, spec, _PARTITION, max).items() if value == 1}


def _per_topic(partitions: Iterable[_Key]) -> list[Labels]:
    """``count by (cluster, topic)``: one instance per topic with such partitions."""
    return [{"cluster": c, "topic": t} for c, t in sorted({(c, t) for c, t, _ in partitions})]


def _offline(samples: SamplesByName, _: AlertThresholds) -> list[Labels]:
    return _per_topic(_partitions_where(samples, r.PARTITION_OFFLINE))


def _under_min_isr(samples: SamplesByName, _: AlertThresholds) -> list[Labels]:
    under = _partitions_where(samples, r.PARTITION_UNDER_MIN_ISR)
    return _per_topic(under - _partitions_where(samples, r.PARTITION_OFFLINE))


def _under_replicated(samples: SamplesByName, _: AlertThresholds) -> list[Labels]:
    return _per_topic(_partitions_where(samples, r.PARTITION_UNDER_REPLICATED))


def _controller_count(samples: SamplesByName, _: AlertThresholds) -> list[Labels]:
    active = _by(samples, r.CONTROLLER_ACTIVE, ("cluster",), sum)
    return [{"cluster": c} for (c,), count in sorted(active.items()) if count != 1]


def _follower_lag(samples: SamplesByName, t: AlertThresholds) -> list[Labels]:
    lag = _by(samples, r.REPLICA_LAG_SECONDS, ("cluster", "replica"), max)
    return [
        {"cluster": c, "replica": replica}
        for (c, replica), seconds in sorted(lag.items())
        if seconds > t.follower_lag_seconds
    ]


def _fenced(samples: SamplesByName, _: AlertThresholds) -> list[Labels]:
    fenced = _by(samples, r.CONTROLLER_BROKER_FENCED, ("cluster", "node"), max)
    return [
        {"cluster": c, "node": node} for (c, node), value in sorted(fenced.items()) if value == 1
    ]


REPLICATION_TWINS: Final = (
    ReplicationTwin(
        a.OFFLINE_PARTITIONS, SEVERITY_PAGE, lambda t: t.offline_partitions_for, _offline
    ),
    ReplicationTwin(a.UNDER_MIN_ISR, SEVERITY_PAGE, lambda t: t.under_min_isr_for, _under_min_isr),
    ReplicationTwin(
        a.ACTIVE_CONTROLLER_COUNT,
        SEVERITY_PAGE,
        lambda t: t.active_controller_count_for,
        _controller_count,
    ),
    ReplicationTwin(
        a.UNDER_REPLICATED_PARTITIONS,
        SEVERITY_TICKET,
        lambda t: t.under_replicated_for,
        _under_replicated,
    ),
    ReplicationTwin(
        a.FOLLOWER_LAG_HIGH, SEVERITY_TICKET, lambda t: t.follower_lag_for, _follower_lag
    ),
    ReplicationTwin(a.BROKER_FENCED, SEVERITY_TICKET, lambda t: t.broker_fenced_for, _fenced),
)
