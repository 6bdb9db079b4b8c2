"""``/status/cluster``: the cluster as one broker's metadata image shows it, as JSON.

What an operator asks first about a cluster: which brokers are registered and where
(alive, fenced or shutting down), which node is the active controller, and for every
partition its leader, replicas and in-sync replicas (under-replicated and offline ones
marked). Document (format 1, keys as below; ``controller_id`` null while no quorum
leader is known, ``leader`` -1 for an offline partition)::

    {
      "format": 1,
      "node_id": 2, "cluster_id": "...", "controller_id": 1, "metadata_offset": 42,
      "voters": [1, 2, 3],
      "brokers": [{"node_id": 1, "host": "127.0.0.1", "port": 9092,
                   "state": "alive", "broker_epoch": 7}, ...],
      "partitions": [{"topic": "orders", "partition": 0, "leader": 1, "leader_epoch": 3,
                      "replicas": [1, 2, 3], "isr": [1, 2],
                      "under_replicated": true, "offline": false}, ...]
    }

``ClusterStatus.from_json`` reads it back strictly (``ValueError`` naming the field), so
the status page and tests use the same types the broker serves. Pure: no I/O here.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from broker.metadata.image import BrokerRegistration, MetadataImage

__all__ = [
    "CLUSTER_STATUS_FORMAT",
    "BrokerState",
    "BrokerStatus",
    "ClusterStatus",
    "PartitionReplicaStatus",
    "cluster_status",
]

CLUSTER_STATUS_FORMAT = 1


class BrokerState(enum.Enum):
    """A registered broker's state in the metadata image."""

    ALIVE = "alive"  # unfenced: may lead and be in ISRs
    FENCED = "fenced"  # its session expired or it has not caught up yet
    SHUTTING_DOWN = "shutting down"  # in a controlled shutdown

    @classmethod
    def of(cls, registration: BrokerRegistration) -> BrokerState:
        if registration.fenced:
            return cls.FENCED
        if registration.in_controlled_shutdown:
            return cls.SHUTTING_DOWN
        return cls.ALIVE


@dataclass(frozen=True, slots=True)
class BrokerStatus:
    node_id: int
    host: str | None  # its first listener; None if it registered none
    port: int | None
    state: BrokerState
    broker_epoch: int

    @property
    def address(self) -> str | None:
        return None if self.host is None else f"{self.host}:{self.port}"

    def to_json(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "host": self.host,
            "port": self.port,
            "state": self.state.value,
            "broker_epoch": self.broker_epoch,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BrokerStatus:
        return cls(
            node_id=_int(data, "node_id"),
            host=_optional_str(data, "host"),
            port=_optional_int(data, "port"),
            state=BrokerState(_field(data, "state")),
            broker_epoch=_int(data, "broker_epoch"),
        )


@dataclass(frozen=True, slots=True)
class PartitionReplicaStatus:
    """A partition's leadership and replica sets (no offsets: see /status/partitions)."""

    topic: str
    partition: int
    leader: int  # -1: offline
    leader_epoch: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]

    @property
    def under_replicated(self) -> bool:
        """Fewer in-sync replicas than replicas (Kafka's UnderReplicatedPartitions)."""
        return len(self.isr) < len(self.replicas)

    @property
    def offline(self) -> bool:
        return self.leader < 0

    def to_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "leader": self.leader,
            "leader_epoch": self.leader_epoch,
            "replicas": list(self.replicas),
            "isr": list(self.isr),
            "under_replicated": self.under_replicated,
            "offline": self.offline,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PartitionReplicaStatus:
        return cls(
            topic=_str(data, "topic"),
            partition=_int(data, "partition"),
            leader=_int(data, "leader"),
            leader_epoch=_int(data, "leader_epoch"),
            replicas=_ints(data, "replicas"),
            isr=_ints(data, "isr"),
        )


