"""Helpers for the alert tests: promtool runs, input series, expected annotations."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alerts.rule import AlertRule
from contracts.promql import selector
from tests.support import tools

PROMTOOL = tools.find_tool(tools.PROMTOOL)
AMTOOL = tools.find_tool(tools.AMTOOL)
needs_promtool = tools.requires(tools.PROMTOOL)
needs_amtool = tools.requires(tools.AMTOOL)

# The labels every broker series carries once scraped with the generated scrape config.
BROKER = {
    "cluster": "local",
    "broker": "0",
    "job": "tidewatch-broker",
    "instance": "127.0.0.1:9464",
}


# The labels every probe series carries when a probe with target "local" runs next to
# the broker (tidewatch up serves them from the broker's endpoint: same job and instance).
PROBE = {**BROKER, "target": "local"}


def series(spec: Any, values: str, suffix: str = "", **labels: str) -> dict[str, str]:
    """An input series of ``spec`` (a catalog object) with the broker's labels."""
    return {"series": selector(spec, suffix, **{**BROKER, **labels}), "values": values}


def probe_series(spec: Any, values: str, suffix: str = "", **labels: str) -> dict[str, str]:
    """An input series of a probe metric (``spec`` from the probe catalog)."""
    return {"series": selector(spec, suffix, **{**PROBE, **labels}), "values": values}


_TEMPLATE = re.compile(r"\{\{\s*\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")


def expand(template: str, labels: Mapping[str, str], fragments: Mapping[str, str]) -> str:
    """Expand ``{{ $labels.x }}``; other template fragments are replaced verbatim by the
    expected text the test states for them (e.g. the humanized value)."""
    out = template
    for fragment, text in fragments.items():
        out = out.replace(fragment, text)
    out = _TEMPLATE.sub(lambda m: labels.get(m.group(1), ""), out)
    assert "{{" not in out, f"unexpanded template in {out!r}"
    return out


def expected_alert(
    rule: AlertRule, labels: Mapping[str, str], fragments: Mapping[str, str], base_url: str = ""
) -> dict[str, Any]:
    built = rule.rule(base_url)
    all_labels = {**labels, **built.labels}
    return {
        "exp_labels": all_labels,
        "exp_annotations": {
            k: expand(v, all_labels, fragments) for k, v in built.annotations.items()
        },
    }


def run_promtool_test(
    tmp_path: Path,
    rule_files: Mapping[str, str],
    tests: Sequence[dict[str, Any]],
    group_eval_order: Sequence[str],
    interval: str = "1m",
) -> None:
    assert PROMTOOL is not None
    for name, text in rule_files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    test_file = {
        "rule_files": sorted(rule_files),
        "evaluation_interval": interval,
        "group_eval_order": list(group_eval_order),
        "tests": [{"interval": interval, **t} for t in tests],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test_file, sort_keys=False))
    result = subprocess.run(
        [PROMTOOL, "test", "rules", "test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]


def group_names(rule_file_text: str) -> list[str]:
    return [g["name"] for g in yaml.safe_load(rule_file_text)["groups"]]


# --- alert cases: input series and the alerts expected at given minutes ------------------


@dataclass(frozen=True)
class Expect:
    """One alert expected to fire: its severity, labels and the text the test states for
    template fragments other than labels (e.g. the humanized value)."""

    severity: str
    labels: dict[str, str]
    fragments: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    alert: str
    input: list[dict[str, str]]
    # minute -> alerts firing at that minute (empty: silent)
    checks: dict[int, list[Expect]]


def alert_tests(case: Case, rules: Mapping[tuple[str, str], AlertRule]) -> list[dict[str, Any]]:
    """promtool ``alert_rule_test`` entries for ``case`` (rules by name and severity)."""
    out = []
    for minute, expects in sorted(case.checks.items()):
        alerts = [
            expected_alert(rules[(case.alert, e.severity)], e.labels, e.fragments) for e in expects
        ]
        out.append({"eval_time": f"{minute}m", "alertname": case.alert, "exp_alerts": alerts})
    return out


def fired_and_silent(cases: Mapping[str, Case]) -> tuple[set[str], set[str], set[tuple[str, str]]]:
    """Alerts some case makes fire, alerts some case proves silent throughout, and the
    (alert, severity) pairs seen firing."""
    fired = {c.alert for c in cases.values() if any(c.checks.values())}
    silent = {c.alert for c in cases.values() if all(not v for v in c.checks.values())}
    severities = {
        (c.alert, e.severity) for c in cases.values() for v in c.checks.values() for e in v
    }
    return fired, silent, severities
