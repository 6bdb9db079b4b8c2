"""Sloth's metadata recording rules: objective, budget, period, burn rates, remaining."""

from __future__ import annotations

from collections.abc import Iterator

from contracts.durations import format_duration
from slo import conventions as c
from slo.alerts import slo_labels
from slo.model import SLO
from slo.rules.sli import selector_for
from slo.rules.types import Rule

__all__ = ["meta_rules"]

_ON = f"on({c.LABEL_ID}, {c.LABEL_SLO}, {c.LABEL_SERVICE}) group_left"


def meta_rules(slo: SLO) -> Iterator[Rule]:
    ids = {**dict(slo.labels), **slo_labels(slo)}
    sel = selector_for(slo)
    period = format_duration(slo.period_seconds)
    yield Rule(record=c.RULE_OBJECTIVE, expr=f"vector({slo.objective_ratio!r})\n", labels=ids)
    yield Rule(record=c.RULE_ERROR_BUDGET, expr=f"vector(1-{slo.objective_ratio!r})\n", labels=ids)
    days = slo.period_seconds / 86_400
    yield Rule(record=c.RULE_TIME_PERIOD_DAYS, expr=f"vector({days:g})\n", labels=ids)
    yield Rule(
        record=c.RULE_CURRENT_BURN_RATE,
        expr=f"{c.sli_error_ratio_rule('5m')}{sel}\n/ {_ON}\n{c.RULE_ERROR_BUDGET}{sel}\n",
        labels=ids,
    )
    yield Rule(
        record=c.RULE_PERIOD_BURN_RATE,
        expr=f"{c.sli_error_ratio_rule(period)}{sel}\n/ {_ON}\n{c.RULE_ERROR_BUDGET}{sel}\n",
        labels=ids,
    )
    yield Rule(
        record=c.RULE_PERIOD_BUDGET_REMAINING,
        expr=f"1 - {c.RULE_PERIOD_BURN_RATE}{sel}\n",
        labels=ids,
    )
    info = {
        **ids,
        "sloth_mode": c.SLOTH_MODE,
        "sloth_objective": f"{slo.objective_percent:g}",
        "sloth_spec": slo.spec_format,
        c.SLOTH_VERSION_LABEL: c.GENERATOR_VERSION,
    }
    yield Rule(record=c.RULE_SLO_INFO, expr="vector(1)\n", labels=info)
