"""Contracts of the generated alerts: runbooks exist, names come from conventions."""

from __future__ import annotations

from pathlib import Path

from slo import conventions as c
from slo.examples import EXAMPLES_DIR
from slo.rules import generate
from slo.spec import load_files

RULES = generate(load_files(sorted(EXAMPLES_DIR.glob("*.yaml"))))
ALL_RULES = [rule for group in RULES["groups"] for rule in group["rules"]]


def test_every_alert_has_a_runbook_url_pointing_at_a_file_in_runbooks() -> None:
    alerts = [r for r in ALL_RULES if "alert" in r]
    assert alerts
    for rule in alerts:
        url = rule["annotations"]["runbook_url"]
        assert url.startswith("runbooks/")
        assert Path(url).is_file(), f"{rule['alert']}: {url} does not exist"


def test_every_page_and_ticket_alert_says_its_severity() -> None:
    severities = {
        r["labels"][c.LABEL_SEVERITY] for r in ALL_RULES if c.LABEL_SEVERITY in r.get("labels", {})
    }
    assert severities == {c.SEVERITY_PAGE, c.SEVERITY_TICKET}


def test_recorded_names_are_the_sloth_and_tidewatch_conventions() -> None:
    recorded = {r["record"] for r in ALL_RULES if "record" in r}
    expected = {c.sli_error_ratio_rule(w) for w in c.ALERT_WINDOWS} | {
        c.RULE_OBJECTIVE,
        c.RULE_ERROR_BUDGET,
        c.RULE_TIME_PERIOD_DAYS,
        c.RULE_CURRENT_BURN_RATE,
        c.RULE_PERIOD_BURN_RATE,
        c.RULE_PERIOD_BUDGET_REMAINING,
        c.RULE_SLO_INFO,
        c.RULE_SLI_ERROR_EVENTS,
        c.RULE_SLI_TOTAL_EVENTS,
        c.RULE_SLI_SLICE_ERROR,
    }
    periods = {c.sli_error_ratio_rule(p) for p in ("28d", "30d")}
    assert recorded == expected | periods
