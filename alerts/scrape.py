"""How Prometheus scrapes Tidewatch: job names (alert rules select on them) and an example
``prometheus.yml`` with the generated rule files and Alertmanager wired in.

``honor_labels: true`` keeps the ``cluster`` and ``broker`` labels the broker exports,
and the target label ``cluster`` then only labels the series Prometheus makes itself
(``up``), so ``up`` carries the same ``cluster`` as the broker's metrics and
Alertmanager can inhibit per cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from alerts.promql import Series

__all__ = ["BROKER_JOB", "PROBE_JOB", "SLO_JOB", "UP", "UP_SERIES", "prometheus_config"]

BROKER_JOB: Final = "tidewatch-broker"
PROBE_JOB: Final = "tidewatch-probe"
SLO_JOB: Final = "tidewatch-slo"
# The series Prometheus records for every target it scrapes (1 up, 0 failed).
UP: Final = "up"
# ``up`` carries the target labels: job, instance and (generated config) cluster.
UP_SERIES: Final = Series(UP, ("cluster",))


def _job(name: str, targets: Sequence[str], cluster: str) -> dict[str, Any]:
    return {
        "job_name": name,
        "honor_labels": True,
        "static_configs": [{"targets": list(targets), "labels": {"cluster": cluster}}],
    }


def prometheus_config(
    rule_files: Sequence[str],
    *,
    broker_targets: Sequence[str] = ("127.0.0.1:9464",),
    probe_targets: Sequence[str] = (),
    alertmanagers: Sequence[str] = ("127.0.0.1:9093",),
    cluster: str = "local",
    scrape_interval: str = "15s",
    evaluation_interval: str = "30s",
) -> dict[str, Any]:
    """A Prometheus configuration for one cluster (``cluster`` must equal the broker's
    ``cluster`` setting)."""
    jobs = [_job(BROKER_JOB, broker_targets, cluster)]
    if probe_targets:
        jobs.append(_job(PROBE_JOB, probe_targets, cluster))
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": scrape_interval,
            "evaluation_interval": evaluation_interval,
        },
        "rule_files": list(rule_files),
        "scrape_configs": jobs,
    }
    if alertmanagers:
        targets = [{"static_configs": [{"targets": list(alertmanagers)}]}]
        config["alerting"] = {"alertmanagers": targets}
    return config
