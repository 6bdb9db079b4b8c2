"""The status page's cluster section, built from the brokers' ``/status/cluster`` views.

``cluster_section(views)`` takes each broker's view by node id (None when that broker
did not answer) and returns the feed's ``cluster`` object, which the page draws as it
is (``static/app.js``)::

    {
      "controller_id": 1,             # null while no view names one
      "seen_by": 1,                   # the node whose view is shown
      "metadata_offset": 42,
      "brokers": [{"node_id": 1, "address": "127.0.0.1:9092", "state": "alive",
                   "controller": true, "voter": true}, ...],
      "partitions": [{"topic": "orders", "partition": 0, "leader": 1,
                      "replicas": [1, 2, 3], "isr": [1, 2],
                      "status": "under-replicated"}, ...],   # or "in sync", "offline"
      "under_replicated_partitions": 1,
      "offline_partitions": 0
    }

The view shown is the most recent one (highest metadata offset; the lowest node id on a
tie), so a broker that lags behind the metadata log does not hide a change. A broker's
state is its registration's (alive, fenced, shutting down); one whose HTTP did not
answer is "unreachable" unless the metadata already fences it, and a node no view has
registered is "not registered". Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from broker.metrics.cluster_status import (
    BrokerState,
    BrokerStatus,
    ClusterStatus,
    PartitionReplicaStatus,
)

__all__ = ["UNREACHABLE", "cluster_section"]

UNREACHABLE = "unreachable"
NOT_REGISTERED = "not registered"


def cluster_section(views: Mapping[int, ClusterStatus | None]) -> dict[str, Any]:
    """The feed's ``cluster`` object (see the module docstring); ``views`` holds every
    node of the cluster, answered or not."""
    answered = {node: view for node, view in views.items() if view is not None}
    shown = (
        max(answered.items(), key=lambda item: (item[1].metadata_offset, -item[0]))[1]
        if answered
        else None
    )
    registered = {b.node_id: b for b in shown.brokers} if shown is not None else {}
    voters = set(shown.voters) if shown is not None else set()
    controller = shown.controller_id if shown is not None else None
    brokers = [
        _broker_row(
            node, registered.get(node), node in answered, node == controller, node in voters
        )
        for node in sorted(set(views) | set(registered))
    ]
    partitions = [_partition_row(p) for p in (shown.partitions if shown is not None else ())]
    return {
        "controller_id": controller,
        "seen_by": None if shown is None else shown.node_id,
        "metadata_offset": None if shown is None else shown.metadata_offset,
        "brokers": brokers,
        "partitions": partitions,
        "under_replicated_partitions": sum(p["status"] == "under-replicated" for p in partitions),
        "offline_partitions": sum(p["status"] == "offline" for p in partitions),
    }


def _broker_row(
    node: int, registered: BrokerStatus | None, answered: bool, controller: bool, voter: bool
) -> dict[str, Any]:
    if registered is None:
        state = NOT_REGISTERED if answered else UNREACHABLE
    elif not answered and registered.state is not BrokerState.FENCED:
        state = UNREACHABLE
    else:
        state = registered.state.value
    return {
        "node_id": node,
        "address": None if registered is None else registered.address,
        "state": state,
        "controller": controller,
        "voter": voter,
    }


def _partition_row(partition: PartitionReplicaStatus) -> dict[str, Any]:
    if partition.offline:
        status = "offline"
    elif partition.under_replicated:
        status = "under-replicated"
    else:
        status = "in sync"
    return {
        "topic": partition.topic,
        "partition": partition.partition,
        "leader": partition.leader,
        "replicas": list(partition.replicas),
        "isr": list(partition.isr),
        "status": status,
    }
