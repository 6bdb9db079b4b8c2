"""Replication alerts (issue 13) on the broker's replication, controller and quorum
metrics (catalog: broker/metrics/replication_catalog.py).

Pages when users lose service or data now: a partition without a leader, a partition
whose ISR is below ``min.insync.replicas`` (acks=all produce refused), no active
controller or more than one, an unclean leader election. Tickets for a degraded but
serving cluster: partitions under-replicated longer than a broker restart takes, a
follower far behind, ISRs flapping, a broker fenced by the controller.

Every expression follows the catalog's reporting model:

- partition state comes from the active controller, one series per partition; the
  reporting broker (``broker``, ``instance``) is aggregated away with ``max by (cluster,
  topic, partition)`` so a controller move never counts a partition twice, then counted
  per topic (the alerts say which topic; Alertmanager groups by it);
- follower lag comes from each partition's leader with the follower's node id in
  ``replica``; the alert names the follower (its worst partition);
- per-broker counters (ISR shrinks and expands) are each broker about the partitions it
  leads;
- controller gauges are the active controller's view; ``active`` is reported by every
  node, so its sum over a cluster's brokers is the number of active controllers. When no
  broker of a cluster answers, there is no series at all and this alert is silent:
  :data:`contracts.alerts.BROKER_UNREACHABLE` pages for each of them instead.

:data:`DOWN_BROKER_TICKETS` are the tickets a down broker causes by itself; Alertmanager
inhibits them while the broker is unreachable (alerts/alertmanager.py), never the pages.
"""

from __future__ import annotations

from typing import Final

from alerts.rule import AlertRule
from alerts.rule import promql_number as _g
from broker.metrics import replication_catalog as r
from contracts import alerts as a
from contracts.alerts import DASHBOARD_DEBUG, DASHBOARD_EXECUTIVE, DASHBOARD_ONCALL, AlertThresholds
from contracts.metrics import MetricSpec
from contracts.promql import selector
from slo.conventions import SEVERITY_PAGE, SEVERITY_TICKET

__all__ = [
    "DOWN_BROKER_TICKETS",
    "ISR_SHRINKING_WINDOW",
    "REPLICATION_GROUP",
    "replication_alerts",
]

REPLICATION_GROUP: Final = "tidewatch-replication"
# Tickets that follow from a broker being down (its partitions lose a replica, its
# follower lag grows, the controller fences it, ISRs shrink): silenced while it is.
DOWN_BROKER_TICKETS: Final = (
    a.UNDER_REPLICATED_PARTITIONS,
    a.FOLLOWER_LAG_HIGH,
    a.ISR_FLAPPING,
    a.BROKER_FENCED,
)
# ISRs "flap" only while shrinks keep coming: a single broker restart shrinks and then
# expands every ISR it was in once, a burst that leaves this window before the flapping
# alert's ``for`` has passed, however many partitions the burst touched.
ISR_SHRINKING_WINDOW: Final = "5m"
_PARTITION: Final = "cluster, topic, partition"
_TOPIC_TEMPLATE: Final = "{{ $labels.topic }}"


def _partitions_where(spec: MetricSpec) -> str:
    """Partitions (one series each, whichever broker reports it) whose ``spec`` is 1."""
    return f"max by ({_PARTITION}) ({selector(spec)}) == 1"


def _per_topic(partitions: str) -> str:
    return f"count by (cluster, topic) (\n  {partitions}\n)"


