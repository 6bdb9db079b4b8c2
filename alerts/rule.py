"""An alert as Tidewatch defines it: the rule, its severity, what to tell the on-call
engineer and which runbook to open. Rendered into the SLO engine's rule-file types so
every rule file we write has the same shape and the same deterministic YAML."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from slo.conventions import SEVERITY_PAGE, SEVERITY_TICKET, Severity
from slo.rules.types import Rule

__all__ = [
    "RUNBOOK_DIR",
    "SERVICE",
    "SERVICE_LABEL",
    "AlertRule",
    "promql_number",
    "runbook_path",
]

RUNBOOK_DIR: Final = "runbooks"
# Every infrastructure alert carries service="tidewatch" (Alertmanager groups by it).
SERVICE_LABEL: Final = "service"
SERVICE: Final = "tidewatch"


def promql_number(value: float) -> str:
    """A threshold as PromQL and humans read it (no trailing .0)."""
    return f"{value:g}"


def runbook_path(slug: str) -> str:
    """``runbooks/SLUG.md``: the value of ``runbook_url`` (before any base URL)."""
    return f"{RUNBOOK_DIR}/{slug}.md"


@dataclass(frozen=True, slots=True)
class AlertRule:
    """One alerting rule.

    ``summary`` is one line for the notification title; ``description`` says what it
    means for users and the first thing to check. Both may use ``{{ $labels.x }}`` and
    ``{{ $value }}`` (Prometheus templates). ``runbook`` is the runbook's slug
    (``runbooks/<slug>.md``); ``dashboard`` names the dashboard and panel to open.
    """

    name: str
    severity: Severity
    expr: str
    summary: str
    description: str
    runbook: str
    dashboard: str
    for_: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in (SEVERITY_PAGE, SEVERITY_TICKET):
            raise ValueError(f"{self.name}: severity must be page or ticket")

    def rule(self, runbook_base_url: str = "") -> Rule:
        return Rule(
            alert=self.name,
            expr=self.expr.strip() + "\n",
            for_=self.for_,
            labels={**self.labels, "severity": self.severity, SERVICE_LABEL: SERVICE},
            annotations={
                "summary": self.summary,
                "description": self.description,
                "runbook_url": runbook_base_url + runbook_path(self.runbook),
                "dashboard": self.dashboard,
            },
        )
