"""Contracts of the generated artifacts (their drift: tests/tidewatch/test_generate.py): the
build commands write what is committed, the probe SLOs defined once (synthetics/slos/probe.yaml) and included unchanged, promtool accepts
every rule file, every metric name used exists in a catalog, every alert has a runbook and
every runbook an alert, and every alert points at an existing panel."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from alerts.build import INFRASTRUCTURE_RULES_FILE, SLO_RULES_FILE, build
from alerts.catalogs import known_metric_names
from alerts.platform_slos import (
    PLATFORM_SLO_PATH,
    PROBE_SLO_PATHS,
    platform_slo_specs,
    probe_slo_entries,
)
from alerts.rule import RUNBOOK_DIR, SERVICE
from contracts.alerts import INFRASTRUCTURE_ALERTS, REPLICATION_ALERTS
from contracts.fields import ConfigError
from contracts.promql import metric_names, recorded_names
from dashboards.build import build as build_dashboards
from dashboards.build import label_values_parts, panel_queries, variable_queries
from slo import conventions as c
from slo.spec import load_files
from synthetics.catalog import PROBE_CATALOG
from synthetics.slos import RULES_DIR as PROBE_RULES_DIR
from tests.alerts.support import PROMTOOL, needs_promtool
from tidewatch.cli import cli
from tidewatch.generate import GOLDEN_SETS

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / RUNBOOK_DIR
PLATFORM = platform_slo_specs()
PROBE_SLOS = load_files(PROBE_SLO_PATHS)


def test_the_platform_set_includes_the_probe_slo_file_unchanged() -> None:
    # One definition: the probe SLOs of the platform set load equal (every field but the
    # source file) to the probe file's, and they are all there.
    probe_ids = {s.id for s in PROBE_SLOS}
    assert [s for s in PLATFORM if s.id in probe_ids] == PROBE_SLOS
    assert {s.id for s in PLATFORM} == probe_ids | {
        f"{SERVICE}-broker-produce-availability",
        f"{SERVICE}-broker-fetch-availability",
        f"{SERVICE}-broker-produce-latency",
        f"{SERVICE}-consumer-lag",
    }
    assert probe_ids == {
        f"{SERVICE}-probe-produce-availability",
        f"{SERVICE}-probe-end-to-end-latency",
        f"{SERVICE}-probe-data-loss",
    }


def test_the_committed_platform_slo_file_is_the_platform_set() -> None:
    assert load_files([PLATFORM_SLO_PATH]) == PLATFORM


def test_platform_slos_have_unique_ids_and_alert_names_and_one_service() -> None:
    assert len({s.id for s in PLATFORM}) == len(PLATFORM)
    assert len({s.alerting.name for s in PLATFORM}) == len(PLATFORM)
    assert {s.service for s in PLATFORM} == {SERVICE}
    for slo in PLATFORM:
        # TidewatchProbeDataLossBurnRate for probe-data-loss, and so on.
        camel = "".join(part.capitalize() for part in slo.id.split("-"))
        assert slo.alerting.name == f"{camel}BurnRate", slo.id
        assert dict(slo.labels)["team"] and dict(slo.labels)["category"], slo.id


def test_loading_the_platform_set_and_the_probe_file_together_is_refused() -> None:
    with pytest.raises(ConfigError, match="also defined"):
        load_files([PLATFORM_SLO_PATH, *PROBE_SLO_PATHS])


def test_the_probe_slo_rules_are_the_same_in_both_rule_files() -> None:
    # synthetics/slos/rules/probe.yaml (for a standalone probe) and slo-rules.yaml carry
    # the very same groups for the probe SLOs.
    platform_groups = yaml.safe_load(build().files[SLO_RULES_FILE])["groups"]
    probe_groups = [
        g
        for path in sorted(PROBE_RULES_DIR.glob("*.yaml"))
        for g in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
    ]
    names = {g["name"] for g in probe_groups}
    assert len(names) == 3 * len(PROBE_SLOS)
    assert [g for g in platform_groups if g["name"] in names] == probe_groups


def test_a_probe_slo_file_of_another_service_is_not_included(tmp_path: Path) -> None:
    (source,) = PROBE_SLO_PATHS
    other = tmp_path / "probe.yaml"
    other.write_text(source.read_text().replace("service: tidewatch\n", "service: other\n"))
    with pytest.raises(ValueError, match="service 'tidewatch'"):
        probe_slo_entries((other,))


@pytest.mark.parametrize(
    ("command", "directory"),
    [("alerts", "alerts/generated"), ("dashboards", "dashboards/generated")],
    ids=["alerts_build", "dashboards_build"],
)
def test_the_build_command_writes_what_tidewatch_generate_commits(
    command: str, directory: str, tmp_path: Path
) -> None:
    result = CliRunner().invoke(cli, [command, "build", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (golden,) = [g for g in GOLDEN_SETS if g.directory == directory]
    written = {p.name: p.read_text(encoding="utf-8") for p in tmp_path.iterdir()}
    assert written == dict(golden.files())
    check = CliRunner().invoke(cli, [command, "build", "-o", str(ROOT / directory), "--check"])
    assert check.exit_code == 0, check.output


def test_check_mode_reports_drift(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["alerts", "build", "-o", str(tmp_path), "--check"])
    assert result.exit_code == 1
    assert "out of date" in result.output


@needs_promtool
def test_promtool_accepts_every_generated_rule_file(tmp_path: Path) -> None:
    files = build().files
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


def _rule_files() -> dict[str, dict[str, object]]:
    files = build().files
    return {n: yaml.safe_load(files[n]) for n in (SLO_RULES_FILE, INFRASTRUCTURE_RULES_FILE)}


def _alerts() -> list[dict[str, object]]:
    return [
        rule
        for rule_file in _rule_files().values()
        for group in rule_file["groups"]  # type: ignore[attr-defined]
        for rule in group["rules"]
        if "alert" in rule
    ]


def test_the_infrastructure_rules_are_the_alert_catalogs_infrastructure_and_replication_alerts() -> (
    None
):
    rules = yaml.safe_load(build().files[INFRASTRUCTURE_RULES_FILE])
    names = [r["alert"] for g in rules["groups"] for r in g["rules"]]
    assert set(names) == {*INFRASTRUCTURE_ALERTS, *REPLICATION_ALERTS}
    assert not set(INFRASTRUCTURE_ALERTS) & set(REPLICATION_ALERTS)


def test_every_metric_in_rules_and_dashboards_exists_in_a_catalog() -> None:
    rule_files = _rule_files()
    recorded: set[str] = set()
    for rule_file in rule_files.values():
        recorded |= recorded_names(rule_file)
    known = known_metric_names(recorded)
    used: dict[str, set[str]] = {}
    for name, rule_file in rule_files.items():
        for group in rule_file["groups"]:  # type: ignore[attr-defined]
            for rule in group["rules"]:
                used[f"{name}: {rule.get('record') or rule['alert']}"] = metric_names(rule["expr"])
    for name, text in build_dashboards().items():
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
    conventions = set(c.RECORDED_NAMES)
    assert {n for n in recorded if n not in conventions and not pattern.match(n)} == set()


def _runbook_paths() -> dict[str, str]:
    return {
        str(rule["alert"]): str(rule["annotations"]["runbook_url"])  # type: ignore[index]
        for rule in _alerts()
    }


def test_every_alert_has_a_runbook_that_exists() -> None:
    missing = {
        alert: path
        for alert, path in _runbook_paths().items()
        if not path.startswith(f"{RUNBOOK_DIR}/") or not (ROOT / path).is_file()
    }
    assert missing == {}


def test_every_runbook_belongs_to_an_alert() -> None:
    referenced = {Path(p).name for p in _runbook_paths().values()}
    on_disk = {p.name for p in RUNBOOKS.glob("*.md")}
    assert on_disk == referenced


def test_runbooks_have_the_sections_an_on_call_engineer_needs() -> None:
    generated = {Path(p).name for p in _runbook_paths().values()}
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
    known = known_metric_names()
    fence = re.compile(r"```promql\n(.*?)```", re.S)
    unknown = {}
    for path in sorted(RUNBOOKS.glob("*.md")):
        for block in fence.findall(path.read_text()):
            for line in block.splitlines():
                names = metric_names(line) - known
                if names:
                    unknown[f"{path.name}: {line.strip()}"] = names
    assert unknown == {}


def test_every_alert_points_at_a_panel_that_exists() -> None:
    panels = set()
    for text in build_dashboards().values():
        document = json.loads(text)
        panels |= {f"{q.dashboard} / {q.panel}" for q in panel_queries(document)}
    pointed = {
        str(r["alert"]): r["annotations"].get("dashboard")  # type: ignore[attr-defined]
        for r in _alerts()
        if not str(r["alert"]).endswith("NoData")  # the SLO engine's own no-data alert
    }
    assert {a: p for a, p in pointed.items() if p not in panels} == {}


def test_every_alert_is_a_page_or_a_ticket_with_summary_and_description() -> None:
    for rule in _alerts():
        labels = rule["labels"]
        annotations = rule["annotations"]
        assert labels["severity"] in (c.SEVERITY_PAGE, c.SEVERITY_TICKET), rule["alert"]  # type: ignore[index]
        assert labels["service"], rule["alert"]  # type: ignore[index]
        assert annotations["summary"] and annotations["runbook_url"], rule["alert"]  # type: ignore[index]


def test_probe_rules_select_on_probe_metrics_and_labels_never_on_the_scrape_job() -> None:
    # The probe's series carry job="tidewatch-broker" when tidewatch up serves them from
    # the broker's endpoint and job="tidewatch-probe" from a standalone probe.
    probe_names = {s.name for s in PROBE_CATALOG}
    checked = 0
    for rule_file in _rule_files().values():
        for group in rule_file["groups"]:  # type: ignore[attr-defined]
            for rule in group["rules"]:
                names = {
                    n.removesuffix("_bucket").removesuffix("_count")
                    for n in metric_names(rule["expr"])
                }
                if names & probe_names:
                    checked += 1
                    assert "job" not in rule["expr"], rule.get("record") or rule["alert"]
    assert checked >= 2 + 3 * 2


def test_tidewatch_up_evaluates_the_platform_set() -> None:
    from tidewatch.platform import PlatformConfig

    assert load_files(PlatformConfig().slo_specs) == PLATFORM
