"""Labels and annotations of an SLO's alerts: one definition for the generated Prometheus
rules and for the engine's Alertmanager notifications, so both send the same alert."""

from __future__ import annotations

from typing import Final

from slo import conventions as c
from slo.model import SLO

__all__ = [
    "alert_annotations",
    "alert_labels",
    "expand_templates",
    "no_data_alert_name",
    "slo_labels",
]

_SERVICE_SLO: Final = "{{$labels.sloth_service}} {{$labels.sloth_slo}}"
_TITLE: Final = "({severity}) " + _SERVICE_SLO + " SLO error budget burn rate is too fast."
_SUMMARY: Final = _SERVICE_SLO + " SLO error budget burn rate is over expected."


def slo_labels(slo: SLO) -> dict[str, str]:
    """The identifying labels every rule and alert of this SLO carries."""
    return {c.LABEL_ID: slo.id, c.LABEL_SERVICE: slo.service, c.LABEL_SLO: slo.name}


def alert_labels(slo: SLO, severity: c.Severity) -> dict[str, str]:
    """Alert labels as Sloth writes them; ``severity`` defaults to page/ticket except for
    Sloth specs, whose output stays identical to Sloth's."""
    labels = dict(slo.alerting.labels)
    labels.update(slo.alerting.notification(severity).labels)
    if slo.spec_format != "prometheus/v1":
        labels.setdefault("severity", severity)
    labels[c.LABEL_SEVERITY] = severity
    return labels


def alert_annotations(slo: SLO, severity: c.Severity) -> dict[str, str]:
    annotations = {
        "title": _TITLE.replace("{severity}", severity),
        "summary": _SUMMARY,
        "runbook_url": c.RUNBOOK_BURN_RATE,
    }
    annotations.update(slo.alerting.annotations)
    annotations.update(slo.alerting.notification(severity).annotations)
    return annotations


def no_data_alert_name(slo: SLO) -> str:
    base = slo.alerting.name.removesuffix("BurnRate")
    return f"{base}NoData"


def expand_templates(text: str, labels: dict[str, str]) -> str:
    """Expand ``{{$labels.x}}`` (the only template form our defaults use)."""
    for name, value in labels.items():
        text = text.replace(f"{{{{$labels.{name}}}}}", value)
    return text
