"""Alertmanager notifications (API v2): firing alerts while an alert holds, then one
resolved alert (``endsAt`` = now) when it stops.

:class:`Notifier` is sans-I/O: it turns successive evaluations into the alert payloads
to post; :class:`AlertmanagerClient` posts them. Alerts carry the same labels as the
generated Prometheus rules, so both paths deduplicate in Alertmanager.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from slo.alerts import (
    alert_annotations,
    alert_labels,
    expand_templates,
    no_data_alert_name,
    slo_labels,
)
from slo.conventions import RUNBOOK_NO_DATA, SEVERITY_PAGE, SEVERITY_TICKET, Severity
from slo.engine import Evaluation
from slo.model import SLO

__all__ = ["AlertmanagerClient", "AlertmanagerError", "Notifier"]


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Notifier:
    """Tracks which alerts fire and builds Alertmanager v2 ``PostableAlert`` dicts.

    Firing alerts are re-sent every evaluation with ``endsAt`` a few steps ahead, so
    Alertmanager resolves them by itself if the engine stops.
    """

    slos: Sequence[SLO]
    step_seconds: int
    generator_url: str = ""
    # Alertmanager judges startsAt/endsAt by its wall clock, not by the evaluation time.
    clock: Callable[[], float] = time.time
    started: dict[tuple[int, str], int] = field(default_factory=dict)

    def _alert(
        self, i: int, kind: str, t: int, ends_at: int, windows: Sequence[str]
    ) -> dict[str, Any]:
        slo = self.slos[i]
        base = {**dict(slo.labels), **slo_labels(slo)}
        if kind == "nodata":
            labels = {**base, "alertname": no_data_alert_name(slo), "severity": SEVERITY_TICKET}
            annotations = {
                "title": f"{slo.service} {slo.name} SLI has no data.",
                "runbook_url": RUNBOOK_NO_DATA,
            }
        else:
            severity: Severity = SEVERITY_PAGE if kind == SEVERITY_PAGE else SEVERITY_TICKET
            labels = {**base, **alert_labels(slo, severity), "alertname": slo.alerting.name}
            annotations = {
                k: expand_templates(v, labels) for k, v in alert_annotations(slo, severity).items()
            }
            annotations["burn_rate_windows"] = ",".join(windows)
        alert: dict[str, Any] = {
            "labels": labels,
            "annotations": annotations,
            "startsAt": _iso(self.started.get((i, kind), t)),
            "endsAt": _iso(ends_at),
        }
        if self.generator_url:
            alert["generatorURL"] = self.generator_url
        return alert

    def step(self, ev: Evaluation) -> list[dict[str, Any]]:
        t = int(self.clock())
        out = []
        for i, slo in enumerate(self.slos):
            fired = [c for j, c in enumerate(slo.alerting.conditions) if ev.condition_firing[i, j]]
            states = {
                SEVERITY_PAGE: bool(ev.page[i]),
                SEVERITY_TICKET: bool(ev.ticket[i]),
                "nodata": bool(ev.no_data[i]) and slo.alerting.no_data_seconds is not None,
            }
            for kind, firing in states.items():
                key = (i, kind)
                windows = [c.windows for c in fired if c.severity == kind]
                if firing:
                    self.started.setdefault(key, t)
                    out.append(self._alert(i, kind, t, t + 4 * self.step_seconds, windows))
                elif key in self.started:
                    out.append(self._alert(i, kind, t, t, windows))
                    del self.started[key]
        return out


class AlertmanagerError(RuntimeError):
    pass


class AlertmanagerClient:
    def __init__(self, base_url: str, timeout_seconds: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    async def post(self, alerts: Sequence[dict[str, Any]]) -> None:
        if not alerts:
            return
        try:
            async with (
                aiohttp.ClientSession(timeout=self.timeout) as session,
                session.post(f"{self.base_url}/api/v2/alerts", json=list(alerts)) as response,
            ):
                if response.status >= 300:
                    raise AlertmanagerError(f"{response.status}: {await response.text()}")
        except aiohttp.ClientError as exc:
            raise AlertmanagerError(f"{self.base_url}: {exc}") from exc
