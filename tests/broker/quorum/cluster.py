"""A hand-driven cluster for unit tests: real RaftNodes, an in-memory disk per node, and a
network that delivers only what the test says (the simulator does the random version)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import replace

from broker.quorum import (
    Entry,
    Message,
    PersistedState,
    ProposeAccepted,
    RaftConfig,
    RaftNode,
    Role,
)

CLUSTER_ID = "tidewatch-test"
MessageFilter = Callable[[Message], bool]


def config_for(
    node_id: int, voters: Iterable[int], observers: Iterable[int] = (), **overrides: object
) -> RaftConfig:
    config = RaftConfig(CLUSTER_ID, node_id, frozenset(voters), frozenset(observers))
    return replace(config, **overrides)  # type: ignore[arg-type]


class Cluster:
    """Voters 1..n and observers after them. Nothing moves unless the test says so."""

    def __init__(
        self,
        voters: int = 3,
        observers: int = 0,
        *,
        seed: int = 0,
        node_factory: type[RaftNode] = RaftNode,
        **overrides: object,
    ) -> None:
        self.voter_ids = list(range(1, voters + 1))
        self.observer_ids = list(range(voters + 1, voters + observers + 1))
        self.seed = seed
        self.node_factory = node_factory
        self.configs = {
            node: config_for(node, self.voter_ids, self.observer_ids, **overrides)
            for node in self.voter_ids + self.observer_ids
        }
        self.disks = {node: PersistedState() for node in self.configs}
        self.applied: dict[int, list[Entry]] = {node: [] for node in self.configs}
        self.nodes: dict[int, RaftNode] = {}
        self.in_flight: list[Message] = []
        self.cut: set[frozenset[int]] = set()
        for node in self.configs:
            self.start(node)

    # -- lifecycle -----------------------------------------------------------------

    def start(self, node: int) -> RaftNode:
        rng = random.Random(self.seed * 1000 + node)
        self.nodes[node] = self.node_factory(self.configs[node], rng, self.disks[node])
        self.applied[node] = []
        return self.nodes[node]

    def start_unconfigured_observer(self, node: int) -> RaftNode:
        """Start observer ``node`` that no voter's config lists (as brokers that are not
        controller voters start): voters know it only once told ``add_observer``."""
        self.configs[node] = config_for(node, self.voter_ids, [node])
        self.disks[node] = PersistedState()
        self.observer_ids.append(node)
        return self.start(node)

    def announce_observer(self, node: int) -> None:
        """Tell every running voter that observer ``node`` connected."""
        for voter in self.voter_ids:
            if voter in self.nodes:
                self.nodes[voter].add_observer(node)

    def crash(self, node: int) -> None:
        """Stop ``node``: its unsent output is lost, its disk stays."""
        del self.nodes[node]
        self.in_flight = [m for m in self.in_flight if m.receiver != node]

    # -- the I/O edge --------------------------------------------------------------

    def flush(self, nodes: Iterable[int] | None = None) -> None:
        """Drain every Ready: persist, then queue messages, then apply, then advance."""
        for node_id in list(nodes) if nodes is not None else list(self.nodes):
            node = self.nodes.get(node_id)
            while node is not None and node.has_ready():
                ready = node.ready()
                self.disks[node_id] = self.disks[node_id].after(ready)
                self.in_flight.extend(ready.messages)
                if ready.restore_snapshot:
                    self.applied[node_id] = []
                self.applied[node_id].extend(ready.committed_entries)
                node.advance(ready)

    def deliver(self, keep: MessageFilter | None = None) -> int:
        """Deliver (in order) the in-flight messages ``keep`` selects; drop cut links'."""
        self.flush()
        chosen = [m for m in self.in_flight if keep is None or keep(m)]
        self.in_flight = [m for m in self.in_flight if not (keep is None or keep(m))]
        for message in chosen:
            node = self.nodes.get(message.receiver)
            if node is not None and frozenset((message.sender, message.receiver)) not in self.cut:
                node.step(message)
        self.flush()
        return len(chosen)

    def settle(self, rounds: int = 50) -> None:
        """Deliver until the network is quiet."""
        for _ in range(rounds):
            if not self.deliver():
                return
        raise AssertionError("the cluster did not settle")

    def drop(self, keep: MessageFilter | None = None) -> list[Message]:
        """Remove (and return) in-flight messages without delivering them."""
        self.flush()
        dropped = [m for m in self.in_flight if keep is None or keep(m)]
        self.in_flight = [m for m in self.in_flight if m not in dropped]
        return dropped

    def tick(self, node: int, times: int = 1) -> None:
        for _ in range(times):
            self.nodes[node].tick()
        self.flush([node])

    def tick_all(self, times: int = 1) -> None:
        for _ in range(times):
            for node in self.nodes.values():
                node.tick()
            self.settle()

    # -- the network ---------------------------------------------------------------

    def isolate(self, node: int) -> None:
        for other in self.configs:
            if other != node:
                self.cut.add(frozenset((node, other)))

    def split(self, *groups: Iterable[int]) -> None:
        sets = [set(group) for group in groups]
        for a in self.configs:
            for b in self.configs:
                if a != b and not any(a in s and b in s for s in sets):
                    self.cut.add(frozenset((a, b)))

    def heal(self) -> None:
        self.cut.clear()

    # -- shortcuts -----------------------------------------------------------------

    def campaign(self, node: int) -> None:
        """Tick ``node`` (only) until its election timeout fires."""
        raft = self.nodes[node]
        for _ in range(raft.config.election_timeout_max_ticks + 1):
            raft.tick()
            if raft.role in (Role.PRE_CANDIDATE, Role.CANDIDATE, Role.LEADER):
                break
        self.flush([node])

    def elect(self, node: int) -> RaftNode:
        self.campaign(node)
        self.settle()
        raft = self.nodes[node]
        assert raft.role is Role.LEADER, f"node {node} is {raft.role}"
        return raft

    def propose(self, node: int, payload: bytes) -> ProposeAccepted:
        result = self.nodes[node].propose(payload)
        assert isinstance(result, ProposeAccepted), result
        self.flush([node])
        return result

    def leaders(self) -> list[int]:
        return [n for n, raft in self.nodes.items() if raft.role is Role.LEADER]

    def payloads(self, node: int) -> list[bytes]:
        return [e.payload for e in self.applied[node] if not e.is_noop]


def to(node: int) -> MessageFilter:
    return lambda message: message.receiver == node


def between(a: int, b: int) -> MessageFilter:
    return lambda message: {message.sender, message.receiver} == {a, b}


def of_type(*kinds: type) -> MessageFilter:
    return lambda message: isinstance(message, kinds)
