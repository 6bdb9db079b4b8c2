"""Probe alerts: records acknowledged but never read back (data loss), and duplicates.

Every name comes from the probe catalog's spec objects (:mod:`alerts.probes`), and no
expression selects on the scrape ``job``. Produce availability, end-to-end latency and
data loss are also SLOs (synthetics/slos/probe.yaml), which alert through their burn
rates; these two alerts page (ticket) at the first lost (duplicated) record.
"""

from __future__ import annotations

from alerts.infrastructure import DASHBOARD_ONCALL
from alerts.probes import ProbeMetrics
from alerts.promql import MetricLike, selector
from alerts.rule import AlertRule
from alerts.thresholds import AlertThresholds
from slo.conventions import SEVERITY_PAGE, SEVERITY_TICKET

__all__ = ["probe_alerts", "probe_by"]


def probe_by(spec: MetricLike, probes: ProbeMetrics) -> str:
    """``by (...)`` over the labels a probe metric has among cluster, target, partition
    and broker."""
    declared = set(getattr(spec, "all_labels", spec.labels))
    wanted = ("cluster", probes.target_label, probes.partition_label, probes.broker_label)
    return ", ".join(label for label in wanted if label in declared)


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
            name="TidewatchProbeRecordsLost",
            severity=SEVERITY_PAGE,
            expr=(
                f"sum by ({probe_by(lost, probes)}) "
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
            name="TidewatchProbeDuplicates",
            severity=SEVERITY_TICKET,
            expr=(
                f"sum by ({probe_by(dup, probes)}) "
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
