"""Game-day scenario files: the model, and mistakes reported as FILE: FIELD: REASON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from contracts.fields import ConfigError
from loadtest.gameday.scenario import Bound, load_scenario, parse_scenario
from tests.loadtest.gameday_support import SCENARIO, scenario_with

SHIPPED = sorted(Path("loadtest/scenarios").glob("*.yaml"))


def test_a_valid_scenario_becomes_the_model() -> None:
    s = parse_scenario("s.yaml", SCENARIO, base=Path("/base"))
    assert s.time_scale == 60
    assert s.workload.duration_seconds == 40.0
    assert [(f.id, f.kind, f.at_seconds, f.end_seconds) for f in s.timeline] == [
        ("stop", "consumer-stop", 5.0, 15.0),
        ("network-latency-1", "network-latency", 20.0, None),
    ]
    (alert,) = s.expect_alerts
    assert (alert.after, alert.fires_within, alert.resolves_within) == ("stop", 10.0, 5.0)
    assert s.expect_data_loss is not None
    assert dict(s.expect_data_loss.bounds) == {
        "lost": Bound(0, 0),
        "deleted_by_retention": Bound(1, None),
    }
    assert s.settle_seconds == 20.0, "settles as long as the recovery expectation needs"
    assert s.last_fault_end == 40.0


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_scenario_is_valid_and_loads_its_slos(path: Path) -> None:
    s = load_scenario(path)
    assert s.slo_files and all(f.exists() for f in s.slo_files)
    expects = s.expect_alerts or s.expect_replication or s.expect_audit
    assert expects, "a scenario without alert, replication or audit expectations proves nothing"


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        pytest.param(
            "timeline.0.fault",
            "broker-crash",
            'timeline[0].fault: "broker-crash" is not allowed; allowed: broker-kill',
            id="an unknown fault",
        ),
        pytest.param(
            "timeline.0.group",
            "nobody",
            'timeline[0].group: no consumer group "nobody" in the workload (billing)',
            id="a fault on a group the workload does not have",
        ),
        pytest.param(
            "timeline.0.for",
            "60s",
            "timeline[0].for: ends after the scenario (40 s)",
            id="a fault that outlasts the scenario",
        ),
        pytest.param(
            "timeline.1",
            {"at": 1, "fault": "network-latency"},
            "timeline[1].latency_ms: is required for network-latency",
            id="a fault without its parameter",
        ),
        pytest.param(
            "broker.proxy",
            False,
            "timeline[1].fault: network-latency needs broker.proxy: true",
            id="a network fault without the proxy",
        ),
        pytest.param(
            "timeline.1",
            {"at": 1, "fault": "disk-full"},
            "disk-full needs broker.tmpfs",
            id="a disk fault without a tmpfs",
        ),
        pytest.param(
            "broker.tmpfs",
            "lots",
            "broker.tmpfs: 'lots' is not a size like 64MiB",
            id="a tmpfs size that is not one",
        ),
        pytest.param(
            "expect.alerts.0.after",
            "later",
            'expect.alerts[0].after: "later" is not an event id; allowed: start, stop, network-latency-1',
            id="an expectation after an unknown event",
        ),
        pytest.param(
            "expect.alerts.0",
            {"alert": "X"},
            "expect.alerts[0].fires_within: give fires_within, resolves_within or both",
            id="an alert expectation without a time",
        ),
        pytest.param(
            "expect.data_loss",
            {"lots": 0},
            'expect.data_loss.lots: unknown field "lots"',
            id="an unknown accounting field",
        ),
        pytest.param(
            "time_scale",
            0.5,
            "time_scale: must be between 1 (real time) and 3600",
            id="a time scale below one",
        ),
        pytest.param(
            "alerts",
            {"evaluator": "grafana"},
            'alerts.evaluator: "grafana" is not allowed; allowed: auto, prometheus, in-process',
            id="an unknown evaluator",
        ),
        pytest.param(
            "workload.producers.duration",
            5,
            "workload.producers.duration: is set by the scenario",
            id="a workload with its own duration",
        ),
    ],
)
def test_mistakes_name_the_file_the_field_and_what_is_allowed(
    path: str, value: Any, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_scenario("s.yaml", scenario_with(path, value))
    assert message in str(info.value)
    assert str(info.value).startswith("s.yaml: ")


def test_an_alert_cannot_resolve_after_a_fault_that_never_ends() -> None:
    doc = scenario_with("expect.alerts.0.after", "network-latency-1")
    with pytest.raises(ConfigError, match="network-latency-1 lasts until the end"):
        parse_scenario("s.yaml", doc)
