"""Compile SLOs to Prometheus rules: a chain of small pure generators, then rendering.

Per SLO three groups, as Sloth names them: SLI recordings, metadata recordings and
alerts. :func:`generate` returns the rule-file structure; :func:`render` turns it into
deterministic YAML (sorted keys, no timestamps).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from slo.model import SLO
from slo.rules.alerting import alert_rules
from slo.rules.meta import meta_rules
from slo.rules.render import render
from slo.rules.sli import sli_rules
from slo.rules.types import Rule, RuleGroup

__all__ = ["Rule", "RuleGroup", "generate", "group_names", "render", "rule_groups"]


def group_names(slo: SLO) -> tuple[str, str, str]:
    return (
        f"sloth-slo-sli-recordings-{slo.id}",
        f"sloth-slo-meta-recordings-{slo.id}",
        f"sloth-slo-alerts-{slo.id}",
    )


def rule_groups(slo: SLO) -> list[RuleGroup]:
    sli, meta, alerts = group_names(slo)
    groups = [
        RuleGroup(sli, tuple(sli_rules(slo))),
        RuleGroup(meta, tuple(meta_rules(slo))),
    ]
    alerting = tuple(alert_rules(slo))
    if alerting:
        groups.append(RuleGroup(alerts, alerting))
    return groups


def generate(slos: Iterable[SLO]) -> dict[str, Any]:
    """The rule file for ``slos``, ordered by SLO id so the output is deterministic."""
    groups = [g for slo in sorted(slos, key=lambda s: s.id) for g in rule_groups(slo)]
    return {"groups": [g.as_dict() for g in groups]}
