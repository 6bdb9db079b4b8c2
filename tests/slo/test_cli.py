"""The ``tidewatch slo`` commands, run in-process with click's runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from slo import store
from slo.cli import slo
from slo.engine import Engine
from slo.sampling import Sampler
from slo.spec import load_files
from tests.slo.support import API_SPEC, CounterSeries

EXAMPLES = sorted(str(p) for p in Path("slo/examples").glob("*.yaml"))


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(slo, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize(
    "command", ["validate", "generate", "status", "backtest", "serve", "bench"]
)
def test_every_command_has_help(command: str) -> None:
    code, out = _run(command, "--help")
    assert code == 0
    assert "Usage:" in out


def test_validate_lists_each_slo_and_its_alerts() -> None:
    code, out = _run("validate", *EXAMPLES)
    assert code == 0, out
    assert "OK: 6 SLOs in 3 files" in out
    assert "myservice-requests-availability: 99.9% over rolling 30d" in out


def test_validate_rejects_a_bad_spec_with_one_line_naming_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(API_SPEC.replace("objective: 99.9", "objectve: 99.9"))
    code, out = _run("validate", str(bad))
    assert code == 1
    assert out.strip().splitlines() == [
        f'Error: {bad}: slos[0].objectve: unknown field "objectve" (did you mean "objective"?);'
        " allowed: alerting, budgeting, description, labels, name, objective, sli, window"
    ]


def test_generate_writes_the_same_rules_as_the_committed_examples(tmp_path: Path) -> None:
    out_file = tmp_path / "rules.yaml"
    code, _ = _run("generate", "slo/examples/platform.yaml", "-o", str(out_file))
    assert code == 0
    body = out_file.read_text().split("\n", 1)[1]
    committed = Path("slo/examples/rules/platform.yaml").read_text().split("\n", 2)[2]
    assert body == committed


def test_generate_to_an_unwritable_place_fails_with_a_reason(tmp_path: Path) -> None:
    code, out = _run("generate", EXAMPLES[0], "-o", str(tmp_path / "no" / "such" / "dir.yaml"))
    assert code == 1
    assert "cannot write" in out


def test_status_needs_exactly_one_data_source() -> None:
    code, out = _run("status", *EXAMPLES)
    assert code == 1
    assert "give exactly one of --prometheus URL, --state FILE or --from URL" in out


def test_status_from_a_saved_history_prints_json_and_a_table(tmp_path: Path) -> None:
    spec = tmp_path / "api.yaml"
    spec.write_text(API_SPEC)
    slos = load_files([spec])
    engine, sampler = Engine(slos), Sampler(slos, 60, use_promql=False)
    series = CounterSeries.build(180, 60, 1000, lambda i: 0.5 if i > 120 else 0.0)
    bad_q, total_q = sampler.queries()
    for i in range(180):
        values = {bad_q: float(series.errors[i]), total_q: float(series.total[i])}
        engine.record(1_800_000_000 + i * 60, *sampler.step(values))
    state = tmp_path / "h.npz"
    store.save(state, engine, sampler)
    code, out = _run("status", str(spec), "--state", str(state), "--json")
    assert code == 0, out
    (row,) = json.loads(out)["slos"]
    assert row["page"] == {"firing": True, "windows": ["1h/5m", "6h/30m"]}
    assert row["error_budget_remaining_ratio"] < 0
    code, out = _run("status", str(spec), "--state", str(state))
    assert code == 0
    assert "api-requests" in out
    assert "PAGE" in out


def test_backtest_of_a_recorded_file_reports_detection_and_reset(tmp_path: Path) -> None:
    spec = tmp_path / "api.yaml"
    spec.write_text(API_SPEC)
    lines = ["# TYPE errors counter", "# TYPE requests counter"]
    start = 1_800_000_000
    errors = requests = 0
    rows_e, rows_r = [], []
    for minute in range(24 * 60):
        requests += 1000
        errors += 200 if 600 <= minute < 660 else 0  # 20% errors for an hour
        rows_e.append(f'errors_total{{job="api"}} {errors} {start + minute * 60}')
        rows_r.append(f'requests_total{{job="api"}} {requests} {start + minute * 60}')
    recorded = tmp_path / "history.om"
    recorded.write_text("\n".join(lines[:1] + rows_e + lines[1:] + rows_r + ["# EOF", ""]))
    code, out = _run("backtest", str(spec), "--recorded", str(recorded), "--json")
    assert code == 0, out
    (result,) = json.loads(out)
    (incident,) = result["incidents"]
    # 20% errors from minute 599: the 1h ratio passes 14.4 x 0.001 after 5 bad minutes
    # (5 * 0.2 / 60 = 0.0167; 4 give 0.0133), the workbook's 4.32 minutes rounded up.
    assert incident["page_detection_seconds"] == 300
    assert incident["page_reset_seconds"] is not None
    assert incident["page_reset_seconds"] > 0
    assert {a["severity"] for a in result["alerts"]} == {"page", "ticket"}
    code, out = _run("backtest", str(spec), "--recorded", str(recorded))
    assert "incident" in out
    assert "page detect 5m" in out


def test_backtest_needs_a_history_source() -> None:
    code, out = _run("backtest", EXAMPLES[0])
    assert code == 1
    assert "give exactly one of --recorded FILE or --prometheus URL" in out


def test_serve_refuses_promql_slis_without_prometheus(tmp_path: Path) -> None:
    raw = tmp_path / "raw.yaml"
    raw.write_text(
        "version: prometheus/v1\nservice: s\nslos:\n  - name: r\n    objective: 99\n"
        "    sli: {raw: {error_ratio_query: 'x[{{.window}}]'}}\n    alerting: {name: A}\n"
    )
    code, out = _run("serve", str(raw), "--scrape", "http://127.0.0.1:1/metrics")
    assert code == 1
    assert "s-r: its PromQL SLI needs --prometheus" in out


def test_bad_durations_are_rejected_with_the_option_name() -> None:
    code, out = _run("validate", EXAMPLES[0], "--sloth-period", "a month")
    assert code == 1
    assert "--sloth-period: 'a month' is not a duration" in out
