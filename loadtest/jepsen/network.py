"""Fault proxies on every link of every broker, so any one broker can be partitioned.

Each broker advertises a proxy in front of its Kafka listener (clients and the other
brokers' replica fetchers connect there), and every quorum link between two brokers
runs through a proxy of its own (``BrokerCluster(quorum_route=...)``). Partitioning
broker ``n`` blackholes its Kafka proxy and every quorum link to or from it: nobody
reaches it, it reaches no voter, frames are lost and nobody is told. What it still
reaches are the other brokers' Kafka proxies (a fetch of its own as a follower, which
only ever pulls committed data towards it). Healing restores the proxies and resets the
connections that lost frames, as broken TCP connections would be.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts.broker_cluster import BrokerCluster
from loadtest.faults.proxy import ThreadedFaultProxy

__all__ = ["ClusterNetwork"]


@dataclass
class ClusterNetwork:
    """The proxies, by link: ``(from, to)`` for quorum links, a node id for a broker's
    Kafka listener. Use :meth:`route` as the cluster's quorum route and
    :meth:`advertise` before the cluster starts, :meth:`connect` once it has."""

    quorum: dict[tuple[int, int], ThreadedFaultProxy] = field(default_factory=dict)
    kafka: dict[int, ThreadedFaultProxy] = field(default_factory=dict)

    def route(self, from_node: int, to_node: int, address: str) -> str:
        host, _, port = address.rpartition(":")
        proxy = ThreadedFaultProxy((host, int(port))).start()
        self.quorum[(from_node, to_node)] = proxy
        return proxy.address

    def advertise(self, cluster: BrokerCluster) -> None:
        """Give every broker a Kafka proxy to advertise (its upstream comes later:
        the listener's port is known once the broker is up)."""
        for node, broker in cluster.brokers.items():
            self.kafka[node] = ThreadedFaultProxy().start()
            broker.advertised = self.kafka[node].address

    def connect(self, cluster: BrokerCluster) -> None:
        """Point every Kafka proxy at its broker's listener (kept across restarts)."""
        for node, proxy in self.kafka.items():
            proxy.set_upstream("127.0.0.1", cluster.brokers[node].listen_address.port)

    def _links_of(self, node: int) -> list[ThreadedFaultProxy]:
        links = [p for (a, b), p in self.quorum.items() if node in (a, b)]
        return [self.kafka[node], *links]

    def partition(self, node: int) -> None:
        for proxy in self._links_of(node):
            proxy.set_mode("blackhole")

    def heal(self, node: int) -> None:
        for proxy in self._links_of(node):
            proxy.restore()
            proxy.reset_connections()

    def close(self) -> None:
        for proxy in [*self.kafka.values(), *self.quorum.values()]:
            proxy.close()