@dataclass(frozen=True, slots=True)
class ClusterStatus:
    """One broker's view of the cluster (see the module docstring for the JSON)."""

    node_id: int
    cluster_id: str
    controller_id: int | None
    metadata_offset: int
    voters: tuple[int, ...]
    brokers: tuple[BrokerStatus, ...]
    partitions: tuple[PartitionReplicaStatus, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": CLUSTER_STATUS_FORMAT,
            "node_id": self.node_id,
            "cluster_id": self.cluster_id,
            "controller_id": self.controller_id,
            "metadata_offset": self.metadata_offset,
            "voters": list(self.voters),
            "brokers": [b.to_json() for b in self.brokers],
            "partitions": [p.to_json() for p in self.partitions],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClusterStatus:
        """Strict: a wrong format, a missing field or a wrong type raises ValueError."""
        if data.get("format") != CLUSTER_STATUS_FORMAT:
            raise ValueError(
                f"cluster status format {data.get('format')!r}, expected {CLUSTER_STATUS_FORMAT}"
            )
        return cls(
            node_id=_int(data, "node_id"),
            cluster_id=_str(data, "cluster_id"),
            controller_id=_optional_int(data, "controller_id"),
            metadata_offset=_int(data, "metadata_offset"),
            voters=_ints(data, "voters"),
            brokers=tuple(BrokerStatus.from_json(b) for b in _list(data, "brokers")),
            partitions=tuple(
                PartitionReplicaStatus.from_json(p) for p in _list(data, "partitions")
            ),
        )


def cluster_status(
    image: MetadataImage, *, node_id: int, controller_id: int | None, voters: Iterable[int]
) -> ClusterStatus:
    """The cluster as ``image`` (node ``node_id``'s committed metadata) shows it."""
    brokers = []
    for registered_id in sorted(image.brokers):
        registration = image.brokers[registered_id]
        listener = registration.listeners[0] if registration.listeners else None
        brokers.append(
            BrokerStatus(
                node_id=registered_id,
                host=None if listener is None else listener.host,
                port=None if listener is None else listener.port,
                state=BrokerState.of(registration),
                broker_epoch=registration.broker_epoch,
            )
        )
    partitions = tuple(
        PartitionReplicaStatus(
            topic=topic.name,
            partition=partition.partition_index,
            leader=partition.leader,
            leader_epoch=partition.leader_epoch,
            replicas=tuple(partition.replicas),
            isr=tuple(partition.isr),
        )
        for topic, partition in image.iter_partitions()
    )
    return ClusterStatus(
        node_id=node_id,
        cluster_id=image.cluster_id,
        controller_id=controller_id,
        metadata_offset=image.last_offset,
        voters=tuple(sorted(voters)),
        brokers=tuple(brokers),
        partitions=partitions,
    )


# -- strict field readers (bool is not an int; a missing key names itself) -----------


def _field(data: Mapping[str, Any], key: str) -> Any:
    try:
        return data[key]
    except KeyError:
        raise ValueError(f"cluster status: missing field {key!r}") from None


def _int(data: Mapping[str, Any], key: str) -> int:
    value = _field(data, key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"cluster status: {key!r} must be an integer, not {value!r}")
    return value


def _optional_int(data: Mapping[str, Any], key: str) -> int | None:
    return None if _field(data, key) is None else _int(data, key)


def _str(data: Mapping[str, Any], key: str) -> str:
    value = _field(data, key)
    if not isinstance(value, str):
        raise ValueError(f"cluster status: {key!r} must be text, not {value!r}")
    return value


def _optional_str(data: Mapping[str, Any], key: str) -> str | None:
    return None if _field(data, key) is None else _str(data, key)


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = _field(data, key)
    if not isinstance(value, list):
        raise ValueError(f"cluster status: {key!r} must be a list, not {value!r}")
    return value


def _ints(data: Mapping[str, Any], key: str) -> tuple[int, ...]:
    values = _list(data, key)
    return tuple(_int({key: v}, key) for v in values)
