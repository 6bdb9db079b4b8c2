"""Contracts of the generated artifacts: no drift from the committed copies, promtool
accepts every rule file, every metric name used exists in a catalog, every alert has a
runbook and every runbook an alert, and every alert points at an existing panel."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from alerts.build import INFRASTRUCTURE_RULES_FILE, SLO_RULES_FILE, build
from alerts.catalogs import known_metric_names, recorded_names
from alerts.probes import probe_catalog
from alerts.promql import metric_names
from alerts.rule import RUNBOOK_DIR
from dashboards.build import build as build_dashboards
from dashboards.build import label_values_parts, panel_queries, variable_queries
from slo import conventions as c
from tests.alerts.support import PROMTOOL, fake_probe_metrics, needs_promtool
from tidewatch.cli import cli

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / RUNBOOK_DIR
BUILDS = {"without_probes": None, "with_a_probe_catalog": fake_probe_metrics()}


def test_probe_catalog_is_not_there_yet_so_the_committed_files_have_no_probe_parts() -> None:
    # When synthetics ships its catalog this fails: map it in alerts/probes.py, regenerate.
    assert probe_catalog() is None


@pytest.mark.parametrize(
    ("command", "directory"),
    [("alerts", "alerts/generated"), ("dashboards", "dashboards/generated")],
    ids=["alert_files_match_a_fresh_build", "dashboard_files_match_a_fresh_build"],
)
def test_committed_generated_files_do_not_drift(command: str, directory: str) -> None:
    result = CliRunner().invoke(cli, [command, "build", "-o", str(ROOT / directory), "--check"])
    assert result.exit_code == 0, result.output


def test_build_writes_the_same_bytes_twice(tmp_path: Path) -> None:
    runner = CliRunner()
    for out in ("a", "b"):
        assert runner.invoke(cli, ["alerts", "build", "-o", str(tmp_path / out)]).exit_code == 0
        assert runner.invoke(cli, ["dashboards", "build", "-o", str(tmp_path / out)]).exit_code == 0
    a = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}
    b = {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()}
    assert a == b
    assert len(a) == 9


def test_check_mode_reports_drift(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["alerts", "build", "-o", str(tmp_path), "--check"])
    assert result.exit_code == 1
    assert "out of date" in result.output


@needs_promtool
@pytest.mark.parametrize("probes", sorted(BUILDS))
def test_promtool_accepts_every_generated_rule_file(tmp_path: Path, probes: str) -> None:
    files = build(BUILDS[probes]).files
    for name in (SLO_RULES_FILE, INFRASTRUCTURE_RULES_FILE):
        (tmp_path / name).write_text(files[name])
    assert PROMTOOL is not None
    result = subprocess.run(
        [PROMTOOL, "check", "rules", SLO_RULES_FILE, INFRASTRUCTURE_RULES_FILE],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _rule_files(probes: str) -> dict[str, dict[str, object]]:
    files = build(BUILDS[probes]).files
    return {n: yaml.safe_load(files[n]) for n in (SLO_RULES_FILE, INFRASTRUCTURE_RULES_FILE)}


def _alerts(probes: str) -> list[dict[str, object]]:
    return [
        rule
        for rule_file in _rule_files(probes).values()
        for group in rule_file["groups"]  # type: ignore[attr-defined]
        for rule in group["rules"]
        if "alert" in rule
    ]


@pytest.mark.parametrize("probes", sorted(BUILDS))
def test_every_metric_in_rules_and_dashboards_exists_in_a_catalog(probes: str) -> None:
    rule_files = _rule_files(probes)
    recorded: set[str] = set()
    for rule_file in rule_files.values():
        recorded |= recorded_names(rule_file)
    known = known_metric_names(BUILDS[probes], recorded)
    used: dict[str, set[str]] = {}
    for name, rule_file in rule_files.items():
        for group in rule_file["groups"]:  # type: ignore[attr-defined]
            for rule in group["rules"]:
                used[f"{name}: {rule.get('record') or rule['alert']}"] = metric_names(rule["expr"])
    for name, text in build_dashboards(BUILDS[probes]).items():
        document = json.loads(text)
        for q in panel_queries(document):
            used[f"{name}: {q.where}"] = metric_names(q.expr)
        for variable, query in variable_queries(document):
            used[f"{name}: ${variable}"] = metric_names(label_values_parts(query)[0])
    unknown = {where: names - known for where, names in used.items() if names - known}
    assert unknown == {}
    # Every panel reads some metric (rules may not: vector(1) metadata rules).
    assert [w for w, n in used.items() if ".json" in w and not n] == []
    # Recorded names are the SLO engine's conventions, not inventions of the generator.
    windows = "|".join(re.escape(w) for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"))
    pattern = re.compile(rf"^{re.escape(c.sli_error_ratio_rule(''))}({windows})$")
    conventions = {getattr(c, a) for a in c.__all__ if a.startswith("RULE_")}
    assert {n for n in recorded if n not in conventions and not pattern.match(n)} == set()


def test_metric_name_tokenizer_finds_selectors_and_skips_functions_labels_and_strings() -> None:
    expr = (
        'sum by (topic) (rate(a_total{error=~"x|y", job="up"}[5m] offset 1h)) / on (topic) '
        "group_left b and histogram_quantile(0.99, c_bucket) > bool 2 unless "
        'label_replace(d, "dst", "$1", "src", "(.*)") or {__name__="e"} or vector(1) or '
        "f offset 30m"
    )
    assert metric_names(expr) == {"a_total", "b", "c_bucket", "d", "e", "f"}


def _runbook_paths(probes: str) -> dict[str, str]:
    return {
        str(rule["alert"]): str(rule["annotations"]["runbook_url"])  # type: ignore[index]
        for rule in _alerts(probes)
    }


@pytest.mark.parametrize("probes", sorted(BUILDS))
def test_every_alert_has_a_runbook_that_exists(probes: str) -> None:
    missing = {
        alert: path
        for alert, path in _runbook_paths(probes).items()
        if not path.startswith(f"{RUNBOOK_DIR}/") or not (ROOT / path).is_file()
    }
    assert missing == {}


def test_every_runbook_belongs_to_an_alert() -> None:
    # With the probe catalog mapped, every alert Tidewatch can generate is present.
    referenced = {Path(p).name for p in _runbook_paths("with_a_probe_catalog").values()}
    on_disk = {p.name for p in RUNBOOKS.glob("*.md")}
    assert on_disk == referenced


def test_runbooks_have_the_sections_an_on_call_engineer_needs() -> None:
    generated = {Path(p).name for p in _runbook_paths("with_a_probe_catalog").values()}
    slo_engine = {Path(c.RUNBOOK_BURN_RATE).name, Path(c.RUNBOOK_NO_DATA).name}
    for name in sorted(generated - slo_engine):
        text = (RUNBOOKS / name).read_text()
        for heading in (
            "## What fired",
            "## What it means for users",
            "## Where to look",
            "## Diagnosis, step by step",
            "## Mitigation",
            "## Escalate",
        ):
            assert any(line.startswith(heading) for line in text.splitlines()), (name, heading)


def test_runbook_queries_use_catalog_metrics() -> None:
    known = known_metric_names(fake_probe_metrics())
    fence = re.compile(r"```promql\n(.*?)```", re.S)
    unknown = {}
    for path in sorted(RUNBOOKS.glob("*.md")):
        for block in fence.findall(path.read_text()):
            for line in block.splitlines():
                names = metric_names(line) - known
                if names:
                    unknown[f"{path.name}: {line.strip()}"] = names
    assert unknown == {}


@pytest.mark.parametrize("probes", sorted(BUILDS))
def test_every_alert_points_at_a_panel_that_exists(probes: str) -> None:
    panels = set()
    for text in build_dashboards(BUILDS[probes]).values():
        document = json.loads(text)
        panels |= {f"{q.dashboard} / {q.panel}" for q in panel_queries(document)}
    pointed = {
        str(r["alert"]): r["annotations"].get("dashboard")  # type: ignore[attr-defined]
        for r in _alerts(probes)
        if not str(r["alert"]).endswith("NoData")  # the SLO engine's own no-data alert
    }
    assert {a: p for a, p in pointed.items() if p not in panels} == {}


@pytest.mark.parametrize("probes", sorted(BUILDS))
def test_every_alert_is_a_page_or_a_ticket_with_summary_and_description(probes: str) -> None:
    for rule in _alerts(probes):
        labels = rule["labels"]
        annotations = rule["annotations"]
        assert labels["severity"] in (c.SEVERITY_PAGE, c.SEVERITY_TICKET), rule["alert"]  # type: ignore[index]
        assert labels["service"], rule["alert"]  # type: ignore[index]
        assert annotations["summary"] and annotations["runbook_url"], rule["alert"]  # type: ignore[index]
