"""What a game day knows of a cluster at one moment, and whom a fault target names (pure).

A :class:`ClusterState` is read from a broker's ``/status/cluster`` document (the
broker's committed metadata image: registered brokers, the active controller, every
partition's leader, replicas and ISR). Brokers' views differ for a moment after each
change, and a broker cut off from the quorum keeps a stale one, so the runner asks every
live broker and keeps the view with the highest metadata offset (:func:`freshest`).

:func:`resolve_target` turns a fault's ``target`` (see :mod:`loadtest.gameday.cluster_spec`)
into a node id from such a state, when the fault is injected.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ClusterState", "PartitionState", "TargetUnresolved", "freshest", "resolve_target"]


class TargetUnresolved(RuntimeError):
    """The cluster's state names no broker for the target now; the message says why."""


@dataclass(frozen=True, slots=True)
class PartitionState:
    topic: str
    partition: int
    leader: int  # -1: offline
    replicas: tuple[int, ...]
    isr: tuple[int, ...]

    @property
    def preferred_leader(self) -> int:
        return self.replicas[0] if self.replicas else -1


@dataclass(frozen=True, slots=True)
class ClusterState:
    node_id: int  # the broker whose view this is
    controller_id: int  # -1: none known
    metadata_offset: int
    fenced: frozenset[int]
    partitions: tuple[PartitionState, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClusterState:
        controller = data.get("controller_id")
        return cls(
            node_id=int(data["node_id"]),
            controller_id=-1 if controller is None else int(controller),
            metadata_offset=int(data["metadata_offset"]),
            fenced=frozenset(
                int(b["node_id"]) for b in data["brokers"] if b.get("state") == "fenced"
            ),
            partitions=tuple(
                PartitionState(
                    str(p["topic"]),
                    int(p["partition"]),
                    int(p["leader"]),
                    tuple(int(r) for r in p["replicas"]),
                    tuple(int(r) for r in p["isr"]),
                )
                for p in data["partitions"]
            ),
        )

    def of_topic(self, topic: str) -> list[PartitionState]:
        return sorted((p for p in self.partitions if p.topic == topic), key=lambda p: p.partition)

    def partition(self, topic: str, index: int) -> PartitionState:
        for p in self.partitions:
            if p.topic == topic and p.partition == index:
                return p
        raise TargetUnresolved(f"{topic}-{index} is not in the cluster's metadata")

    def led_by(self, node: int, topic: str) -> list[int]:
        return [p.partition for p in self.of_topic(topic) if p.leader == node]

    def under_replicated(self) -> int:
        return sum(len(p.isr) < len(p.replicas) for p in self.partitions)

    def under_min_isr(self, topic: str, min_insync: int) -> int:
        return sum(len(p.isr) < min_insync for p in self.of_topic(topic))

    def offline(self) -> int:
        return sum(p.leader < 0 for p in self.partitions)

    def leaders_preferred(self) -> bool:
        return all(p.leader == p.preferred_leader for p in self.partitions)

    def in_every_isr(self, node: int) -> bool:
        """Whether ``node`` is in the ISR of every partition it is a replica of."""
        return all(node in p.isr for p in self.partitions if node in p.replicas)


def freshest(states: Iterable[ClusterState]) -> ClusterState | None:
    """The view with the highest metadata offset (ties: the lowest node id)."""
    return max(states, key=lambda s: (s.metadata_offset, -s.node_id), default=None)


def resolve_target(target: str, partition: int | None, state: ClusterState, topic: str) -> int:
    """The node id ``target`` names in ``state`` (see the module docstring)."""
    if target.isdigit():
        return int(target)
    if target == "controller":
        if state.controller_id < 0:
            raise TargetUnresolved("no active controller is known")
        return state.controller_id
    if target == "most-leaders":
        leaders = Counter(p.leader for p in state.of_topic(topic) if p.leader >= 0)
        if not leaders:
            raise TargetUnresolved(f"no partition of {topic} has a leader")
        most = max(leaders.values())
        return min(node for node, count in leaders.items() if count == most)
    if partition is None:
        raise TargetUnresolved(f"target {target} needs a partition")
    p = state.partition(topic, partition)
    if p.leader < 0:
        raise TargetUnresolved(f"{topic}-{partition} has no leader")
    if target == "leader":
        return p.leader
    if target == "follower":
        followers = [r for r in p.replicas if r != p.leader]
        in_sync = [r for r in followers if r in p.isr]
        if not followers:
            raise TargetUnresolved(f"{topic}-{partition} has no follower")
        return (in_sync or followers)[0]
    raise TargetUnresolved(f"unknown target {target!r}")
