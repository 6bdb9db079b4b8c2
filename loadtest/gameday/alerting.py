"""How a game day learns which alerts fire: one small interface, two implementations.

An :class:`AlertSource` is polled by the runner (every half second or so):
``firing()`` gives the alert instances firing now and ``slo_readings()`` the budget
remaining and burn rate of each SLO. :class:`PrometheusAlerts`
(:mod:`loadtest.gameday.prometheus`) runs a real Prometheus with the compressed rules;
:class:`InProcessAlerts` (:mod:`loadtest.gameday.inprocess`) evaluates the SLOs with the
in-process engine on compressed time and the built-in infrastructure rules from the
broker's ``/metrics``. Both see the same targets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from loadtest.gameday.observations import AlertInstance, SLOReading

__all__ = ["AlertSource", "Targets"]


@dataclass(frozen=True, slots=True)
class Targets:
    """Metrics endpoints (``host:port``) by Prometheus job name."""

    jobs: dict[str, list[str]] = field(default_factory=dict)

    def urls(self) -> dict[str, list[str]]:
        return {job: [f"http://{a}/metrics" for a in addrs] for job, addrs in self.jobs.items()}


class AlertSource(Protocol):
    name: str

    def start(self) -> None:
        """Start evaluating; returns once the targets are being scraped."""

    def firing(self) -> set[AlertInstance]:
        """Alert instances firing now (not pending)."""

    def slo_readings(self) -> dict[str, SLOReading]:
        """Per SLO id: error budget remaining over the period and the current burn rate."""

    def known_alerts(self) -> set[str]:
        """Names of the alerts this source evaluates (an expectation on any other name
        cannot be met, and silence about it proves nothing)."""

    def close(self) -> None:
        """Stop and release everything started (idempotent)."""
