"""Game-day set-up pieces: the brokers' configuration and the alert source (pure but
for :func:`make_source`, which may start nothing yet: sources start in the runner)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from contracts.scrape import PROBE_JOB
from loadtest.gameday.alerting import AlertSource, Targets
from loadtest.gameday.rules import thresholds_with
from loadtest.gameday.scenario import Scenario
from slo.model import SLO

__all__ = ["broker_config", "cluster_config", "in_parallel", "make_source", "read_rules"]


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def broker_config(scenario: Scenario) -> dict[str, Any]:
    """Game-day broker defaults under the scenario's own ``broker.config``."""
    defaults: dict[str, Any] = {
        "retention_check_interval_ms": 500,
        # Burrow-style STOP after a minute of silence, compressed like the alerts.
        "lag": {"min_stop_seconds": max(1, round(60 / scenario.time_scale)), "window_commits": 5},
        "groups": {"initial_rebalance_delay_ms": 200},
    }
    return _merge(defaults, scenario.broker.config)


def cluster_config(scenario: Scenario) -> dict[str, Any]:
    """Each broker's configuration on a cluster: the game-day defaults, with the flush
    policy (a flag on a single broker) as a config key."""
    return _merge(broker_config(scenario), {"flush": {"policy": scenario.broker.flush_policy}})


def read_rules(path: Path) -> dict[str, Any]:
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def in_parallel(*calls: Callable[[], None]) -> None:
    """Run ``calls`` in threads; re-raise the first failure once all are done."""
    errors: list[BaseException] = []

    def wrap(call: Callable[[], None]) -> None:
        try:
            call()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def make_source(
    scenario: Scenario, workdir: Path, rules: dict[str, Any], targets: Targets, slos: list[SLO]
) -> AlertSource:
    """The scenario's evaluator: Prometheus when installed (or asked), else in-process."""
    from loadtest.gameday.prometheus import PrometheusAlerts, prometheus_binary
    from loadtest.gameday.rules import scrape_interval

    choice = scenario.alerts.evaluator
    if choice == "prometheus" or (choice == "auto" and prometheus_binary() is not None):
        return PrometheusAlerts(
            workdir / "prometheus", rules, targets, scrape_interval(scenario.time_scale)
        )
    from loadtest.gameday.inprocess import InProcessAlerts

    return InProcessAlerts(
        slos,
        scenario.time_scale,
        targets,
        thresholds=thresholds_with(scenario.alerts.thresholds),
        pack=scenario.alerts.pack,
        exclude=scenario.alerts.exclude,
        probes=PROBE_JOB in targets.jobs,
    )
