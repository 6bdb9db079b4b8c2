"""Every dashboard query and every rule expression, evaluated by a real Prometheus that
scrapes a real broker and a real probe, with traffic, and has the generated rules loaded.

The broker gets a 3-partition topic, records produced with keys, one consumer group that
read everything and one that committed halfway (so lag, lag in seconds and retention
headroom exist). A real ``tidewatch probe`` (subprocess, one record per partition every
200 ms) probes the same broker. As ``tidewatch up`` will do, the broker's and the probe's
metrics are served from one endpoint, scraped as the broker job: the probe's series carry
job="tidewatch-broker", and every probe panel and rule must work regardless (they never
select on the job). Prometheus (Debian package, run by hand on 127.0.0.1) scrapes every
second with the generated scrape settings and evaluates the generated rule files.

Each dashboard query must be valid PromQL and return data, except the few listed in
FAULT_ONLY, which only have data when something is wrong (the probe panels are not among
them), and the replication panels that show follower replicas (FOLLOWERS_ONLY; a single
broker has none): test_live_replication.py checks every replication panel against a
three-broker cluster. Each rule expression must be valid PromQL, the SLI and budget rules of every
platform SLO (broker and probe) must produce series, and each template variable must list
values.
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from alerts.build import INFRASTRUCTURE_RULES_FILE, SLO_RULES_FILE, build
from alerts.platform_slos import platform_slo_specs
from alerts.scrape import prometheus_config
from broker.metrics import catalog as m
from contracts.alerts import DASHBOARD_DEBUG, DASHBOARD_ONCALL
from contracts.launcher import BrokerProcess
from contracts.promql import metric_names
from contracts.scrape import BROKER_JOB, UP
from dashboards.build import build as build_dashboards
from dashboards.build import label_values_parts, panel_queries, variable_queries
from dashboards.replication import FOLLOWER_LAG, REPLICA_DETAIL
from slo import conventions as c
from synthetics.catalog import PROBE_CATALOG, PROBE_METRICS
from tests.dashboards.support import (
    MergedEndpoint,
    ProbeProcess,
    PrometheusServer,
    answers,
    expand,
    fetch_text,
    get_json,
    poll,
    query,
    replication_panels,
)
from tests.support import tools

PROMETHEUS = tools.find_tool(tools.PROMETHEUS)
pytestmark = [
    pytest.mark.slow,
    tools.requires(tools.PROMETHEUS),
]

TOPIC, PARTITIONS, RECORDS = "orders", 3, 300
CAUGHT_UP, HALFWAY = "audit", "billing"

# (dashboard title, panel title) -> why it has no data on a healthy broker.
FAULT_ONLY: dict[tuple[str, str], str] = {
    ("Tidewatch On-call", "Authentication and authorization failures"): (
        "no SASL/ACLs on the test broker: no request is ever denied"
    ),
    ("Tidewatch Debug", "Malformed requests by reason"): (
        "the counter has a series per reason only once such a request arrived"
    ),
}

# The probe's target and cluster: the cluster is the broker's (its `cluster` setting).
PROBE_TARGET, CLUSTER = "local", "local"
PROBE_NAMES = {s.name for s in PROBE_CATALOG}

# Rates need two scrapes after the traffic; lag, headroom and the SLO rules the groups;
# the probe's rates and latency quantiles a few probe rounds. Every SLO's rules chain
# (SLI, then metadata) must have been evaluated once.
SLO_IDS = {slo.id for slo in platform_slo_specs()}
_E2E = f"{PROBE_METRICS.end_to_end_latency.name}_bucket"
READY = (
    f"sum(rate({m.PARTITION_BYTES_APPENDED.name}[1m])) > 0",
    m.GROUP_RETENTION_HEADROOM.name,
    f"sum(rate({PROBE_METRICS.consumed.name}[1m])) > 0",
    f"histogram_quantile(0.99, sum by (le) (rate({_E2E}[1m]))) > 0",
    f"count({c.sli_error_ratio_rule(c.CURRENT_WINDOW)}) == {len(SLO_IDS)}",
    f"count({c.RULE_PERIOD_BUDGET_REMAINING}) == {len(SLO_IDS)}",
)


def _produce(bootstrap: str, count: int) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for i in range(count):
        producer.produce(TOPIC, key=f"key-{i % 17}".encode(), value=b"x" * 200)
    assert producer.flush(20) == 0


def _traffic(bootstrap: str, scraped: Callable[[], bool]) -> None:
    """Produce twice, the second time after Prometheus has seen the partitions' counters
    (a counter first scraped at its final value has a rate of 0), then consume."""
    from confluent_kafka import Consumer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)]).values():
        future.result(timeout=20)
    _produce(bootstrap, RECORDS // 2)
    poll("the partition counters in Prometheus", scraped)
    _produce(bootstrap, RECORDS - RECORDS // 2)
    for group, wanted in ((CAUGHT_UP, RECORDS), (HALFWAY, RECORDS // 2)):
        consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        consumer.subscribe([TOPIC])
        seen = 0
        deadline = time.monotonic() + 30
        while seen < wanted and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            seen += 1
        assert seen == wanted, f"{group} consumed {seen} of {wanted}"
        consumer.commit(asynchronous=False)  # the positions of every assigned partition
        consumer.close()


# What tidewatch up's in-process SLO engine adds to the same endpoint: its own values
# under the recording rules' names (the ones the rules join on). The generated scrape
# config drops them, so Prometheus keeps one series per SLO, its own.
ENGINE_COPIES = (c.METRIC_OBJECTIVE, c.METRIC_ERROR_BUDGET, c.METRIC_PERIOD_BUDGET_REMAINING)


def _engine_copies() -> str:
    lines = []
    for spec in ENGINE_COPIES:
        lines += [f"# HELP {spec.name} {spec.help}", f"# TYPE {spec.name} gauge"]
        for slo in platform_slo_specs():
            labels = {c.LABEL_ID: slo.id, c.LABEL_SERVICE: slo.service, c.LABEL_SLO: slo.name}
            inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
            lines.append(f"{spec.name}{{{inner}}} {slo.error_budget_ratio!r}")
    return "\n".join(lines) + "\n"


def _probe_config(path: Path, bootstrap: str) -> Path:
    config = {
        "http": "off",  # overridden on the command line (port 0)
        "targets": [
            {
                "name": PROBE_TARGET,
                "cluster": CLUSTER,
                "bootstrap_servers": [bootstrap],
                "interval": "200ms",
                "broker_check_interval": "1s",
            }
        ],
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A broker with traffic, a probe probing it, their metrics on one endpoint and a
    Prometheus scraping it; yields Prometheus' URL."""
    tmp = tmp_path_factory.mktemp("live")
    stack = contextlib.ExitStack()
    broker = BrokerProcess(tmp / "data").start()
    stack.callback(broker.stop)
    try:
        probe = ProbeProcess(_probe_config(tmp / "probe.yaml", broker.bootstrap), tmp / "probe.log")
        stack.callback(probe.stop)
        probe.start()
        endpoint = MergedEndpoint(
            [
                lambda: fetch_text(f"{broker.http_url}/metrics"),
                lambda: fetch_text(f"{probe.url}/metrics"),
                _engine_copies,
            ]
        )
        endpoint._merged()  # fail here, with the reason, if the two cannot be merged
        stack.callback(endpoint.stop)
        endpoint.start()
        alerts = build()
        for name in (SLO_RULES_FILE, INFRASTRUCTURE_RULES_FILE):
            (tmp / name).write_text(alerts.files[name], encoding="utf-8")
        config = prometheus_config(
            [SLO_RULES_FILE, INFRASTRUCTURE_RULES_FILE],
            broker_targets=[endpoint.address],
            cluster=CLUSTER,
            alertmanagers=(),
            scrape_interval="1s",
            evaluation_interval="1s",
        )
        assert PROMETHEUS is not None
        prometheus = PrometheusServer(PROMETHEUS, tmp, config)
        stack.callback(prometheus.stop)
        url = prometheus.start()
        poll("the first scrape", lambda: answers(url, f"{UP} == 1"))
        _traffic(broker.bootstrap, lambda: answers(url, m.PARTITION_BYTES_APPENDED.name))
        logs = f"logs: {prometheus.log}, {tmp / 'probe.log'}"
        for expr in READY:
            poll(f"{expr} ({logs})", functools.partial(answers, url, expr))
        yield url
    finally:
        stack.close()


