"""How Prometheus sees Tidewatch's processes: the scrape job names and the one series
Prometheus makes itself for every target, ``up``.

Three jobs (``alerts/scrape.py`` writes the example ``prometheus.yml``):

- ``tidewatch-broker``: the broker's ``/metrics`` (and ``tidewatch up``'s, which serves
  the embedded probe's metrics there too);
- ``tidewatch-probe``: a standalone ``tidewatch probe``;
- ``tidewatch-lag``: a standalone ``tidewatch lag`` monitor.

Only ``up`` of the broker job is selected by ``job`` (the broker-unreachable alert and
the "Broker up" panels); everything else selects on metric names and exported labels.
"""

from __future__ import annotations

from typing import Final

from contracts.promql import Series

__all__ = ["BROKER_JOB", "LAG_JOB", "PROBE_JOB", "SLO_JOB", "UP", "UP_SERIES"]

BROKER_JOB: Final = "tidewatch-broker"
PROBE_JOB: Final = "tidewatch-probe"
LAG_JOB: Final = "tidewatch-lag"
SLO_JOB: Final = "tidewatch-slo"
# The series Prometheus records for every target it scrapes (1 up, 0 failed).
UP: Final = "up"
# ``up`` carries the target labels: job, instance and (broker job) cluster.
UP_SERIES: Final = Series(UP, ("cluster",))
