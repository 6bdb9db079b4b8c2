"""/status/cluster: the cluster view built from a metadata image, and its strict JSON."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from broker.metadata.image import MetadataImage
from broker.metadata.records import (
    BrokerControlledShutdown,
    FenceBroker,
    MetadataRecord,
    Partition,
    RegisterBroker,
    Topic,
    UnfenceBroker,
)
from broker.metrics.cluster_status import BrokerState, ClusterStatus, cluster_status
from tests.broker.metadata.harness import CLUSTER_ID, incarnation, listeners_for

ORDERS = uuid.UUID("00000000-0000-4000-8000-000000000001")


def three_brokers_one_fenced() -> MetadataImage:
    """Brokers 1-3; 2 fenced, 3 in controlled shutdown; orders-0 on (1,2,3) with ISR
    (1,3), orders-1 on (2,3) with ISR (2,3)."""
    records: list[MetadataRecord] = [
        RegisterBroker(n, incarnation(n), n, listeners_for(n), None) for n in (1, 2, 3)
    ]
    records += [UnfenceBroker(n, n) for n in (1, 2, 3)]
    records += [
        Topic("orders", ORDERS, {}),
        Partition(ORDERS, 0, (1, 2, 3), (1, 3), 1, 0, 0),
        Partition(ORDERS, 1, (2, 3), (2, 3), 2, 0, 0),
        FenceBroker(2, 2),
        BrokerControlledShutdown(3, 3),
    ]
    return MetadataImage.empty(CLUSTER_ID).replay((r, i) for i, r in enumerate(records))


def test_the_view_lists_brokers_with_state_the_controller_and_replica_sets() -> None:
    status = cluster_status(
        three_brokers_one_fenced(), node_id=1, controller_id=3, voters=(3, 1, 2)
    )

    assert status.controller_id == 3
    assert status.voters == (1, 2, 3)
    assert [(b.node_id, b.state) for b in status.brokers] == [
        (1, BrokerState.ALIVE),
        (2, BrokerState.FENCED),
        (3, BrokerState.SHUTTING_DOWN),
    ]
    assert status.brokers[0].address == f"{listeners_for(1)[0].host}:{listeners_for(1)[0].port}"
    first, second = status.partitions
    assert (first.topic, first.partition, first.replicas, first.isr) == (
        "orders",
        0,
        (1, 2, 3),
        (1, 3),
    )
    assert first.under_replicated
    assert not second.under_replicated


def test_the_json_reads_back_to_the_same_view() -> None:
    status = cluster_status(three_brokers_one_fenced(), node_id=2, controller_id=None, voters=(1,))

    document = status.to_json()

    assert document["partitions"][0]["under_replicated"] is True
    assert document["brokers"][1]["state"] == "fenced"
    assert ClusterStatus.from_json(document) == status


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"format": 2}, "format 2", id="another format is refused"),
        pytest.param(
            {"node_id": True}, "'node_id' must be an integer", id="a boolean node id is refused"
        ),
        pytest.param({"voters": None}, "'voters' must be a list", id="a null list is refused"),
    ],
)
def test_a_malformed_document_is_refused_naming_the_field(
    change: dict[str, Any], message: str
) -> None:
    document = cluster_status(
        three_brokers_one_fenced(), node_id=1, controller_id=1, voters=(1,)
    ).to_json()
    document.update(change)

    with pytest.raises(ValueError, match=message):
        ClusterStatus.from_json(document)


def test_a_missing_field_is_named() -> None:
    document = cluster_status(
        three_brokers_one_fenced(), node_id=1, controller_id=1, voters=(1,)
    ).to_json()
    del document["partitions"][0]["isr"]

    with pytest.raises(ValueError, match="missing field 'isr'"):
        ClusterStatus.from_json(document)