def _partition_pages(t: AlertThresholds) -> list[AlertRule]:
    offline = _partitions_where(r.PARTITION_OFFLINE)
    return [
        AlertRule(
            name=a.OFFLINE_PARTITIONS,
            severity=SEVERITY_PAGE,
            expr=_per_topic(offline),
            for_=t.offline_partitions_for,
            summary=(
                "{{ $value | humanize }} partition(s) of topic "
                f"{_TOPIC_TEMPLATE} on cluster {{{{ $labels.cluster }}}} have no leader."
            ),
            description=(
                f"For {t.offline_partitions_for} no replica of these partitions has been "
                "elected leader: every replica is down or fenced, or (unclean election "
                "being off) none of the live ones was in the ISR. Producers and consumers of "
                "these partitions fail. Bring back a replica that was in the ISR (runbook)."
            ),
            runbook="offline-partitions",
            dashboard=f"{DASHBOARD_ONCALL} / Offline partitions",
        ),
        AlertRule(
            name=a.UNDER_MIN_ISR,
            severity=SEVERITY_PAGE,
            expr=_per_topic(
                f"{_partitions_where(r.PARTITION_UNDER_MIN_ISR)}\n"
                f"  unless on ({_PARTITION})\n  {offline}"
            ),
            for_=t.under_min_isr_for,
            summary=(
                "{{ $value | humanize }} partition(s) of topic "
                f"{_TOPIC_TEMPLATE} on cluster {{{{ $labels.cluster }}}} are below "
                "min.insync.replicas."
            ),
            description=(
                f"For {t.under_min_isr_for} these partitions have had fewer in-sync replicas "
                "than their min.insync.replicas: acks=all producers get NOT_ENOUGH_REPLICAS "
                "and their records are not written (acks=1 producers still write, with less "
                "protection). Offline partitions page separately. Find the replicas that "
                "left the ISR and bring them back (runbook)."
            ),
            runbook="under-min-isr",
            dashboard=f"{DASHBOARD_ONCALL} / Partitions under min ISR",
        ),
    ]


def _controller_pages(t: AlertThresholds) -> list[AlertRule]:
    active = selector(r.CONTROLLER_ACTIVE)
    unclean = selector(r.CONTROLLER_LEADER_ELECTIONS, kind="unclean")
    window = t.unclean_election_window
    return [
        AlertRule(
            name=a.ACTIVE_CONTROLLER_COUNT,
            severity=SEVERITY_PAGE,
            expr=f"sum by (cluster) ({active}) != 1",
            for_=t.active_controller_count_for,
            summary=(
                "Cluster {{ $labels.cluster }} has "
                "{{ if eq $value 0.0 }}no active controller"
                "{{ else }}{{ $value | humanize }} active controllers{{ end }}."
            ),
            description=(
                f"For {t.active_controller_count_for} the brokers Prometheus can scrape have "
                "not reported exactly one active controller. With none, nothing elects "
                "leaders, fences dead brokers or changes ISRs: the next broker failure makes "
                "its partitions unavailable, and topic changes fail. More than one means two "
                "nodes believe they lead the metadata quorum. Check the quorum (runbook)."
            ),
            runbook="active-controller-count",
            dashboard=f"{DASHBOARD_EXECUTIVE} / Brokers and controller",
        ),
        AlertRule(
            name=a.UNCLEAN_LEADER_ELECTION,
            severity=SEVERITY_PAGE,
            # A counter born at its first unclean election (a new controller's, say)
            # has no earlier sample for increase(): the second branch catches it.
            expr=(
                f"sum by (cluster) (increase({unclean}[{window}])) > 0\n"
                f"or\nsum by (cluster) ({unclean} unless {unclean} offset {window}) > 0"
            ),
            summary=(
                "Cluster {{ $labels.cluster }} elected {{ $value | humanize }} partition "
                f"leader(s) from outside the ISR in the last {window}."
            ),
            description=(
                "A topic with unclean.leader.election.enable=true lost every in-sync "
                "replica, and the controller made an out-of-sync replica leader to keep the "
                "partition available. Records acknowledged by the old leader that the new "
                "one never had are gone for good, and consumers may have read records that "
                f"no longer exist. Resolves by itself {window} after the election. Find the "
                "partitions and tell their owners (runbook)."
            ),
            runbook="unclean-leader-election",
            dashboard=f"{DASHBOARD_DEBUG} / Replica detail",
        ),
    ]


