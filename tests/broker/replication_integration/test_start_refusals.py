"""A ``tidewatch broker`` process that must not join refuses to start (issue 12).

Each case starts a real process and waits for it to exit: the exit code is not zero,
the output has exactly one ``Error:`` line naming the problem (and what to do), and no
traceback. The cases: a second process with the node id of a live broker of a running
cluster (the cluster keeps serving), a data directory that belongs to another cluster
id or node id, a controller listener on a node that is not a voter, several voters
without a cluster id, and values that cannot be parsed or are out of range.

The second process of a live node is a voter here, as every node of ``BrokerCluster``
is: on the same host it cannot bind that voter's quorum address, and that is its
refusal. (The controller's DUPLICATE_BROKER_REGISTRATION refusal needs the second
process to reach the active controller, which a node with the same voter id on another
address does not: it never learns the leader.
tests/broker/metadata/test_controller_brokers.py covers the controller's refusal.)
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from contracts.broker_cluster import BrokerCluster
from contracts.launcher import BrokerProcess, ProcessStartError
from tests.interop.clients import ConfluentKafka
from tests.interop.messages import Message
from tests.support.clusters import create_topic, running_cluster

pytestmark = pytest.mark.slow

ERROR_PREFIX = "Error: "
CLUSTER_ID = "refusals-cluster"
QUORUM = "127.0.0.1:1"  # never dialled: each of these processes stops before it would


@dataclass(frozen=True)
class Refusal:
    """How a process that refused to start ended."""

    exit_code: int
    output: str

    @property
    def reason(self) -> str:
        """The one ``Error:`` line (fails unless there is exactly one)."""
        lines = [line for line in self.output.splitlines() if line.startswith(ERROR_PREFIX)]
        assert len(lines) == 1, f"expected one {ERROR_PREFIX!r} line in:\n{self.output}"
        return lines[0]


def refusal_of(process: BrokerProcess) -> Refusal:
    """Start ``process`` and wait until it exits before it is ready (a process that
    becomes ready fails the test and is stopped)."""
    process.spawn()
    child = process.proc
    assert child is not None
    try:
        with pytest.raises(ProcessStartError, match="before it was ready"):
            process.wait_ready()
    finally:
        process.stop()
    assert child.returncode is not None
    return Refusal(child.returncode, process.output())


def assert_refused(refusal: Refusal, *fragments: str) -> None:
    assert refusal.exit_code != 0, refusal.output
    assert "Traceback" not in refusal.output, refusal.output
    for fragment in fragments:
        assert fragment in refusal.reason, refusal.output


# -- a duplicate of a live broker -------------------------------------------------------


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[BrokerCluster]:
    """Three brokers, each a voter of the metadata quorum."""
    with running_cluster(3, tmp_path / "cluster", cluster_id=CLUSTER_ID) as running:
        yield running


def _serves_a_produce_and_consume(cluster: BrokerCluster, topic: str) -> None:
    create_topic(cluster.bootstrap, topic)
    cluster.wait_for_isr(topic, 0, {1, 2, 3})
    client = ConfluentKafka()
    sent = [Message(f"record {i}".encode()) for i in range(10)]
    client.produce(cluster.bootstrap, topic, sent, options={"acks": "all"})
    got = client.consume(cluster.bootstrap, topic, len(sent))
    assert [c.value for c in got] == [m.value for m in sent]


def test_a_second_process_of_a_live_node_is_refused_and_the_cluster_keeps_serving(
    cluster: BrokerCluster, tmp_path: Path
) -> None:
    live = cluster.brokers[3]
    duplicate = BrokerProcess(tmp_path / "duplicate-of-3", config=copy.deepcopy(live.config))
    quorum_address = next(v for v in live.config["controller"]["voters"] if v.startswith("3@"))[2:]

    refusal = refusal_of(duplicate)

    assert_refused(
        refusal,
        f"node 3 cannot listen for the metadata quorum on {quorum_address}",
        "Address already in use",
        "if another process runs node 3, stop it",
    )
    assert live.running
    _serves_a_produce_and_consume(cluster, "after-a-duplicate")


# -- a data directory of another cluster or node ----------------------------------------


def _owned_data_dir(base_dir: Path) -> BrokerProcess:
    """A single-node cluster's broker (node 1 of ``CLUSTER_ID``) started once and
    stopped: its data directory now belongs to that cluster and node."""
    cluster = BrokerCluster(1, base_dir, cluster_id=CLUSTER_ID)
    cluster.start()
    cluster.stop()
    return cluster.brokers[1]


def test_a_data_directory_of_another_cluster_id_is_refused(tmp_path: Path) -> None:
    broker = _owned_data_dir(tmp_path)
    broker.config["cluster_id"] = "another-cluster"

    assert_refused(
        refusal_of(broker),
        f"belongs to cluster {CLUSTER_ID!r}, not 'another-cluster'",
        "use another --data-dir or the right cluster_id",
    )


def test_a_data_directory_of_another_node_id_is_refused(tmp_path: Path) -> None:
    broker = _owned_data_dir(tmp_path)
    broker.config["node_id"] = 2

    assert_refused(
        refusal_of(broker),
        "belongs to node 1, not 2",
        "use another --data-dir or node_id 1",
    )


# -- configs that cannot run --------------------------------------------------------------


@dataclass(frozen=True)
class ConfigCase:
    name: str
    config: Mapping[str, Any]
    fragments: tuple[str, ...]


CONFIG_CASES = (
    ConfigCase(
        "a controller listener on a node that is not a voter",
        {
            "node_id": 3,
            "cluster_id": CLUSTER_ID,
            "controller": {"voters": [f"1@{QUORUM}", "2@127.0.0.1:2"], "listen": QUORUM},
        },
        (
            "controller.listen",
            "node 3 has a controller listener but is not in controller.voters (1, 2)",
            "add it there or drop the listener",
        ),
    ),
    ConfigCase(
        "several voters without a cluster id",
        {"node_id": 1, "controller": {"voters": [f"1@{QUORUM}", "2@127.0.0.1:2"]}},
        ("cluster_id", "is required when controller.voters has several voters"),
    ),
    ConfigCase(
        "a voter entry without a node id",
        {"node_id": 1, "controller": {"voters": [QUORUM]}},
        ("controller.voters", f"'{QUORUM}' is not ID@HOST:PORT"),
    ),
    ConfigCase(
        "a voter port out of range",
        {"node_id": 1, "controller": {"voters": ["1@127.0.0.1:70000"]}},
        ("controller.voters", "70000"),
    ),
    ConfigCase(
        "a negative node id",
        {"node_id": -1},
        ("node_id", "-1"),
    ),
    ConfigCase(
        "a session timeout no longer than the heartbeat interval",
        {"brokers": {"session_timeout_ms": 500, "heartbeat_interval_ms": 500}},
        ("brokers.session_timeout_ms", "must be longer than heartbeat_interval_ms (500)"),
    ),
)


@pytest.mark.parametrize("case", CONFIG_CASES, ids=[case.name for case in CONFIG_CASES])
def test_a_config_that_cannot_run_is_refused_with_the_key_and_the_reason(
    case: ConfigCase, tmp_path: Path
) -> None:
    broker = BrokerProcess(tmp_path / "data", config=case.config)

    assert_refused(refusal_of(broker), *case.fragments)
    assert not (tmp_path / "data").exists(), "a refused config must not create the data dir"
