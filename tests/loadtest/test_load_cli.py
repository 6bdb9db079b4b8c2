"""``tidewatch load`` against a real broker: the schedule is kept, every acknowledged
record is accounted for, and the report is written as JSON and self-contained HTML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from contracts.launcher import BrokerProcess
from tidewatch.cli import cli

pytestmark = pytest.mark.interop

WORKLOAD: dict[str, object] = {
    "version": "tidewatch/load/v1",
    "name": "smoke",
    "topic": {"name": "smoke", "partitions": 3},
    "producers": {
        "processes": 2,
        "rate": 1500,
        "ramp": "1s",
        "duration": "4s",
        "acks": "all",
        "compression": "lz4",
        "message": {"size": {"distribution": "choice", "values": [64, 1024], "weights": [3, 1]}},
        "keys": {"distribution": "zipf", "count": 100},
    },
    "consumers": [{"group": "smoke-a", "members": 2}, {"group": "smoke-b"}],
    "drain": "15s",
}


def write(tmp_path: Path, doc: dict[str, object]) -> Path:
    path = tmp_path / "workload.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_workload_runs_against_a_broker_and_writes_its_report(
    tmp_path: Path, broker: BrokerProcess
) -> None:
    out = tmp_path / "report"
    result = CliRunner().invoke(
        cli,
        ["load", str(write(tmp_path, WORKLOAD)), "--bootstrap", broker.bootstrap, "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    scheduled = report["totals"]["scheduled"]
    assert scheduled == 5250  # 750 during the 1 s ramp, then 3 s at 1500/s
    assert report["totals"]["sent"] == scheduled
    assert report["totals"]["acked"] == scheduled
    assert report["processes"] == {"producers": 2, "consumers": {"smoke-a": 2, "smoke-b": 1}}
    for account in report["data_loss"]:
        assert account["consumed"] == scheduled, account
        assert account["lost"] == 0
    lat = report["latency_ms"]
    expected_counts = {
        "ack": scheduled,
        "end_to_end": 2 * scheduled,  # both groups read every record
        "end_to_end[smoke-a]": scheduled,
        "end_to_end[smoke-b]": scheduled,
    }
    for name, count in expected_counts.items():
        assert lat[name]["count"] == count, name
        assert 0 < lat[name]["p50_ms"] <= lat[name]["p99_ms"] <= lat[name]["max_ms"]
    assert report["bottleneck"]["bottleneck"] in ("none", "generator", "target")
    assert len(report["timeline"]) >= 4
    assert "scheduled send time" in report["coordinated_omission"]
    html = (out / "report.html").read_text()
    assert html.count("<svg") == 3
    assert "<script" not in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "latency" in result.output
    assert "lost 0" in result.output


def test_without_a_bootstrap_the_load_runs_against_an_embedded_broker(tmp_path: Path) -> None:
    doc = {**WORKLOAD, "producers": {"rate": 200, "duration": "2s"}, "consumers": []}
    out = tmp_path / "report"
    result = CliRunner().invoke(cli, ["load", str(write(tmp_path, doc)), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "embedded broker at 127.0.0.1:" in result.output
    assert json.loads((out / "report.json").read_text())["totals"]["acked"] == 400


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        pytest.param(
            {"producers": {"rate": 10}}, "producers.duration: is required", id="a missing duration"
        ),
        pytest.param({"version": "v2"}, 'version: "v2" is not supported', id="a wrong version"),
    ],
)
def test_a_bad_workload_exits_non_zero_with_a_one_line_reason(
    tmp_path: Path, change: dict[str, object], reason: str
) -> None:
    result = CliRunner().invoke(cli, ["load", str(write(tmp_path, {**WORKLOAD, **change}))])
    assert result.exit_code == 1
    assert reason in result.output
    assert result.output.count("\n") == 1


def test_an_unreachable_cluster_is_reported_in_one_line(tmp_path: Path) -> None:
    doc = {**WORKLOAD, "producers": {"rate": 10, "duration": "1s"}, "consumers": []}
    args = [
        "load",
        str(write(tmp_path, doc)),
        "--bootstrap",
        "127.0.0.1:1",
        "--connect-timeout",
        "2",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "Error: cannot reach 127.0.0.1:1" in result.output
    assert result.output.count("\n") == 1


def test_gameday_validate_names_the_file_and_field_of_a_mistake(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("version: tidewatch/gameday/v1\nname: x\nduration: 10s\nworkload: {}\n")
    result = CliRunner().invoke(cli, ["gameday", "validate", str(path)])
    assert result.exit_code == 1
    assert f"{path}: workload.producers: is required" in result.output
    ok = CliRunner().invoke(cli, ["gameday", "validate", "loadtest/scenarios/broker-outage.yaml"])
    assert ok.exit_code == 0
    assert "broker-kill@8s" in ok.output