def _replication_tickets(t: AlertThresholds) -> list[AlertRule]:
    lag = selector(r.REPLICA_LAG_SECONDS)
    return [
        AlertRule(
            name=a.UNDER_REPLICATED_PARTITIONS,
            severity=SEVERITY_TICKET,
            expr=_per_topic(_partitions_where(r.PARTITION_UNDER_REPLICATED)),
            for_=t.under_replicated_for,
            summary=(
                "{{ $value | humanize }} partition(s) of topic "
                f"{_TOPIC_TEMPLATE} on cluster {{{{ $labels.cluster }}}} are under-replicated."
            ),
            description=(
                f"For {t.under_replicated_for} (longer than a broker restart takes) these "
                "partitions have had fewer in-sync replicas than replicas. They still serve, "
                "but one more failure may take them below min.insync.replicas or offline. "
                "Find the missing replica's broker (runbook). Silenced while a broker of the "
                "cluster is unreachable."
            ),
            runbook="under-replicated-partitions",
            dashboard=f"{DASHBOARD_ONCALL} / Under-replicated partitions",
        ),
        AlertRule(
            name=a.FOLLOWER_LAG_HIGH,
            severity=SEVERITY_TICKET,
            expr=f"max by (cluster, replica) ({lag}) > {_g(t.follower_lag_seconds)}",
            for_=t.follower_lag_for,
            summary=(
                "Follower broker {{ $labels.replica }} of cluster {{ $labels.cluster }} is "
                "{{ $value | humanizeDuration }} behind its leader."
            ),
            description=(
                "The oldest record broker {{ $labels.replica }} does not have yet, on its "
                f"worst partition, was written more than {_g(t.follower_lag_seconds)}s ago, "
                f"for {t.follower_lag_for}. It is (or soon will be) out of the ISR, so its "
                "partitions lose a replica's protection. Usually a slow disk or network, or "
                "an overloaded broker (runbook). Silenced while a broker of the cluster is "
                "unreachable."
            ),
            runbook="follower-lag-high",
            dashboard=f"{DASHBOARD_ONCALL} / Follower lag (seconds) by broker",
        ),
    ]


def _broker_tickets(t: AlertThresholds) -> list[AlertRule]:
    window = t.isr_flapping_window
    shrinks, expands = selector(r.BROKER_ISR_SHRINKS), selector(r.BROKER_ISR_EXPANDS)
    changes = (
        f"  sum by (cluster, broker) (increase({shrinks}[{window}]))\n"
        f"+\n  sum by (cluster, broker) (increase({expands}[{window}]))"
    )
    still_shrinking = f"sum by (cluster, broker) (increase({shrinks}[{ISR_SHRINKING_WINDOW}])) > 0"
    fenced = selector(r.CONTROLLER_BROKER_FENCED)
    return [
        AlertRule(
            name=a.ISR_FLAPPING,
            severity=SEVERITY_TICKET,
            expr=(
                f"(\n{changes}\n) >= {_g(t.isr_flapping_changes)}\n"
                f"and on (cluster, broker)\n  {still_shrinking}"
            ),
            for_=t.isr_flapping_for,
            summary=(
                "ISRs of partitions led by broker {{ $labels.broker }} of cluster "
                "{{ $labels.cluster }} changed {{ $value | humanize }} times in "
                f"{window}."
            ),
            description=(
                f"At least {_g(t.isr_flapping_changes)} ISR shrinks and expands in {window}, "
                f"and still shrinking after {t.isr_flapping_for}: followers keep dropping out "
                "of the ISR and catching up again (one restart shrinks and expands once). "
                "Each shrink briefly leaves partitions with less protection. Usually a "
                "follower at the edge of replica_lag_time_max_ms: slow disk, network loss "
                "or GC pauses (runbook). Silenced while a broker of the cluster is "
                "unreachable."
            ),
            runbook="isr-flapping",
            dashboard=f"{DASHBOARD_ONCALL} / ISR shrinks and expands",
        ),
        AlertRule(
            name=a.BROKER_FENCED,
            severity=SEVERITY_TICKET,
            expr=f"max by (cluster, node) ({fenced}) == 1",
            for_=t.broker_fenced_for,
            summary=(
                "Broker {{ $labels.node }} of cluster {{ $labels.cluster }} is fenced by "
                "the controller."
            ),
            description=(
                f"For {t.broker_fenced_for} the controller has kept broker "
                "{{ $labels.node }} fenced: it missed its heartbeats (down, paused, or cut "
                "off from the controller) or has not caught up since it started. A fenced "
                "broker leads nothing and is in no ISR. If it is up and serving clients, it "
                "cannot reach the controller (runbook). Silenced while a broker of the "
                "cluster is unreachable."
            ),
            runbook="broker-fenced",
            dashboard=f"{DASHBOARD_EXECUTIVE} / Brokers and controller",
        ),
    ]


def replication_alerts(t: AlertThresholds | None = None) -> list[AlertRule]:
    """The replication group's rules: pages first, then tickets."""
    t = t or AlertThresholds()
    return [
        *_partition_pages(t),
        *_controller_pages(t),
        *_replication_tickets(t),
        *_broker_tickets(t),
    ]
