"""Probe alerts: records acknowledged but never read back (data loss), and duplicates.

Every metric comes from the probe catalog's spec objects by role
(:data:`synthetics.catalog.PROBE_METRICS`), and no expression selects on the scrape
``job``. Produce availability, end-to-end latency and
data loss are also SLOs (synthetics/slos/probe.yaml), which alert through their burn
rates; these two alerts page (ticket) at the first lost (duplicated) record.
"""

from __future__ import annotations

from alerts.rule import AlertRule
from contracts.alerts import (
    DASHBOARD_ONCALL,
    PROBE_DUPLICATES,
    PROBE_RECORDS_LOST,
    AlertThresholds,
)
from contracts.promql import selector
from slo.conventions import SEVERITY_PAGE, SEVERITY_TICKET
from synthetics.catalog import ProbeMetrics

__all__ = ["probe_alerts"]


def _where(probes: ProbeMetrics) -> str:
    """``T, partition P`` as a Prometheus template over the probe's labels."""
    return (
        f"{{{{ $labels.{probes.target_label} }}}}, "
        f"partition {{{{ $labels.{probes.partition_label} }}}}"
    )


def probe_alerts(probes: ProbeMetrics, t: AlertThresholds | None = None) -> list[AlertRule]:
    t = t or AlertThresholds()
    lost, dup = probes.lost, probes.duplicated
    return [
        AlertRule(
            name=PROBE_RECORDS_LOST,
            severity=SEVERITY_PAGE,
            expr=(
                f"sum by ({probes.by(lost)}) "
                f"(increase({selector(lost)}[{t.probe_lost_window}])) > 0"
            ),
            summary=(
                "Probe records acknowledged by cluster {{ $labels.cluster }} were never read "
                f"back (probe target {_where(probes)})."
            ),
            description=(
                "The probe produced records with acks=all, the cluster acknowledged them, "
                f"and they were not consumed within the SLA ({{{{ $value | humanize }}}} in "
                f"{t.probe_lost_window}). That is data loss as users would see it. Check "
                "for an unclean broker restart, retention or truncation (runbook)."
            ),
            runbook="probe-records-lost",
            dashboard=f"{DASHBOARD_ONCALL} / Probe loss and duplicates",
        ),
        AlertRule(
            name=PROBE_DUPLICATES,
            severity=SEVERITY_TICKET,
            expr=(
                f"sum by ({probes.by(dup)}) "
                f"(increase({selector(dup)}[{t.probe_duplicates_window}])) > 0"
            ),
            summary=(
                "The probe read records twice on cluster {{ $labels.cluster }} (probe "
                f"target {_where(probes)})."
            ),
            description=(
                f"{{{{ $value | humanize }}}} duplicate probe records in "
                f"{t.probe_duplicates_window}: a producer retry was appended twice. Consumers "
                "without idempotent processing double-count. Usually dropped responses "
                "between producers and the broker (runbook)."
            ),
            runbook="probe-duplicates",
            dashboard=f"{DASHBOARD_ONCALL} / Probe loss and duplicates",
        ),
    ]
