"""Infrastructure alerts on the broker's own metrics (catalog: broker/metrics/catalog.py).

Severity follows the alerting guidance: *page* when users cannot produce or consume,
when consumers are behind their SLA for a sustained time, or when data is about to be
lost; *ticket* for everything that needs a human this week rather than tonight.

Every expression is built from catalog spec objects (:func:`contracts.promql.selector`);
names, thresholds and the dashboards the alerts point at come from the alert catalog
(:mod:`contracts.alerts`).
"""

from __future__ import annotations

from typing import Final

from alerts.rule import AlertRule
from alerts.rule import promql_number as _g
from broker.metrics import catalog as m
from contracts import alerts as a
from contracts.alerts import DASHBOARD_DEBUG, DASHBOARD_ONCALL, AlertThresholds
from contracts.lag.status import LagStatus
from contracts.promql import NotRe, Re, regex_union, selector
from contracts.scrape import BROKER_JOB, UP_SERIES
from slo.conventions import SEVERITY_PAGE, SEVERITY_TICKET, Severity

__all__ = ["broker_alerts"]

_RATE: Final = "5m"


def _duration(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


def _availability(t: AlertThresholds) -> list[AlertRule]:
    up = selector(UP_SERIES, job=BROKER_JOB)
    return [
        AlertRule(
            name=a.BROKER_UNREACHABLE,
            severity=SEVERITY_PAGE,
            expr=f"{up} == 0",
            for_=t.broker_unreachable_for,
            summary=(
                "Broker {{ $labels.instance }} of cluster {{ $labels.cluster }} is unreachable."
            ),
            description=(
                "Prometheus has failed to scrape the broker at {{ $labels.instance }} for "
                f"{t.broker_unreachable_for}: the process is down, hung or cut off. Producers "
                "and consumers of this cluster are most likely failing. Check the process "
                "and its log first (runbook)."
            ),
            runbook="broker-unreachable",
            dashboard=f"{DASHBOARD_ONCALL} / Broker up",
        )
    ]


def _disk(t: AlertThresholds) -> list[AlertRule]:
    ratio = m.data_dir_free_ratio(selector(m.DATA_DIR_FREE_BYTES), selector(m.DATA_DIR_SIZE_BYTES))
    levels: list[tuple[Severity, float, str]] = [
        (SEVERITY_PAGE, t.disk_free_page_ratio, t.disk_free_page_for),
        (SEVERITY_TICKET, t.disk_free_ticket_ratio, t.disk_free_ticket_for),
    ]
    return [
        AlertRule(
            name=a.BROKER_DISK_NEARLY_FULL,
            severity=severity,
            expr=f"{ratio} < {_g(limit)}",
            for_=for_,
            summary=(
                "Broker {{ $labels.broker }} of cluster {{ $labels.cluster }}: only "
                "{{ $value | humanizePercentage }} of the data directory's disk is free."
            ),
            description=(
                f"Less than {_g(limit * 100)}% of the file system holding the broker's data "
                f"directory has been free for {for_}. When it fills up, every produce fails "
                "with KAFKA_STORAGE_ERROR. Find what grows and lower retention, or add space "
                "(runbook)."
            ),
            runbook="broker-disk-nearly-full",
            dashboard=f"{DASHBOARD_ONCALL} / Data directory free space",
        )
        for severity, limit, for_ in levels
    ]


def _storage(t: AlertThresholds) -> list[AlertRule]:
    errors = selector(m.STORAGE_ERRORS)
    flush = selector(m.FLUSH_DURATION, "_bucket")
    truncated = selector(m.RECOVERY_TRUNCATED_BYTES)
    return [
        AlertRule(
            name=a.BROKER_STORAGE_ERRORS,
            severity=SEVERITY_PAGE,
            expr=f"sum by (cluster, broker) (increase({errors}[{_RATE}])) > 0",
            for_=t.storage_errors_for,
            summary=(
                "Broker {{ $labels.broker }} of cluster {{ $labels.cluster }} cannot write "
                "to its disk."
            ),
            description=(
                "{{ $value | humanize }} appends or flushes were refused by the disk in the "
                "last 5 minutes (disk full, read-only or failing). Producers get "
                "KAFKA_STORAGE_ERROR and their records are not stored. Free space or "
                "replace the disk (runbook)."
            ),
            runbook="broker-storage-errors",
            dashboard=f"{DASHBOARD_ONCALL} / Storage errors and flush latency",
        ),
        AlertRule(
            name=a.BROKER_FLUSH_SLOW,
            severity=SEVERITY_TICKET,
            expr=(
                "histogram_quantile(0.99, "
                f"sum by (cluster, broker, le) (rate({flush}[{_RATE}])))"
                f" > {_g(t.flush_p99_seconds)}"
            ),
            for_=t.flush_slow_for,
            summary=(
                "Broker {{ $labels.broker }} of cluster {{ $labels.cluster }}: fsync p99 is "
                "{{ $value | humanizeDuration }}."
            ),
            description=(
                f"The 99th percentile of fsync rounds has been above "
                f"{_duration(t.flush_p99_seconds)} for {t.flush_slow_for}: "
                "the disk is saturated or degrading. With the durable flush policy every "
                "acks=all produce waits for it. Check disk health and I/O load (runbook)."
            ),
            runbook="broker-flush-slow",
            dashboard=f"{DASHBOARD_ONCALL} / Storage errors and flush latency",
        ),
        AlertRule(
            name=a.BROKER_RECOVERY_TRUNCATED,
            severity=SEVERITY_TICKET,
            expr=f"({truncated} > 0) unless ({truncated} offset 30m > 0)",
            summary=(
                "Broker {{ $labels.broker }} of cluster {{ $labels.cluster }} cut "
                "{{ $value | humanize1024 }}B of torn log tail at its last start."
            ),
            description=(
                "Crash recovery found a torn or corrupt tail and truncated it. Records in "
                "it that were acknowledged under the interval flush policy are lost. Find "
                "out why the broker stopped uncleanly and which topics were affected "
                "(runbook). Resolves by itself 30 minutes after the restart."
            ),
            runbook="broker-recovery-truncated",
            dashboard=f"{DASHBOARD_DEBUG} / Recovery truncation and unflushed partitions",
        ),
    ]


def _consumers(t: AlertThresholds) -> list[AlertRule]:
    lag = selector(m.GROUP_LAG_SECONDS)
    status = selector(m.GROUP_PARTITION_STATUS)
    headroom = selector(m.GROUP_RETENTION_HEADROOM)
    stop, stall = int(LagStatus.STOP), int(LagStatus.STALL)
    worst_headroom = f"min by (cluster, group, topic) ({headroom})"
    # Only groups behind their lag SLA: a group within it is consuming, and its headroom
    # (absent only at the instant it is fully caught up) is merely the topic's retention,
    # below the thresholds on any topic keeping less than 6 h (the probe's keeps 1 h).
    beyond_sla = (
        f"and on (cluster, group, topic)\n"
        f"  max by (cluster, group, topic) ({lag}) > {_g(t.lag_sla_seconds)}"
    )
    retention: dict[Severity, float] = {
        SEVERITY_PAGE: t.retention_headroom_page_seconds,
        SEVERITY_TICKET: t.retention_headroom_ticket_seconds,
    }
    retention_rules = [
        AlertRule(
            name=a.RETENTION_HEADROOM_LOW,
            severity=severity,
            expr=f"{worst_headroom} < {_g(limit)}\n{beyond_sla}",
            for_=t.retention_headroom_for,
            summary=(
                "Retention will delete data group {{ $labels.group }} has not consumed from "
                "{{ $labels.topic }} in {{ $value | humanizeDuration }}."
            ),
            description=(
                "The oldest unconsumed record of {{ $labels.group }} on {{ $labels.topic }} "
                f"is within {_duration(limit)} of being deleted by retention.ms, and the group "
                f"is more than {_duration(t.lag_sla_seconds)} (the lag SLA) behind. When the "
                "record is deleted, the group skips those records for good (data loss for "
                "that consumer). Speed the consumer up or raise the topic's retention.ms "
                "(runbook)."
            ),
            runbook="retention-headroom-low",
            dashboard=f"{DASHBOARD_ONCALL} / Retention headroom",
        )
        for severity, limit in retention.items()
    ]
    return [
        AlertRule(
            name=a.CONSUMER_LAG_BEYOND_SLA,
            severity=SEVERITY_PAGE,
            expr=f"max by (cluster, group, topic) ({lag}) > {_g(t.lag_sla_seconds)}",
            for_=t.lag_sla_for,
            summary=(
                "Consumer group {{ $labels.group }} is {{ $value | humanizeDuration }} behind "
                f"on {{{{ $labels.topic }}}} (SLA {_duration(t.lag_sla_seconds)})."
            ),
            description=(
                "The oldest record {{ $labels.group }} has not consumed from "
                "{{ $labels.topic }} was written {{ $value | humanizeDuration }} ago, beyond "
                f"the {_duration(t.lag_sla_seconds)} lag SLA for {t.lag_sla_for}. Whatever "
                "depends on this consumer sees stale data. Check whether it is stopped or "
                "too slow for the incoming rate (runbook)."
            ),
            runbook="consumer-lag-beyond-sla",
            dashboard=f"{DASHBOARD_ONCALL} / Consumer lag (seconds)",
        ),
        AlertRule(
            name=a.CONSUMER_LAG_STATUS,
            severity=SEVERITY_TICKET,
            expr=f"max by (cluster, group, topic) ({status}) >= {stall}",
            for_=t.lag_status_for,
            summary=(
                "Consumer group {{ $labels.group }} is "
                f"{{{{ if eq $value {stop}.0 }}}}{LagStatus.STOP.name}"
                f"{{{{ else }}}}{LagStatus.STALL.name}{{{{ end }}}} on {{{{ $labels.topic }}}}."
            ),
            description=(
                f"{LagStatus.STOP.name}: the group has not committed while records wait; "
                f"{LagStatus.STALL.name}: it commits but its offset does not move. Either way "
                "the consumer is not making progress; lag will grow until it is restarted or "
                "unblocked. GET /status/groups on the broker says why (runbook)."
            ),
            runbook="consumer-lag-status",
            dashboard=f"{DASHBOARD_ONCALL} / Lag status",
        ),
        *retention_rules,
    ]


def _topics(t: AlertThresholds) -> list[AlertRule]:
    rate = f"rate({selector(m.PARTITION_BYTES_APPENDED)}[10m])"
    return [
        AlertRule(
            name=a.PARTITION_HOT_SPOT,
            severity=SEVERITY_TICKET,
            expr=(
                f"(\n  max by (cluster, topic) ({rate})\n/\n  avg by (cluster, topic) ({rate})\n)"
                f" >= {_g(t.hot_partition_skew_ratio)}\n"
                f"and on (cluster, topic)\n  sum by (cluster, topic) ({rate})"
                f" > {_g(t.hot_partition_min_bytes_per_second)}"
            ),
            for_=t.hot_partition_for,
            summary=(
                "Topic {{ $labels.topic }} has a hot partition carrying {{ $value | humanize }}x "
                "its fair share of bytes."
            ),
            description=(
                "One partition of {{ $labels.topic }} receives at least "
                f"{_g(t.hot_partition_skew_ratio)} times the topic's average bytes per "
                f"partition for {t.hot_partition_for}. Its consumer falls behind first and "
                "adding consumers does not help. Usually a hot key or a custom partitioner "
                "(runbook)."
            ),
            runbook="partition-hot-spot",
            dashboard=f"{DASHBOARD_ONCALL} / Hottest partitions (skew)",
        )
    ]


def _requests(t: AlertThresholds) -> list[AlertRule]:
    unexpected = NotRe(regex_union((m.NO_ERROR, *m.EXPECTED_ERRORS)))
    failed = f"sum by (cluster, api) (rate({selector(m.REQUESTS, error=unexpected)}[{_RATE}]))"
    total = f"sum by (cluster, api) (rate({selector(m.REQUESTS)}[{_RATE}]))"
    denied = selector(m.REQUESTS, error=Re(regex_union(m.AUTH_ERRORS)))
    return [
        AlertRule(
            name=a.REQUEST_ERRORS_HIGH,
            severity=SEVERITY_TICKET,
            expr=(
                f"(\n  {failed}\n/\n  {total}\n) > {_g(t.request_error_ratio)}\n"
                f"and\n  {failed} > {_g(t.request_error_min_per_second)}"
            ),
            for_=t.request_error_for,
            summary=(
                "{{ $value | humanizePercentage }} of {{ $labels.api }} requests to cluster "
                "{{ $labels.cluster }} fail."
            ),
            description=(
                f"More than {_g(t.request_error_ratio * 100)}% of {{{{ $labels.api }}}} "
                f"requests have failed with unexpected error codes for {t.request_error_for}. "
                "Clients retry or give up; see which error code dominates on the Debug "
                "dashboard (runbook)."
            ),
            runbook="request-errors-high",
            dashboard=f"{DASHBOARD_ONCALL} / Request errors by API",
        ),
        AlertRule(
            name=a.AUTH_FAILURES,
            severity=SEVERITY_TICKET,
            expr=(
                f"sum by (cluster, api, error) (increase({denied}[10m]))"
                f" >= {_g(t.auth_failures_per_10m)}"
            ),
            for_=t.auth_failures_for,
            summary=(
                "{{ $value | humanize }} {{ $labels.error }} denials of {{ $labels.api }} "
                "requests in 10 minutes on cluster {{ $labels.cluster }}."
            ),
            description=(
                "Clients are being refused by authentication or ACLs. Either a client lost "
                "its credentials or permissions (an outage for that client) or someone is "
                "probing the cluster. Find the principal in the broker log (runbook)."
            ),
            runbook="auth-failures",
            dashboard=f"{DASHBOARD_ONCALL} / Authentication and authorization failures",
        ),
    ]


def broker_alerts(t: AlertThresholds | None = None) -> dict[str, list[AlertRule]]:
    """Alert rules by rule-group name."""
    t = t or AlertThresholds()
    return {
        "tidewatch-broker": [*_availability(t), *_storage(t), *_disk(t)],
        "tidewatch-consumers": _consumers(t),
        "tidewatch-topics": _topics(t),
        "tidewatch-requests": _requests(t),
    }
