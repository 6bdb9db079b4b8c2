"""Multiwindow, multi-burn-rate alert rules (page and ticket) and the no-data alert."""

from __future__ import annotations

from collections.abc import Iterator

from contracts.durations import format_duration
from slo import conventions as c
from slo.alerts import alert_annotations, alert_labels, no_data_alert_name, slo_labels
from slo.model import SLO, BurnRateCondition
from slo.rules.sli import selector_for
from slo.rules.types import Rule

__all__ = ["alert_rules", "threshold_expr"]


def threshold_expr(slo: SLO, condition: BurnRateCondition) -> str:
    """``(14.4 * 0.0010000000000000009)``: the same float product the engine computes."""
    return f"({condition.factor!r} * {slo.error_budget_ratio!r})"


def _condition_expr(slo: SLO, condition: BurnRateCondition) -> str:
    sel = selector_for(slo)
    threshold = threshold_expr(slo, condition)
    lines = []
    for seconds in (condition.short_seconds, condition.long_seconds):
        rule = c.sli_error_ratio_rule(format_duration(seconds))
        lines.append(f"    max({rule}{sel} > {threshold}) without ({c.LABEL_WINDOW})")
    return "(\n" + "\n    and\n".join(lines) + "\n)"


def alert_rules(slo: SLO) -> Iterator[Rule]:
    for severity in (c.SEVERITY_PAGE, c.SEVERITY_TICKET):
        conditions = [x for x in slo.alerting.conditions if x.severity == severity]
        if not conditions or not slo.alerting.notification(severity).enabled:
            continue
        expr = "\nor\n".join(_condition_expr(slo, x) for x in conditions) + "\n"
        yield Rule(
            alert=slo.alerting.name,
            expr=expr,
            labels=alert_labels(slo, severity),
            annotations=alert_annotations(slo, severity),
        )
    if slo.alerting.no_data_seconds is not None:
        window = format_duration(slo.alerting.no_data_seconds)
        sel = selector_for(slo)
        labels = {
            k: v for k, v in alert_labels(slo, c.SEVERITY_TICKET).items() if k != c.LABEL_SEVERITY
        }
        yield Rule(
            alert=no_data_alert_name(slo),
            expr=f"absent_over_time({c.sli_error_ratio_rule('5m')}{sel}[{window}])\n",
            labels={**labels, **slo_labels(slo)},
            annotations={
                "title": "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLI has no data.",
                "summary": f"No SLI data for {window}: the budget is not being measured.",
                "runbook_url": c.RUNBOOK_NO_DATA,
            },
        )
