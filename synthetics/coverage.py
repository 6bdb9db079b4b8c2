"""What the cluster looks like to the probe, and whether the probe topic covers it.

Pure: built from a decoded Metadata response (a mapping, as aiokafka's
``Response.to_object()`` gives it), no I/O.

Coverage: the probe measures a broker only through the partitions it leads, so every
broker should lead at least one probe partition. The probe creates its topic with one
partition per broker and an explicit replica assignment (:func:`spread_assignments`:
partition ``i`` has broker ``i`` first, its preferred leader, and the next brokers in
id order as followers), and adds partitions led by the uncovered brokers when brokers
are added. It never moves replicas or leaders of an existing topic: after a failover a
broker may lead nothing until a preferred-leader election brings its partition back,
and a topic created some other way keeps its layout. Brokers leading nothing are
reported as a coverage gap (a metric and the status) and a layout that differs from the
wanted one as layout problems (:func:`layout_problems`, the status and a warning),
never as errors. Moving leaders (AlterPartitionReassignments, preferred leader
election) is left to operators.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BrokerCheck",
    "BrokerInfo",
    "ClusterView",
    "Coverage",
    "PartitionInfo",
    "cluster_view",
    "coverage",
    "desired_partitions",
    "desired_replication",
    "layout_problems",
    "spread_assignments",
]


@dataclass(frozen=True, slots=True)
class BrokerInfo:
    node_id: int
    host: str
    port: int
    rack: str | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    partition: int
    leader: int  # -1 when there is none
    replicas: tuple[int, ...] = ()
    isr: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class ClusterView:
    brokers: tuple[BrokerInfo, ...]
    controller_id: int = -1
    topic_error: int = 0  # Kafka error code for the probe topic (3: unknown topic)
    partitions: tuple[PartitionInfo, ...] = ()
    cluster_id: str | None = None

    @property
    def topic_exists(self) -> bool:
        return self.topic_error == 0 and bool(self.partitions)

    def leader(self, partition: int) -> int | None:
        for p in self.partitions:
            if p.partition == partition:
                return p.leader if p.leader >= 0 else None
        return None

    def broker(self, node_id: int) -> BrokerInfo | None:
        return next((b for b in self.brokers if b.node_id == node_id), None)


@dataclass(frozen=True, slots=True)
class Coverage:
    brokers: tuple[int, ...]
    led: Mapping[int, tuple[int, ...]]  # broker -> partitions it leads
    uncovered: tuple[int, ...]

    @property
    def gap(self) -> int:
        return len(self.uncovered)


def cluster_view(metadata: Mapping[str, Any], topic: str) -> ClusterView:
    """The brokers and the probe topic's partitions from a Metadata response object."""
    brokers = tuple(
        sorted(
            (
                BrokerInfo(int(b["node_id"]), str(b["host"]), int(b["port"]), b.get("rack"))
                for b in metadata.get("brokers", ())
            ),
            key=lambda b: b.node_id,
        )
    )
    error = 3  # UNKNOWN_TOPIC_OR_PARTITION unless the topic is in the answer
    partitions: list[PartitionInfo] = []
    for t in metadata.get("topics", ()):
        if t.get("topic") != topic:
            continue
        error = int(t.get("error_code", 0))
        for p in t.get("partitions", ()):
            partitions.append(
                PartitionInfo(
                    int(p["partition"]),
                    int(p["leader"]),
                    tuple(int(r) for r in p.get("replicas", ())),
                    tuple(int(r) for r in p.get("isr", ())),
                )
            )
    controller = metadata.get("controller_id")
    return ClusterView(
        brokers=brokers,
        controller_id=int(controller) if controller is not None else -1,
        topic_error=error,
        partitions=tuple(sorted(partitions, key=lambda p: p.partition)),
        cluster_id=metadata.get("cluster_id"),
    )


def coverage(view: ClusterView) -> Coverage:
    led: dict[int, list[int]] = {b.node_id: [] for b in view.brokers}
    for p in view.partitions:
        if p.leader in led:
            led[p.leader].append(p.partition)
    return Coverage(
        brokers=tuple(led),
        led={b: tuple(ps) for b, ps in led.items()},
        uncovered=tuple(b for b, ps in led.items() if not ps),
    )


def desired_partitions(brokers: int, configured: int | None) -> int:
    """``configured`` partitions, or one per broker when it is None (auto)."""
    return configured if configured is not None else max(1, brokers)


def desired_replication(brokers: int, configured: int | None) -> int:
    """``configured`` replicas, or min(3, brokers) when it is None (auto)."""
    return configured if configured is not None else max(1, min(3, brokers))


def spread_assignments(
    brokers: Sequence[int], partitions: range, replication: int, leaders: Sequence[int] = ()
) -> dict[int, tuple[int, ...]]:
    """Replica lists for ``partitions``: each on ``replication`` consecutive brokers (in
    id order, wrapping) starting with its preferred leader. The first partitions are led
    by ``leaders`` in order (brokers leading nothing yet), the others by broker ``i mod
    n``, so n consecutive partitions give every broker one leader and the followers are
    spread evenly too. Empty when there are fewer brokers than ``replication`` (the
    cluster then refuses with its own error)."""
    ordered = sorted(brokers)
    n = len(ordered)
    if replication < 1 or n < replication:
        return {}
    out = {}
    for k, i in enumerate(partitions):
        leader = leaders[k] if k < len(leaders) else ordered[i % n]
        first = ordered.index(leader) if leader in ordered else i % n
        out[i] = tuple(ordered[(first + j) % n] for j in range(replication))
    return out


def layout_problems(view: ClusterView, configured_replication: int | None) -> tuple[str, ...]:
    """How the probe topic differs from the wanted layout: partitions with another
    replica count than wanted (``configured_replication``, or min(3, brokers) counting
    the brokers out of the metadata that still hold replicas, so an outage is not a
    layout problem), live brokers that are the preferred leader (first replica) of no
    partition. One sentence each; empty when it matches."""
    nodes = {b.node_id for b in view.brokers} | {r for p in view.partitions for r in p.replicas}
    replication = desired_replication(len(nodes), configured_replication)
    problems = []
    for count in sorted({len(p.replicas) for p in view.partitions} - {replication}):
        ids = [p.partition for p in view.partitions if len(p.replicas) == count]
        problems.append(
            f"partitions {_ids(ids)} have {count} replicas, the probe wants {replication}"
        )
    preferred = {p.replicas[0] for p in view.partitions if p.replicas}
    unplaced = [b.node_id for b in view.brokers if b.node_id not in preferred]
    if unplaced:
        problems.append(
            f"brokers {_ids(unplaced)} are the preferred leader of no partition "
            "(add partitions led by them, or reassign)"
        )
    return tuple(problems)


def _ids(ids: Sequence[int]) -> str:
    return ", ".join(str(i) for i in ids)


@dataclass(frozen=True, slots=True)
class BrokerCheck:
    """One fresh connection and one Metadata request to one broker."""

    address: str
    ok: bool
    connect_seconds: float | None = None
    metadata_seconds: float | None = None
    view: ClusterView | None = None
    error: str | None = None
