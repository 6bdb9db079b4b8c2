"""``BrokerCluster``'s configuration of its brokers, read without starting any."""

from __future__ import annotations

from pathlib import Path

from contracts.broker_cluster import BrokerCluster


def _voters(cluster: BrokerCluster, node: int) -> list[str]:
    voters: list[str] = cluster.brokers[node].config["controller"]["voters"]
    return voters


def test_every_node_lists_the_same_voters_without_a_quorum_route(tmp_path: Path) -> None:
    cluster = BrokerCluster(3, tmp_path)
    assert _voters(cluster, 1) == _voters(cluster, 2) == _voters(cluster, 3)
    assert [v.partition("@")[0] for v in _voters(cluster, 1)] == ["1", "2", "3"]


def test_a_quorum_route_gives_each_node_the_addresses_it_dials_and_its_own_listener(
    tmp_path: Path,
) -> None:
    routed: list[tuple[int, int]] = []

    def via_proxy(from_node: int, to_node: int, _address: str) -> str:
        routed.append((from_node, to_node))
        return f"127.0.0.{from_node}:{1000 + to_node}"

    cluster = BrokerCluster(3, tmp_path, quorum_route=via_proxy)
    assert sorted(routed) == [(1, 2), (1, 3), (2, 1), (2, 3), (3, 1), (3, 2)]
    own = {node: _voters(cluster, node)[node - 1] for node in (1, 2, 3)}
    assert _voters(cluster, 2) == ["1@127.0.0.2:1001", own[2], "3@127.0.0.2:1003"]
    assert all(own[n].startswith(f"{n}@127.0.0.1:") for n in own)
