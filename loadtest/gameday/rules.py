"""The Prometheus rules a game day evaluates, compressed by its time scale.

Two sources, merged into one rule file per run:

- the scenario's SLOs, compiled by the SLO engine's rule generator (Sloth names);
- infrastructure alerts: :data:`GAMEDAY_RULES` below. They stand in for the generated
  alert pack (``tidewatch alerts build``) until it is on main; their names carry
  ``GameDay`` so a scenario never confuses them with the real pack. Extra rule files
  can be added per scenario.

Compression (see :mod:`slo.timescale`) divides every range, ``offset`` and ``for`` by
the time scale. Thresholds that are *ages* (consumer lag in seconds, retention headroom)
grow with the clock, so they are compressed too: an infrastructure rule writes them as
``{age:SECONDS}`` and :func:`render_rule` divides them. Latencies are not ages and stay
as they are.

Every metric an expression reads comes from a catalog (broker, load generator); a test
checks that.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from slo.model import SLO
from slo.rules import generate as generate_slo_rules
from slo.timescale import compress_rules

__all__ = [
    "BROKER_JOB",
    "GAMEDAY_RULES",
    "LOAD_JOB",
    "PROBE_JOB",
    "GameDayRule",
    "build_rules",
    "render_rule",
]

BROKER_JOB: Final = "tidewatch-broker"
LOAD_JOB: Final = "tidewatch-load"
PROBE_JOB: Final = "tidewatch-probe"
_AGE: Final = re.compile(r"\{age:(\d+(?:\.\d+)?)\}")
_RECORDS_IN: Final = "rate(tidewatch_partition_records_appended_total[5m])"


@dataclass(frozen=True, slots=True)
class GameDayRule:
    alert: str
    expr: str  # PromQL at nominal time; ages as {age:SECONDS}
    for_: str
    severity: str
    summary: str


GAMEDAY_RULES: Final[tuple[GameDayRule, ...]] = (
    GameDayRule(
        "TidewatchGameDayBrokerDown",
        f'up{{job="{BROKER_JOB}"}} == 0',
        "1m",
        "page",
        "The broker's metrics endpoint does not answer: the broker is down or hung.",
    ),
    GameDayRule(
        "TidewatchGameDayConsumerLagHigh",
        "max by (group) (tidewatch_group_lag_seconds) > {age:300}",
        "2m",
        "page",
        "A consumer group is more than 5 minutes behind (lag in seconds, exact).",
    ),
    GameDayRule(
        "TidewatchGameDayConsumerStopped",
        "max by (group) (tidewatch_group_partition_status_code) >= 3",
        "1m",
        "ticket",
        "A consumer group's status is STALL or STOP: records wait and it does not move.",
    ),
    GameDayRule(
        "TidewatchGameDayPartitionHotSpot",
        f"max by (topic) ({_RECORDS_IN}) > 2 * avg by (topic) ({_RECORDS_IN})\n"
        f"and sum by (topic) ({_RECORDS_IN}) > 1",
        "5m",
        "ticket",
        "One partition takes more than twice the topic's average share of records.",
    ),
    GameDayRule(
        "TidewatchGameDayRetentionHeadroomLow",
        "min by (group, topic) (tidewatch_group_retention_headroom_seconds) < {age:3600}",
        "0s",
        "ticket",
        "Retention will delete records a group has not consumed within the hour.",
    ),
    GameDayRule(
        "TidewatchGameDayStorageErrors",
        "increase(tidewatch_broker_storage_errors_total[5m]) > 0",
        "0s",
        "page",
        "The broker's disk refused writes (full, read-only or failing).",
    ),
)


def render_rule(rule: GameDayRule, time_scale: float) -> dict[str, Any]:
    """One alerting rule with its ages divided by ``time_scale`` (ranges and ``for``
    are compressed later, with the whole file)."""

    def age(m: re.Match[str]) -> str:
        return f"{float(m.group(1)) / time_scale:g}"

    out: dict[str, Any] = {
        "alert": rule.alert,
        "expr": _AGE.sub(age, rule.expr),
        "labels": {"severity": rule.severity, "source": "gameday"},
        "annotations": {"summary": rule.summary},
    }
    if rule.for_ != "0s":
        out["for"] = rule.for_
    return out


def build_rules(
    slos: Sequence[SLO],
    time_scale: float,
    builtin: bool = True,
    extra: Iterable[dict[str, Any]] = (),
    exclude: Iterable[str] = (),
) -> dict[str, Any]:
    """The rule file of a game day: SLO rules, infrastructure rules and extra rule
    documents, without the excluded alerts, compressed by ``time_scale``."""
    document = generate_slo_rules(slos) if slos else {"groups": []}
    groups = list(document["groups"])
    if builtin:
        rules = [render_rule(r, time_scale) for r in GAMEDAY_RULES]
        groups.append({"name": "tidewatch-gameday-infrastructure", "rules": rules})
    for doc in extra:
        groups.extend(doc.get("groups", []))
    dropped = set(exclude)
    if dropped:
        groups = [
            {**g, "rules": [r for r in g["rules"] if r.get("alert") not in dropped]} for g in groups
        ]
        groups = [g for g in groups if g["rules"]]
    return compress_rules({"groups": groups}, time_scale)
