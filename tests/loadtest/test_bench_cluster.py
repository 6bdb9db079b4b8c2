"""``tidewatch bench --only replication,failover`` end to end with tiny counts: the
structure of what it prints and writes, never how fast anything was."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from broker.config import ClusterSettings
from loadtest.bench import bench
from loadtest.benchmark.cluster_side import CLUSTER_TIMINGS
from loadtest.benchmark.figures import CLUSTER_WORKLOADS, FIGURES

pytestmark = pytest.mark.slow

TINY = [
    "--only", "replication,failover",
    "--replication-messages", "300",
    "--repeats", "2",
    "--failover-kills", "2",
    "--timeout", "120",
]  # fmt: skip
CLUSTER_FIGURES = {spec.key for spec in FIGURES if spec.workload in CLUSTER_WORKLOADS}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("cluster-bench")
    args = [*TINY, "--json", str(work / "figures.json"), "--work-dir", str(work / "data")]
    result = CliRunner().invoke(bench, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads((work / "figures.json").read_text())
    report["_output"] = result.output
    return report


def test_only_the_cluster_figures_are_reported_each_without_an_error(
    report: dict[str, Any],
) -> None:
    assert set(report["figures"]) == CLUSTER_FIGURES
    for key, figure in report["figures"].items():
        assert figure["error"] is None, (key, figure["error"])
        assert figure["redis"] is None and figure["ratio"] is None, key


def test_the_replication_ratio_has_one_sample_per_round_from_the_two_rates(
    report: dict[str, Any],
) -> None:
    figures = report["figures"]
    ratios = figures["replication.ratio"]["samples"]["tidewatch"]
    cluster = figures["replication.cluster_messages_per_second"]["samples"]["tidewatch"]
    single = figures["replication.single_messages_per_second"]["samples"]["tidewatch"]
    assert len(ratios) == len(cluster) == len(single) == 2
    assert ratios == pytest.approx([c / s for c, s in zip(cluster, single, strict=True)])
    rounds = report["details"]["replication"]["rounds"]
    assert [set(r) for r in rounds] == [
        {"single_messages_per_second", "cluster_messages_per_second"}
    ] * 2


def test_each_kill_names_the_killed_leader_and_the_new_one_and_the_bounds_are_stated(
    report: dict[str, Any],
) -> None:
    failover = report["details"]["failover"]
    kills = failover["kills"]
    assert len(kills) == 2
    for kill in kills:
        assert kill["killed"] != kill["new_leader"]
        assert {kill["killed"], kill["new_leader"]} <= {1, 2, 3}
        assert isinstance(kill["killed_was_controller"], bool)
        assert kill["partition"] in {0, 1, 2}
    samples = report["figures"]["failover.seconds_to_produce"]["samples"]["tidewatch"]
    assert samples == [k["seconds_to_produce"] for k in kills]
    assert failover["max_seconds"] == max(samples)
    assert failover["bounds"]["brokers.session_timeout_ms"] == 4000
    assert "fence_on_disconnect" in failover["bounds"]["explanation"]


def test_the_printed_report_has_the_three_broker_table_and_no_redis_table(
    report: dict[str, Any],
) -> None:
    output = report["_output"]
    assert "Three brokers (peer: a single broker, same run)" in output
    assert "Figures (medians)" not in output
    for heading in ("Median", "Min", "Max", "Samples", "Target"):
        assert heading in output
    assert "failover: 2 kills" in output


def test_the_cluster_timings_of_the_bench_are_the_brokers_defaults() -> None:
    defaults = ClusterSettings()
    expected = {
        "brokers": {
            "session_timeout_ms": defaults.session_timeout_ms,
            "heartbeat_interval_ms": defaults.heartbeat_interval_ms,
        },
        "controller": {
            "fence_on_disconnect": defaults.fence_on_disconnect,
            "tick_ms": defaults.tick_ms,
        },
        "replication": {"replica_fetch_backoff_ms": defaults.replica_fetch_backoff_ms},
    }
    assert expected == CLUSTER_TIMINGS
