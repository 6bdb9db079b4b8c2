"""Who reports what: partition state and the controller's gauges only from the active
controller, ``active`` from every node, voter lag only from the quorum leader."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from broker.metrics.controller_collector import ControllerCollector, QuorumState
from broker.metrics.leader_elections import LeaderElections
from tests.broker.metrics.test_partition_state import image_of


def scrape(active: bool, quorum: QuorumState) -> dict[str, list[tuple[dict[str, str], float]]]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        ControllerCollector(
            cluster="c",
            node_id=1,
            image=image_of,
            controller_active=lambda: active,
            elections=LeaderElections(),
            quorum=lambda: quorum,
        )
    )
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            samples.setdefault(s.name, []).append((s.labels, s.value))
    return samples


def test_the_active_controller_reports_every_partition_and_the_brokers() -> None:
    samples = scrape(True, QuorumState(4, 17, {1: 0, 2: 3}))

    assert samples["tidewatch_controller_active"] == [({"cluster": "c", "broker": "1"}, 1.0)]
    leaders = {s[0]["partition"]: s[1] for s in samples["tidewatch_partition_leader"]}
    assert leaders == {"0": 1.0, "1": 3.0, "2": -1.0}
    assert samples["tidewatch_controller_offline_partitions"][0][1] == 1.0
    assert samples["tidewatch_controller_fenced_brokers"][0][1] == 1.0
    fenced = {s[0]["node"]: s[1] for s in samples["tidewatch_controller_broker_fenced"]}
    assert fenced == {"1": 0.0, "2": 0.0, "3": 1.0}
    lag = {s[0]["voter"]: s[1] for s in samples["tidewatch_quorum_voter_lag_records"]}
    assert lag == {"1": 0.0, "2": 3.0}
    assert samples["tidewatch_quorum_term"][0][1] == 4.0


def test_another_node_reports_only_that_it_is_not_the_controller_and_its_raft_view() -> None:
    samples = scrape(False, QuorumState(4, 17, {}))

    assert samples["tidewatch_controller_active"][0][1] == 0.0
    assert "tidewatch_partition_leader" not in samples
    assert "tidewatch_controller_registered_brokers" not in samples
    assert "tidewatch_quorum_voter_lag_records" not in samples
    assert samples["tidewatch_quorum_committed_offset"][0][1] == 17.0
    kinds = {s[0]["kind"] for s in samples["tidewatch_controller_leader_elections_total"]}
    assert kinds == {"clean", "unclean"}, "counters stay on every voter"