DASHBOARDS = {name: json.loads(text) for name, text in build_dashboards().items()}
QUERIES = {q.where: q for d in DASHBOARDS.values() for q in panel_queries(d)}
# A single broker reports itself as the active controller of a cluster of one, so the
# replication panels have data here too, except the ones showing followers: with one
# broker (replication factor 1) there are none. test_live_replication.py checks every
# replication panel against a three-broker cluster.
FOLLOWERS_ONLY: dict[tuple[str, str], str] = {
    (DASHBOARD_ONCALL, FOLLOWER_LAG): "no follower replicas on a single broker",
    (DASHBOARD_DEBUG, REPLICA_DETAIL): "its follower lag columns: no follower replicas",
}


def test_every_dashboard_query_is_valid_and_returns_data_unless_fault_only(live: str) -> None:
    problems = []
    empty = set()
    for where, q in sorted(QUERIES.items()):
        answer = query(live, expand(q.expr))
        if answer.get("status") != "success":
            problems.append(f"{where}: {answer.get('error')}")
        elif not answer["data"]["result"]:
            empty.add((q.dashboard, q.panel))
    missing = empty - set(FAULT_ONLY) - set(FOLLOWERS_ONLY)
    problems += [f"{d} / {p}: no data" for d, p in sorted(missing)]
    assert not problems, "\n".join(problems)
    # The fault-only list stays honest: every entry exists and really has no data.
    panels = {(q.dashboard, q.panel) for q in QUERIES.values()}
    assert set(FAULT_ONLY) <= panels
    assert set(FAULT_ONLY) <= empty
    assert set(FOLLOWERS_ONLY) <= panels & replication_panels(DASHBOARDS)
    assert set(FOLLOWERS_ONLY) <= empty


