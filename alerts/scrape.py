"""How Prometheus scrapes Tidewatch: an example ``prometheus.yml`` with the generated rule
files and Alertmanager wired in (job names: ``contracts/scrape.py``).

Three jobs, all with ``honor_labels: true`` so the ``cluster``/``broker``/``target``
labels the processes export are kept as they are:

- ``tidewatch-broker`` (default 127.0.0.1:9464): the broker's ``/metrics``. Its target
  label ``cluster`` (equal to the broker's ``cluster`` setting) only labels the series
  Prometheus makes itself (``up``), so ``up`` carries the same ``cluster`` as the broker's
  metrics and Alertmanager can inhibit per cluster.
- ``tidewatch-probe`` (default 127.0.0.1:9465): a standalone ``tidewatch probe``.
- ``tidewatch-lag`` (default 127.0.0.1:9466): a standalone ``tidewatch lag`` monitor.

The probe and the lag monitor may watch several clusters, and every series they export
carries its own ``cluster``; their jobs get no ``cluster`` target label.

The broker job drops scraped series named like the SLO recording rules (``slo:...``, or
``slo_...`` once an OpenMetrics exposition escaped the colons). ``tidewatch up`` serves
its in-process SLO engine's values under those names from the same endpoint; Prometheus
records its own from the generated rules, and a second, scraped copy of, say,
``slo:error_budget:ratio`` per SLO would break every rule that joins on it (duplicate
series on the one side of a ``group_left``) and double the dashboards' SLO rows.

Only ``up`` of the broker job is selected by ``job`` (TidewatchBrokerUnreachable, the
"Broker up" panels). Probe and lag-monitor rules and panels select on metric names and
exported labels only, so they work the same when the probe runs inside another process
and its metrics come from the broker's endpoint (``tidewatch up``: one process, one
``/metrics`` on 127.0.0.1:9464, job ``tidewatch-broker``). Scrape each process once:
a probe scraped under two jobs (or a lag monitor watching the Tidewatch broker under the
broker's own ``cluster`` name) would count its series twice in sums.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from broker.config import DEFAULT_HTTP_PORT
from contracts.scrape import BROKER_JOB, LAG_JOB, PROBE_JOB
from synthetics.config import DEFAULT_HTTP as PROBE_DEFAULT_HTTP
from synthetics.lagmon.config import DEFAULT_HTTP as LAG_DEFAULT_HTTP

__all__ = [
    "DEFAULT_BROKER_TARGET",
    "DEFAULT_LAG_TARGET",
    "DEFAULT_PROBE_TARGET",
    "RECORDED_SLO_NAMES",
    "prometheus_config",
]

# The default HTTP addresses of `tidewatch broker`/`up`, `tidewatch probe` and `tidewatch lag`.
DEFAULT_BROKER_TARGET: Final = f"127.0.0.1:{DEFAULT_HTTP_PORT}"
DEFAULT_PROBE_TARGET: Final[str] = PROBE_DEFAULT_HTTP
DEFAULT_LAG_TARGET: Final[str] = LAG_DEFAULT_HTTP

# Scraped series named like the SLO engine's recording rules (see the module docstring).
RECORDED_SLO_NAMES: Final = "slo[:_].+"


def _job(name: str, targets: Sequence[str], labels: Mapping[str, str]) -> dict[str, Any]:
    static: dict[str, Any] = {"targets": list(targets)}
    if labels:
        static["labels"] = dict(labels)
    return {"job_name": name, "honor_labels": True, "static_configs": [static]}


def _drop_recorded_slo_names(job: dict[str, Any]) -> dict[str, Any]:
    drop = {"source_labels": ["__name__"], "regex": RECORDED_SLO_NAMES, "action": "drop"}
    return {**job, "metric_relabel_configs": [drop]}


def prometheus_config(
    rule_files: Sequence[str],
    *,
    broker_targets: Sequence[str] = (DEFAULT_BROKER_TARGET,),
    probe_targets: Sequence[str] = (),
    lag_targets: Sequence[str] = (),
    platform_targets: Sequence[str] = (),
    alertmanagers: Sequence[str] = ("127.0.0.1:9093",),
    cluster: str = "local",
    scrape_interval: str = "15s",
    evaluation_interval: str = "30s",
) -> dict[str, Any]:
    """A Prometheus configuration for one cluster (``cluster`` must equal the broker's
    ``cluster`` setting); the probe and lag-monitor jobs only when given targets.
    ``platform_targets``: ``tidewatch up`` endpoints whose brokers run as separate
    processes (``--brokers N``, the brokers are then the broker targets): they serve the
    probe's series and the in-process SLO engine's, so they join the probe job, which
    then drops the recorded SLO names as the broker job does."""
    jobs = [_drop_recorded_slo_names(_job(BROKER_JOB, broker_targets, {"cluster": cluster}))]
    if probe_targets or platform_targets:
        probes = _job(PROBE_JOB, [*probe_targets, *platform_targets], {})
        jobs.append(_drop_recorded_slo_names(probes) if platform_targets else probes)
    if lag_targets:
        jobs.append(_job(LAG_JOB, lag_targets, {}))
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
