"""The cluster section of the status feed, built from fixed ``/status/cluster`` views
(``cluster_views``)."""

from __future__ import annotations

from tests.tidewatch.status_page.cluster_views import fixed_views
from tidewatch.status_page.cluster import cluster_section


def test_the_latest_view_is_shown_with_its_controller() -> None:
    section = cluster_section(fixed_views())

    assert section["seen_by"] == 2
    assert section["metadata_offset"] == 42
    assert section["controller_id"] == 2


def test_every_broker_is_listed_with_its_address_state_and_role() -> None:
    brokers = cluster_section(fixed_views())["brokers"]

    assert brokers == [
        {
            "node_id": 1,
            "address": "127.0.0.1:40001",
            "state": "alive",
            "controller": False,
            "voter": True,
        },
        {
            "node_id": 2,
            "address": "127.0.0.1:40002",
            "state": "alive",
            "controller": True,
            "voter": True,
        },
        {
            "node_id": 3,
            "address": "127.0.0.1:40003",
            "state": "fenced",
            "controller": False,
            "voter": True,
        },
    ]


def test_a_broker_alive_in_the_metadata_but_not_answering_is_unreachable() -> None:
    views = fixed_views()
    views[1] = None

    brokers = {b["node_id"]: b["state"] for b in cluster_section(views)["brokers"]}

    assert brokers == {1: "unreachable", 2: "alive", 3: "fenced"}


def test_partitions_carry_leader_replicas_isr_and_a_flag_when_not_fully_replicated() -> None:
    section = cluster_section(fixed_views())

    rows = [
        (p["topic"], p["partition"], p["leader"], p["replicas"], p["isr"], p["status"])
        for p in section["partitions"]
    ]
    assert rows == [
        ("orders", 0, 1, [1, 2, 3], [1, 2, 3], "in sync"),
        ("orders", 1, 2, [3, 2, 1], [2, 1], "under-replicated"),
        ("payments", 0, -1, [3], [3], "offline"),
    ]
    assert section["under_replicated_partitions"] == 1
    assert section["offline_partitions"] == 1


def test_with_no_broker_answering_every_broker_is_unreachable_and_nothing_else_known() -> None:
    section = cluster_section(dict.fromkeys((1, 2, 3)))

    assert [b["state"] for b in section["brokers"]] == ["unreachable"] * 3
    assert section["controller_id"] is None
    assert section["partitions"] == []