def test_every_rule_expression_is_valid_promql(live: str) -> None:
    problems = []
    count = 0
    for name in (SLO_RULES_FILE, INFRASTRUCTURE_RULES_FILE):
        for group in yaml.safe_load(build().files[name])["groups"]:
            for rule in group["rules"]:
                count += 1
                answer = query(live, rule["expr"])
                if answer.get("status") != "success":
                    what = rule.get("record") or rule.get("alert")
                    problems.append(f"{name}: {what}: {answer.get('error')}")
    assert count > 50
    assert not problems, "\n".join(problems)


def test_prometheus_loaded_every_generated_rule_group_without_errors(live: str) -> None:
    groups = get_json(live, "/api/v1/rules")["data"]["groups"]
    names = {g["name"] for g in groups}
    expected = {
        g["name"]
        for file in (SLO_RULES_FILE, INFRASTRUCTURE_RULES_FILE)
        for g in yaml.safe_load(build().files[file])["groups"]
    }
    assert names == expected
    unhealthy = [
        (g["name"], r["name"], r.get("lastError"))
        for g in groups
        for r in g["rules"]
        if r.get("health") == "err"
    ]
    assert not unhealthy


def test_no_alert_fires_on_a_healthy_broker(live: str) -> None:
    # Latency SLOs are left out: they measure this machine as much as the broker, and a
    # CI machine busy with other tests can honestly burn them in the first minutes (few
    # records, so a handful of slow ones is a high burn rate). Every other alert, the
    # errors, availability, lag and replication ones, must stay silent.
    firing = query(live, 'ALERTS{alertstate="firing", category!="latency"}')["data"]["result"]
    assert firing == []


def test_every_template_variable_lists_values(live: str) -> None:
    problems = []
    for name, document in sorted(DASHBOARDS.items()):
        for variable, text in variable_queries(document):
            selector, label = label_values_parts(text)
            answer = get_json(
                live, f"/api/v1/label/{label}/values", **{"match[]": [expand(selector)]}
            )
            if answer.get("status") != "success" or not answer["data"]:
                problems.append(f"{name} ${variable}: {answer}")
    assert not problems, "\n".join(problems)


def _uses_probe_metrics(expr: str) -> bool:
    suffixes = ("_bucket", "_count", "_sum")
    names = {n.removesuffix(s) for n in metric_names(expr) for s in suffixes if n.endswith(s)}
    return bool((metric_names(expr) | names) & PROBE_NAMES)


def test_the_probe_metrics_come_from_the_broker_endpoint_as_in_tidewatch_up(live: str) -> None:
    # over the last minute: one slow scrape on a busy machine marks every series stale
    series = 'last_over_time({__name__=~"tidewatch_probe_.+"}[1m])'
    jobs = query(live, f"count by (job, target) ({series})")
    assert [r["metric"] for r in jobs["data"]["result"]] == [
        {"job": BROKER_JOB, "target": PROBE_TARGET}
    ]


def test_every_probe_panel_returns_data_from_the_real_probe(live: str) -> None:
    probe_queries = {w: q for w, q in QUERIES.items() if _uses_probe_metrics(q.expr)}
    panels = {(q.dashboard, q.panel) for q in probe_queries.values()}
    assert len(panels) >= 5
    assert not panels & set(FAULT_ONLY)
    empty = [
        w
        for w, q in sorted(probe_queries.items())
        if not query(live, expand(q.expr))["data"]["result"]
    ]
    assert empty == []


def test_every_platform_slo_has_its_sli_and_budget_series(live: str) -> None:
    # Broker and probe SLOs alike: the recording rules found the series their selectors
    # name (a wrong name or label value would leave an SLO without data).
    for rule in (c.sli_error_ratio_rule(c.CURRENT_WINDOW), c.RULE_PERIOD_BUDGET_REMAINING):
        result = query(live, rule)["data"]["result"]
        assert {r["metric"][c.LABEL_ID] for r in result} == SLO_IDS, rule


def test_every_probe_rule_was_evaluated_without_error(live: str) -> None:
    groups = get_json(live, "/api/v1/rules")["data"]["groups"]
    probe_rules = [r for g in groups for r in g["rules"] if _uses_probe_metrics(r["query"])]
    # The probe alerts and, per probe SLO, at least its SLI recordings.
    assert len(probe_rules) >= 2 + 3 * 8
    assert [(r["name"], r["health"]) for r in probe_rules if r["health"] != "ok"] == []


def test_slo_series_served_with_the_platform_metrics_are_left_to_the_rules(live: str) -> None:
    # The endpoint also serves an SLO engine's copies of the recorded names; the scrape
    # config drops them, so each SLO has exactly one series, recorded by Prometheus (no
    # job label), and the rules joining on them work (checked above: no rule errors).
    for spec in ENGINE_COPIES:
        result = query(live, f"count by ({c.LABEL_ID}, job) ({spec.name})")["data"]["result"]
        assert sorted(r["metric"][c.LABEL_ID] for r in result) == sorted(SLO_IDS), spec.name
        assert all("job" not in r["metric"] and r["value"][1] == "1" for r in result)
