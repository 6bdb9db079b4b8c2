"""Python twins of the alert pack's replication alerts (alerts/replication.py), for game
days without Prometheus.

Twinned: offline partitions, under min ISR, active controller count, under-replicated
partitions, follower lag, broker fenced: the alerts a broker failure in a three-broker
game day raises. Each reads only the last scrape of every broker (instant selectors,
through the twins' ``agg by (keys) (name)`` over it) with its rule's aggregation, so
each is a pure function of one scrape: partition state is deduplicated over the
reporting brokers (``max by (cluster, topic, partition)``) and counted per topic;
controllers are summed per cluster; follower lag is the worst partition per follower.
The ``for`` of each is applied by :class:`loadtest.gameday.twins.AlertTwins`, which
evaluates these with its own twins.
ISR flapping and unclean elections (counter increases) need Prometheus.
``tests/loadtest/test_twins.py`` proves every twin equal to ``promtool test rules`` on the
pack's generated rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from broker.metrics import replication_catalog as r
from contracts import alerts as a
from contracts.alerts import AlertThresholds
from contracts.metrics import MetricSpec
from slo.conventions import SEVERITY_PAGE, SEVERITY_TICKET, Severity

__all__ = ["REPLICATION_TWINS", "Aggregate", "ReplicationTwin"]

Labels = dict[str, str]
_Key = tuple[tuple[str, str], ...]
# ``agg by (keys) (name)`` over the last scrape, keyed by the sorted (label, value) pairs
# (loadtest.gameday.twins' snapshot provides it).
Aggregate = Callable[[str, Sequence[str], Callable[[list[float]], float]], Mapping[_Key, float]]
_PARTITION: Final = ("cluster", "topic", "partition")


@dataclass(frozen=True, slots=True)
class ReplicationTwin:
    """One replication alert's twin: the labels of the instances whose condition holds
    in one scrape, and the alert's ``for`` (nominal) from the thresholds."""

    alert: str
    severity: Severity
    hold: Callable[[AlertThresholds], str]
    condition: Callable[[Aggregate, AlertThresholds], list[Labels]]


def _where(
    by: Aggregate,
    spec: MetricSpec,
    keys: Sequence[str],
    agg: Callable[[list[float]], float],
    holds: Callable[[float], bool],
) -> list[Labels]:
    """``agg by (keys) (spec)`` where ``holds``, as label sets in a stable order."""
    return [dict(key) for key, value in sorted(by(spec.name, keys, agg).items()) if holds(value)]


def _partitions_where(by: Aggregate, spec: MetricSpec) -> set[_Key]:
    """``max by (cluster, topic, partition) (spec) == 1``."""
    return {key for key, value in by(spec.name, _PARTITION, max).items() if value == 1}


def _per_topic(partitions: Iterable[_Key]) -> list[Labels]:
    """``count by (cluster, topic)``: one instance per topic with such partitions."""
    topics = {(dict(key)["cluster"], dict(key)["topic"]) for key in partitions}
    return [{"cluster": c, "topic": topic} for c, topic in sorted(topics)]


def _offline(by: Aggregate, _: AlertThresholds) -> list[Labels]:
    return _per_topic(_partitions_where(by, r.PARTITION_OFFLINE))


def _under_min_isr(by: Aggregate, _: AlertThresholds) -> list[Labels]:
    under = _partitions_where(by, r.PARTITION_UNDER_MIN_ISR)
    return _per_topic(under - _partitions_where(by, r.PARTITION_OFFLINE))


def _under_replicated(by: Aggregate, _: AlertThresholds) -> list[Labels]:
    return _per_topic(_partitions_where(by, r.PARTITION_UNDER_REPLICATED))


def _controller_count(by: Aggregate, _: AlertThresholds) -> list[Labels]:
    """``sum by (cluster) (active) != 1``."""
    return _where(by, r.CONTROLLER_ACTIVE, ("cluster",), sum, lambda count: count != 1)


def _follower_lag(by: Aggregate, t: AlertThresholds) -> list[Labels]:
    keys = ("cluster", "replica")
    limit = t.follower_lag_seconds
    return _where(by, r.REPLICA_LAG_SECONDS, keys, max, lambda seconds: seconds > limit)


def _fenced(by: Aggregate, _: AlertThresholds) -> list[Labels]:
    keys = ("cluster", "node")
    return _where(by, r.CONTROLLER_BROKER_FENCED, keys, max, lambda value: value == 1)


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
