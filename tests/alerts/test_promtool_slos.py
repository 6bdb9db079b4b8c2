"""promtool unit tests of the platform SLOs' burn-rate (and no-data) alerts, evaluated on
the generated slo-rules.yaml: an hour of clean traffic, then a hard failure. The page and
the ticket both fire 30 minutes into it (9% errors, 50% slow requests or lagging minutes
are far beyond 14.4x and 3x); the same hour of clean traffic without the failure stays
silent. Burn-rate arithmetic itself is tested minute by minute in tests/slo.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from alerts.build import SLO_RULES_FILE, build
from alerts.platform_slos import PLATFORM_SLO_FILE, platform_slos
from broker.metrics import catalog as m
from contracts.promql import selector
from slo.alerts import no_data_alert_name
from slo.model import SLO, LatencySLI
from synthetics.catalog import PROBE_METRICS as PROBES
from tests.alerts.support import (
    group_names,
    needs_promtool,
    probe_series,
    run_promtool_test,
    series,
)
from tests.slo.support import expected_alerts

BUILD = build()
RULES = BUILD.files[SLO_RULES_FILE]
SLOS = {slo.name: slo for slo in platform_slos(BUILD.files[PLATFORM_SLO_FILE])}
CLEAN, BAD = 60, 30  # minutes of clean traffic, then minutes of failure


def _counter(clean_per_min: int, bad_per_min: int) -> str:
    """Cumulative counter: ``clean_per_min`` for CLEAN minutes, then ``bad_per_min``."""
    end = clean_per_min * CLEAN
    return f"0+{clean_per_min}x{CLEAN} {end + bad_per_min}+{bad_per_min}x{BAD}"


def _requests(api: str, failing: bool) -> list[dict[str, str]]:
    return [
        series(m.REQUESTS, _counter(1000, 1000), api=api, error="none"),
        series(
            m.REQUESTS, _counter(0, 100 if failing else 0), api=api, error="kafka_storage_error"
        ),
    ]


def _latency(failing: bool) -> list[dict[str, str]]:
    slo = SLOS["broker-produce-latency"]
    assert isinstance(slo.sli, LatencySLI)
    return [
        series(
            m.REQUEST_DURATION,
            _counter(1000, 500 if failing else 1000),
            "_bucket",
            api="produce",
            le=slo.sli.le,
        ),
        series(m.REQUEST_DURATION, _counter(1000, 1000), "_bucket", api="produce", le="+Inf"),
        series(m.REQUEST_DURATION, _counter(1000, 1000), "_count", api="produce"),
    ]


def _probe_latency(failing: bool) -> list[dict[str, str]]:
    # Half the probe records of the failure take longer than the SLO's threshold.
    slo = SLOS["probe-end-to-end-latency"]
    assert isinstance(slo.sli, LatencySLI)
    spec, where = PROBES.end_to_end_latency, {"partition": "0"}
    return [
        probe_series(spec, _counter(60, 30 if failing else 60), "_bucket", le=slo.sli.le, **where),
        probe_series(spec, _counter(60, 60), "_bucket", le="+Inf", **where),
        probe_series(spec, _counter(60, 60), "_count", **where),
    ]


def _lag(failing: bool) -> list[dict[str, str]]:
    lagging = f"0x{CLEAN} 600x{BAD - 1}" if failing else f"0x{CLEAN + BAD}"
    return [series(m.GROUP_LAG_SECONDS, lagging, group="billing", topic="orders", partition="0")]


def _probe_availability(failing: bool) -> list[dict[str, str]]:
    return [
        probe_series(PROBES.produce_attempts, _counter(60, 60), partition="0"),
        probe_series(PROBES.produce_successes, _counter(60, 54 if failing else 60), partition="0"),
    ]


def _probe_loss(failing: bool) -> list[dict[str, str]]:
    return [
        probe_series(PROBES.produced, _counter(60, 60), partition="0"),
        probe_series(PROBES.lost, _counter(0, 6 if failing else 0), partition="0"),
    ]


@dataclass(frozen=True)
class Scenario:
    slo: str
    series: Callable[[bool], list[dict[str, Any]]]


SCENARIOS = {
    "broker_produce_availability": Scenario(
        "broker-produce-availability", lambda f: _requests("produce", f)
    ),
    "broker_fetch_availability": Scenario(
        "broker-fetch-availability", lambda f: _requests("fetch", f)
    ),
    "broker_produce_latency": Scenario("broker-produce-latency", _latency),
    "consumer_lag": Scenario("consumer-lag", _lag),
    "probe_produce_availability": Scenario("probe-produce-availability", _probe_availability),
    "probe_end_to_end_latency": Scenario("probe-end-to-end-latency", _probe_latency),
    "probe_data_loss": Scenario("probe-data-loss", _probe_loss),
}


def _check(slo: SLO, minute: int, severities: list[str]) -> dict[str, Any]:
    return {
        "eval_time": f"{minute}m",
        "alertname": slo.alerting.name,
        "exp_alerts": expected_alerts(slo, severities),
    }


@needs_promtool
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_slo_burn_alert_pages_and_tickets_on_a_hard_failure(tmp_path: Path, scenario: str) -> None:
    s = SCENARIOS[scenario]
    slo = SLOS[s.slo]
    test = {
        "input_series": s.series(True),
        "alert_rule_test": [
            _check(slo, CLEAN, []),
            _check(slo, CLEAN + BAD - 1, ["page", "ticket"]),
        ],
    }
    run_promtool_test(tmp_path, {SLO_RULES_FILE: RULES}, [test], _eval_order())


@needs_promtool
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_slo_burn_alert_is_silent_on_clean_traffic(tmp_path: Path, scenario: str) -> None:
    s = SCENARIOS[scenario]
    slo = SLOS[s.slo]
    test = {
        "input_series": s.series(False),
        "alert_rule_test": [_check(slo, CLEAN + BAD - 1, [])],
    }
    run_promtool_test(tmp_path, {SLO_RULES_FILE: RULES}, [test], _eval_order())


@needs_promtool
def test_probe_slo_no_data_alert_fires_ten_minutes_after_the_sli_disappears(
    tmp_path: Path,
) -> None:
    # The probe counters stop at t20. Their last samples go stale 5 minutes later, so the
    # 5m ratio is last recorded at t24; absent_over_time(...[10m]) is true from t35.
    slo = SLOS["probe-produce-availability"]
    name = no_data_alert_name(slo)
    rule = next(
        r for g in BUILD.slo_rule_file["groups"] for r in g["rules"] if r.get("alert") == name
    )
    from slo.alerts import expand_templates

    labels = {**rule["labels"]}
    expected = {
        "exp_labels": labels,
        "exp_annotations": {k: expand_templates(v, labels) for k, v in rule["annotations"].items()},
    }
    stopped = [
        probe_series(PROBES.produce_attempts, "0+60x20", partition="0"),
        probe_series(PROBES.produce_successes, "0+60x20", partition="0"),
    ]
    test = {
        "input_series": stopped,
        "alert_rule_test": [
            {"eval_time": "20m", "alertname": name, "exp_alerts": []},
            {"eval_time": "34m", "alertname": name, "exp_alerts": []},
            {"eval_time": "35m", "alertname": name, "exp_alerts": [expected]},
        ],
    }
    run_promtool_test(tmp_path, {SLO_RULES_FILE: RULES}, [test], _eval_order())


def _eval_order() -> list[str]:
    # Recording groups, then metadata, then alerts (TOOLCHAIN.md: group_eval_order).
    groups = group_names(RULES)
    rank = {"sli-recordings": 0, "meta-recordings": 1, "alerts": 2}
    return sorted(groups, key=lambda g: next(v for k, v in rank.items() if k in g))


def test_every_platform_slo_alert_has_scenarios() -> None:
    assert {s.slo for s in SCENARIOS.values()} == set(SLOS)
    # Broker SLOs have no no-data alert (idle brokers have no traffic); probe SLOs do.
    alerts = {r["alert"] for g in BUILD.slo_rule_file["groups"] for r in g["rules"] if "alert" in r}
    burn = {slo.alerting.name for slo in SLOS.values()}
    no_data = alerts - burn
    assert no_data == {no_data_alert_name(s) for n, s in SLOS.items() if n.startswith("probe-")}


def test_slo_selectors_come_from_the_catalog() -> None:
    spec = BUILD.files[PLATFORM_SLO_FILE]
    assert selector(m.REQUESTS, api="produce") in spec
    assert selector(m.GROUP_LAG_SECONDS) in spec
