"""A leader cut off from the other brokers, while a client still reaches it.

Broker 1 leads the partition. Every link between it and the other two brokers runs
through a fault proxy: the quorum links both ways (``BrokerCluster(quorum_route=...)``:
each node dials the others at the address the route gives) and the followers' fetches
(broker 1 advertises a proxy in front of its Kafka listener; the test's client dials
the listener itself). The cut blackholes every one of those proxies, as a network
partition would: frames are lost and nobody is told.

On the cut-off side the leader cannot acknowledge an acks=all write (its followers
cannot fetch and it cannot reach the controller to shrink the ISR); on the other side
the controller fences it and elects a new leader, which takes acks=all writes. When
the network heals (the proxies forward again and reset the connections that lost
frames, as broken TCP connections would be), the old leader learns it follows,
truncates what it wrote alone, catches up, and the three replicas are byte-identical
up to the high watermark.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kio.schema.errors import ErrorCode

from broker.records.record import Record, build_batch
from contracts.broker_cluster import BrokerCluster, PartitionView
from loadtest.faults.proxy import ThreadedFaultProxy
from tests.interop.clients import ConfluentKafka
from tests.interop.wire import WireClient
from tests.support.clusters import create_topic, replica_bytes, running_cluster

pytestmark = pytest.mark.slow

TOPIC = "cut-off-leader"
CUT_OFF = 1
OTHERS = frozenset({2, 3})
# What a leader that cannot commit answers an acks=all produce: it times out waiting
# for followers that never fetch (or says why it cannot wait).
NOT_ACKNOWLEDGED = {
    ErrorCode.request_timed_out,
    ErrorCode.not_enough_replicas,
    ErrorCode.not_enough_replicas_after_append,
    ErrorCode.not_leader_or_follower,
}


@dataclass
class Isolation:
    """The proxies on every link between ``CUT_OFF`` and the other brokers, by link:
    ``(from, to)`` for quorum links, ``"fetches"`` for the followers' fetches."""

    proxies: dict[tuple[int, int] | str, ThreadedFaultProxy] = field(default_factory=dict)

    def route(self, from_node: int, to_node: int, address: str) -> str:
        """``BrokerCluster``'s quorum route: links touching ``CUT_OFF`` get a proxy."""
        if CUT_OFF not in (from_node, to_node):
            return address
        host, _, port = address.rpartition(":")
        return self.add((from_node, to_node), ThreadedFaultProxy((host, int(port)))).address

    def add(self, link: tuple[int, int] | str, proxy: ThreadedFaultProxy) -> ThreadedFaultProxy:
        self.proxies[link] = proxy.start()
        return proxy

    def carried_traffic(self) -> bool:
        """Whether the followers' fetches and, with each other broker, one quorum link
        or the other (a connection serves both ways) went through the proxies."""
        used = {link for link, proxy in self.proxies.items() if proxy.stats.accepted > 0}
        return "fetches" in used and all(
            (CUT_OFF, node) in used or (node, CUT_OFF) in used for node in OTHERS
        )

    def cut(self) -> None:
        for proxy in self.proxies.values():
            proxy.set_mode("blackhole")

    def heal(self) -> None:
        for proxy in self.proxies.values():
            proxy.restore()
            proxy.reset_connections()

    def close(self) -> None:
        for proxy in self.proxies.values():
            proxy.close()


@pytest.fixture
def isolation() -> Iterator[Isolation]:
    isolation = Isolation()
    try:
        yield isolation
    finally:
        isolation.close()


@pytest.fixture
def cluster(tmp_path: Path, isolation: Isolation) -> Iterator[BrokerCluster]:
    fetches_to_leader = isolation.add("fetches", ThreadedFaultProxy())  # upstream: once bound

    def advertise_the_proxy(cluster: BrokerCluster) -> None:
        cluster.brokers[CUT_OFF].advertised = fetches_to_leader.address

    with running_cluster(
        3, tmp_path, prepare=advertise_the_proxy, quorum_route=isolation.route
    ) as running:
        fetches_to_leader.set_upstream("127.0.0.1", running.brokers[CUT_OFF].listen_address.port)
        yield running


def _direct(cluster: BrokerCluster, node: int) -> str:
    """The broker's own Kafka listener, not the address it advertises."""
    return f"127.0.0.1:{cluster.brokers[node].listen_address.port}"


def _produce_acks_all(cluster: BrokerCluster, node: int, value: bytes) -> ErrorCode:
    batch = build_batch([Record(value, timestamp_ms=int(time.time() * 1000))])
    with WireClient(_direct(cluster, node), timeout_s=60) as wire:
        return ErrorCode(wire.produce(TOPIC, 0, batch, acks=-1).error_code)


def _seen_by(
    cluster: BrokerCluster, node: int, *, leader_among: frozenset[int], isr: set[int]
) -> PartitionView:
    """Until broker ``node``'s metadata shows a leader in ``leader_among`` and that ISR."""

    def matches() -> PartitionView | None:
        view = cluster.partition(TOPIC, 0, node)
        return view if view.leader in leader_among and set(view.isr) == isr else None

    return cluster.wait_for(matches, f"broker {node} to see a leader in {set(leader_among)}")


def test_a_cut_off_leader_acknowledges_nothing_and_truncates_its_lone_writes_after_healing(
    cluster: BrokerCluster, isolation: Isolation
) -> None:
    create_topic(
        cluster.bootstrap, TOPIC, configs={"min.insync.replicas": "2"}, assignments={0: [1, 2, 3]}
    )
    cluster.wait_for_leader(TOPIC, 0, among={CUT_OFF})
    cluster.wait_for_isr(TOPIC, 0, {1, 2, 3})
    assert _produce_acks_all(cluster, CUT_OFF, b"before the cut") is ErrorCode.none

    assert isolation.carried_traffic(), {k: p.stats.accepted for k, p in isolation.proxies.items()}
    isolation.cut()
    assert _produce_acks_all(cluster, CUT_OFF, b"alone on the cut-off leader") in NOT_ACKNOWLEDGED
    old_view = cluster.partition(TOPIC, 0, CUT_OFF)
    assert old_view.leader == CUT_OFF and old_view.local is not None
    assert old_view.local.log_end_offset == 2 > old_view.local.high_watermark == 1

    witness = min(OTHERS)
    new_view = _seen_by(cluster, witness, leader_among=OTHERS, isr=set(OTHERS))
    assert new_view.leader_epoch > old_view.leader_epoch
    assert _produce_acks_all(cluster, new_view.leader, b"on the new leader") is ErrorCode.none

    isolation.heal()
    _seen_by(cluster, witness, leader_among=frozenset(cluster.brokers), isr={1, 2, 3})
    replicas = cluster.wait_for_replicas_in_step(TOPIC, 0)
    assert set(replicas) == {1, 2, 3}
    (high_watermark,) = {r.high_watermark for r in replicas.values()}
    assert high_watermark == 2
    copies = {n: replica_bytes(cluster.data_dir(n), TOPIC, 0, high_watermark) for n in replicas}
    assert len(set(copies.values())) == 1, {n: len(c) for n, c in copies.items()}
    values = [c.value for c in ConfluentKafka().consume(cluster.bootstrap, TOPIC, 2)]
    assert values == [b"before the cut", b"on the new leader"]
