"""``tidewatch bench`` end to end with tiny counts (a smoke test, not a performance test).

Runs the real command in-process through click's CliRunner: it starts its own broker
and redis-server on 127.0.0.1, runs every workload briefly, and writes JSON. The test
checks that every declared figure is there with a positive value, not how large it is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from loadtest.bench import bench
from loadtest.benchmark.figures import DEFAULT_WORKLOADS, FIGURES
from tests.support import tools

pytestmark = tools.requires(tools.REDIS_SERVER)

TINY = [
    "--messages", "3000",
    "--repeats", "2",
    "--small-seconds", "0.3",
    "--latency-rate", "500",
    "--latency-seconds", "0.5",
    "--memory-partitions", "40",
    "--memory-connections", "8",
    "--memory-seconds", "0.5",
    "--restart-log-gb", "0.003",
    "--timeout", "60",
]  # fmt: skip
DEFAULT_FIGURES = [spec for spec in FIGURES if spec.workload in DEFAULT_WORKLOADS]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench") / "figures.json"
    result = CliRunner().invoke(bench, [*TINY, "--json", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(out.read_text())
    report["_output"] = result.output
    return report


def test_every_default_figure_has_a_positive_median_for_tidewatch(report: dict[str, Any]) -> None:
    figures = report["figures"]
    assert set(figures) == {spec.key for spec in DEFAULT_FIGURES}
    for spec in DEFAULT_FIGURES:
        figure = figures[spec.key]
        assert figure["error"] is None, (spec.key, figure["error"])
        assert figure["tidewatch"] > 0, spec.key


def test_figures_with_a_redis_peer_have_a_positive_redis_value_and_ratio(
    report: dict[str, Any],
) -> None:
    for spec in DEFAULT_FIGURES:
        figure = report["figures"][spec.key]
        if spec.has_peer:
            assert figure["redis"] > 0, spec.key
            assert figure["ratio"] == pytest.approx(figure["tidewatch"] / figure["redis"])
        else:
            assert figure["redis"] is None, spec.key


def test_cheap_figures_are_the_median_of_one_sample_per_repeat(report: dict[str, Any]) -> None:
    for key in ("produce.messages_per_second", "consume.gigabytes_per_second"):
        samples = report["figures"][key]["samples"]
        assert len(samples["tidewatch"]) == 2
        assert len(samples["redis"]) == 2


def test_latency_run_received_every_message_it_sent(report: dict[str, Any]) -> None:
    latency = report["details"]["latency"]
    assert latency["received"] == latency["sent"] > 0
    figures = report["figures"]
    assert figures["latency.p50_ms"]["tidewatch"] <= figures["latency.p99_ms"]["tidewatch"]
    assert figures["latency.p99_ms"]["tidewatch"] <= figures["latency.max_ms"]["tidewatch"]


def test_report_describes_the_machine_and_the_core_sharing(report: dict[str, Any]) -> None:
    machine = report["machine"]
    assert machine["cpu_cores"] >= 1
    assert machine["memory_bytes"] > 0
    assert machine["redis_server"]
    assert machine["librdkafka"]
    assert "share this machine's" in report["sharing_note"]
    assert "Figures (medians)" in report["_output"]
    assert "Machine" in report["_output"]


def test_unknown_workload_is_rejected_with_a_one_line_reason() -> None:
    result = CliRunner().invoke(bench, ["--only", "produce,warp-speed"])
    assert result.exit_code == 2
    assert "unknown workload warp-speed" in result.output


def test_missing_redis_server_is_reported_in_one_line_before_anything_starts(
    tmp_path: Path,
) -> None:
    result = CliRunner().invoke(bench, ["--only", "small"], env={"PATH": str(tmp_path)})
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: redis-server is not installed (Debian: apt-get install redis-server); "
        "install it or pass --no-redis"
    ]
