"""Game days on a cluster, as written: brokers, replicated topics, fault targets and the
replication, audit and client-error expectations; every mistake names the file, the
field and what is allowed."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from contracts.fields import ConfigError
from loadtest.gameday.bounds import Bound
from loadtest.gameday.scenario import parse_scenario

CLUSTER: dict[str, Any] = {
    "version": "tidewatch/gameday/v1",
    "name": "failover",
    "time_scale": 60,
    "duration": "20s",
    "brokers": 3,
    "workload": {
        "topic": {
            "name": "trades",
            "partitions": 4,
            "replication_factor": 3,
            "min_insync_replicas": 2,
        },
        "producers": {"rate": 100, "acks": ["all", 1]},
        "consumers": [{"group": "settlement"}],
    },
    "timeline": [
        {"id": "crash", "at": "5s", "fault": "broker-kill", "target": "most-leaders", "for": "6s"},
        {"id": "pause", "at": "12s", "fault": "broker-pause", "target": "follower", "partition": 1},
        {"id": "cut", "at": "4s", "fault": "leader-isolate", "for": "2s"},
        {"id": "roll", "at": "14s", "fault": "rolling-restart"},
    ],
    "expect": {
        "replication": {"isr_shrinks": True, "offline": False, "failover_within": "20s"},
        "audit": {"all": {"lost": 0, "duplicated": 0}, 1: {"lost": {"min": 1}}},
        "client_errors": {"non_retriable": 0},
        "silent": ["TidewatchUnderMinISR", {"alert": "X", "labels": {"severity": "page"}}],
        "no_page": True,
    },
}


def cluster_with(path: str, value: Any) -> dict[str, Any]:
    """CLUSTER with the field at dotted ``path`` set (``None`` removes it)."""
    doc = copy.deepcopy(CLUSTER)
    *parents, last = path.split(".")
    node: Any = doc
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    key_or_index: Any = int(last) if last.isdigit() else last
    if value is None:
        del node[key_or_index]
    else:
        node[key_or_index] = value
    return doc


def test_a_cluster_scenario_becomes_the_model() -> None:
    s = parse_scenario("c.yaml", CLUSTER, base=Path("/base"))
    assert s.brokers == 3
    topic = s.workload.topic
    assert (topic.replication_factor, topic.min_insync_replicas) == (3, 2)
    assert s.workload.producer.acks_mix == ("all", "1")
    assert [s.workload.producer.acks_of(k) for k in range(3)] == ["all", "1", "all"]
    assert s.workload.producer.resolved_processes(cpus=1) == 2, "one process per acks setting"
    assert [(f.kind, dict(f.params)) for f in s.timeline] == [
        ("broker-kill", {"target": "most-leaders"}),
        ("broker-pause", {"target": "follower", "partition": 1}),
        ("leader-isolate", {"target": "most-leaders"}),
        ("rolling-restart", {}),
    ]
    assert s.expect_replication is not None
    assert s.expect_replication.failover_within == 20.0
    assert s.expect_replication.under_min_isr is None
    assert [(acks, dict(b.bounds)) for acks, b in s.expect_audit] == [
        ("all", {"lost": Bound(0, 0), "duplicated": Bound(0, 0)}),
        ("1", {"lost": Bound(1, None)}),
    ]
    assert s.expect_client_errors is not None
    assert dict(s.expect_client_errors.bounds) == {"non_retriable": Bound(0, 0)}
    assert s.expect_silent == (("TidewatchUnderMinISR", ()), ("X", (("severity", "page"),)))
    assert s.expect_no_page


def test_a_rolling_restart_ends_by_itself_so_alerts_may_resolve_after_it() -> None:
    doc = cluster_with("expect.alerts", [{"alert": "A", "after": "roll", "resolves_within": 5}])
    (alert,) = parse_scenario("c.yaml", doc).expect_alerts
    assert alert.after == "roll"


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        pytest.param(
            "brokers", 9, "c.yaml: brokers: must be at most 5, not 9", id="too many brokers"
        ),
        pytest.param(
            "broker",
            {"proxy": True},
            "c.yaml: broker.proxy: is for a single broker; remove it or set brokers: 1 (not 3)",
            id="the single broker's proxy on a cluster",
        ),
        pytest.param(
            "workload.topic.replication_factor",
            4,
            "c.yaml: workload.topic.replication_factor: 4 is more than the scenario's brokers (3)",
            id="a topic replicated more than there are brokers",
        ),
        pytest.param(
            "workload.topic.min_insync_replicas",
            4,
            "c.yaml: workload.topic.min_insync_replicas: min.insync.replicas 4 is more than the "
            "replication factor 3: no acks=all write could ever succeed",
            id="min ISR above the replication factor",
        ),
        pytest.param(
            "workload.topic.configs",
            {"min.insync.replicas": "2"},
            "c.yaml: workload.topic.min_insync_replicas: is also given as "
            "configs.min.insync.replicas",
            id="min ISR given twice",
        ),
        pytest.param(
            "workload.producers.acks",
            ["all", "2"],
            'c.yaml: workload.producers.acks[1]: "2" is not allowed; allowed: 0, 1, all',
            id="an unknown acks setting in a mix",
        ),
        pytest.param(
            "workload.producers.processes",
            1,
            "c.yaml: workload.producers.processes: must be at least 2: one producer process "
            "per acks setting",
            id="fewer producer processes than acks settings",
        ),
        pytest.param(
            "timeline.0.target",
            None,
            "c.yaml: timeline[0].target: is required for broker-kill on a cluster",
            id="a kill on a cluster without a target",
        ),
        pytest.param(
            "timeline.0.target",
            "oldest",
            "c.yaml: timeline[0].target: 'oldest' is not allowed; allowed: most-leaders, "
            "leader, follower, controller, or a node id",
            id="an unknown target",
        ),
        pytest.param(
            "timeline.0.target",
            7,
            "c.yaml: timeline[0].target: node 7 is not in the cluster (nodes 1..3)",
            id="a node id outside the cluster",
        ),
        pytest.param(
            "timeline.1.partition",
            None,
            "c.yaml: timeline[1].partition: is required with target: follower",
            id="a follower of no partition",
        ),
        pytest.param(
            "timeline.1.partition",
            4,
            "c.yaml: timeline[1].partition: 4 is not a partition of the topic (0..3)",
            id="a partition the topic does not have",
        ),
        pytest.param(
            "timeline.0.partition",
            1,
            "c.yaml: timeline[0].partition: applies only to target: leader or follower, not "
            "most-leaders",
            id="a partition with a target that takes none",
        ),
        pytest.param(
            "timeline.2.target",
            "controller",
            "c.yaml: timeline[2].target: 'controller' is not allowed; allowed: most-leaders, "
            "leader",
            id="an isolated broker that is not a leader",
        ),
        pytest.param(
            "timeline.3.for",
            "2s",
            "c.yaml: timeline[3].for: rolling-restart ends by itself, once every broker is "
            "back in every ISR",
            id="a rolling restart with a duration",
        ),
        pytest.param(
            "expect.audit",
            {"0": {"lost": 0}},
            "c.yaml: expect.audit.0: no producer uses acks=0; used: all, 1",
            id="an audit of an acks setting no producer uses",
        ),
        pytest.param(
            "expect.audit",
            {"all": {"missing": 0}},
            'c.yaml: expect.audit.all.missing: unknown field "missing"',
            id="an audit of an unknown count",
        ),
        pytest.param(
            "expect.client_errors",
            {"fatal": 0},
            'c.yaml: expect.client_errors.fatal: unknown field "fatal"',
            id="an unknown class of client errors",
        ),
        pytest.param(
            "expect.replication.failover_within",
            "soon",
            "c.yaml: expect.replication.failover_within:",
            id="a failover bound that is not a duration",
        ),
        pytest.param(
            "expect.silent",
            [{"alert": "X", "severity": "page"}],
            'c.yaml: expect.silent[1].severity: unknown field "severity"',
            id="a silent alert with a misplaced label",
        ),
    ],
)
def test_cluster_mistakes_name_the_file_the_field_and_what_is_allowed(
    path: str, value: Any, message: str
) -> None:
    doc = cluster_with(path, value)
    if path == "expect.silent":
        doc["expect"]["silent"] = ["A", *value]
    if path == "workload.topic.configs":
        doc["workload"]["topic"]["configs"] = value
    with pytest.raises(ConfigError) as error:
        parse_scenario("c.yaml", doc)
    assert str(error.value).startswith(message)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            {"brokers": 1, "timeline": [{"at": 1, "fault": "broker-kill", "target": 1}]},
            "c.yaml: timeline[0].target: needs a cluster (brokers: 2 or more)",
            id="a target on a single broker",
        ),
        pytest.param(
            {"brokers": 2, "timeline": [{"at": 1, "fault": "leader-isolate"}]},
            "c.yaml: timeline[0].fault: leader-isolate needs brokers: 3 or more (not 2)",
            id="an isolated leader with no majority left behind",
        ),
        pytest.param(
            {"brokers": 1, "timeline": [], "expect": {"replication": {"offline": False}}},
            "c.yaml: expect.replication: needs a cluster (brokers: 2 or more)",
            id="replication expectations on a single broker",
        ),
    ],
)
def test_cluster_features_need_a_cluster(change: dict[str, Any], message: str) -> None:
    doc = copy.deepcopy(CLUSTER)
    doc["workload"]["topic"]["replication_factor"] = 1
    doc["workload"]["topic"]["min_insync_replicas"] = 1
    doc.update(change)
    with pytest.raises(ConfigError) as error:
        parse_scenario("c.yaml", doc)
    assert str(error.value) == message
