"""Cluster view from Metadata, coverage of brokers by probe partitions, topic sizing."""

from __future__ import annotations

from typing import Any

import pytest

from synthetics.coverage import (
    BrokerInfo,
    ClusterView,
    PartitionInfo,
    cluster_view,
    coverage,
    desired_partitions,
    desired_replication,
    layout_problems,
    spread_assignments,
)

BROKERS = [
    {"node_id": 2, "host": "k2", "port": 9092, "rack": "b"},
    {"node_id": 1, "host": "k1", "port": 9092, "rack": "a"},
    {"node_id": 3, "host": "k3", "port": 9093, "rack": None},
]


def metadata(leaders: list[int], topic: str = "probe", error: int = 0) -> dict[str, Any]:
    return {
        "brokers": BROKERS,
        "cluster_id": "c1",
        "controller_id": 1,
        "topics": [
            {
                "error_code": 0,
                "topic": "other",
                "partitions": [
                    {"error_code": 0, "partition": 0, "leader": 3, "replicas": [3], "isr": [3]}
                ],
            },
            {
                "error_code": error,
                "topic": topic,
                "partitions": [
                    {
                        "error_code": 0,
                        "partition": i,
                        "leader": leader,
                        "replicas": [leader],
                        "isr": [leader],
                    }
                    for i, leader in enumerate(leaders)
                ],
            },
        ],
    }


def test_view_lists_brokers_by_node_id_and_the_probe_topic_only() -> None:
    view = cluster_view(metadata([1, 2]), "probe")
    assert [b.address for b in view.brokers] == ["k1:9092", "k2:9092", "k3:9093"]
    assert [(p.partition, p.leader) for p in view.partitions] == [(0, 1), (1, 2)]
    assert (view.controller_id, view.cluster_id, view.topic_exists) == (1, "c1", True)
    assert view.leader(1) == 2
    assert view.leader(7) is None


def test_a_topic_missing_from_the_answer_does_not_exist() -> None:
    view = cluster_view(metadata([1], topic="elsewhere"), "probe")
    assert view.topic_error == 3
    assert not view.topic_exists


def test_a_topic_answered_with_an_error_does_not_exist() -> None:
    assert not cluster_view(metadata([], error=3), "probe").topic_exists


def test_every_broker_leading_a_partition_means_no_gap() -> None:
    cov = coverage(cluster_view(metadata([1, 2, 3, 1]), "probe"))
    assert cov.gap == 0
    assert dict(cov.led) == {1: (0, 3), 2: (1,), 3: (2,)}


def test_brokers_leading_nothing_are_the_coverage_gap() -> None:
    cov = coverage(cluster_view(metadata([1, 1, -1]), "probe"))
    assert cov.uncovered == (2, 3)
    assert cov.gap == 2


@pytest.mark.parametrize(
    ("brokers", "configured", "partitions"),
    [(1, None, 1), (5, None, 5), (0, None, 1), (5, 2, 2), (1, 12, 12)],
    ids=[
        "auto on one broker",
        "auto on five brokers",
        "auto with no brokers known",
        "two configured on five brokers",
        "twelve configured",
    ],
)
def test_partitions_default_to_one_per_broker(
    brokers: int, configured: int | None, partitions: int
) -> None:
    assert desired_partitions(brokers, configured) == partitions


@pytest.mark.parametrize(
    ("brokers", "configured", "replicas"),
    [(1, None, 1), (2, None, 2), (9, None, 3), (9, 5, 5)],
    ids=["one broker", "two brokers", "nine brokers", "configured"],
)
def test_replication_defaults_to_at_most_three(
    brokers: int, configured: int | None, replicas: int
) -> None:
    assert desired_replication(brokers, configured) == replicas


def _view(replicas: list[tuple[int, ...]], brokers: tuple[int, ...] = (1, 2, 3)) -> ClusterView:
    return ClusterView(
        brokers=tuple(BrokerInfo(b, f"k{b}", 9092) for b in brokers),
        partitions=tuple(PartitionInfo(i, r[0], r, r) for i, r in enumerate(replicas)),
    )


def test_spread_assignments_give_each_broker_one_preferred_leader_and_even_followers() -> None:
    assert spread_assignments([3, 1, 2], range(3), 3) == {
        0: (1, 2, 3),
        1: (2, 3, 1),
        2: (3, 1, 2),
    }
    assert spread_assignments([1, 2, 3, 4], range(4), 2) == {
        0: (1, 2),
        1: (2, 3),
        2: (3, 4),
        3: (4, 1),
    }


def test_new_partitions_are_led_first_by_the_brokers_that_lead_none() -> None:
    assert spread_assignments([1, 2, 3, 4], range(3, 5), 3, leaders=[4]) == {
        3: (4, 1, 2),
        4: (1, 2, 3),  # then broker (4 mod 4)
    }


def test_spread_assignments_are_empty_when_brokers_are_fewer_than_replicas() -> None:
    assert spread_assignments([1, 2], range(2), 3) == {}


def test_a_topic_laid_out_as_wanted_has_no_layout_problems() -> None:
    assert layout_problems(_view([(1, 2, 3), (2, 3, 1), (3, 1, 2)]), None) == ()


def test_a_broker_down_is_not_a_layout_problem() -> None:
    # broker 3 is fenced (out of the metadata) but still holds replicas: still 3 wanted
    view = _view([(1, 2, 3), (2, 3, 1), (3, 1, 2)], brokers=(1, 2))
    assert layout_problems(view, None) == ()


def test_too_few_replicas_and_brokers_leading_nothing_are_layout_problems() -> None:
    problems = layout_problems(_view([(1,), (1,), (2,)]), None)
    assert problems == (
        "partitions 0, 1, 2 have 1 replicas, the probe wants 3",
        "brokers 3 are the preferred leader of no partition "
        "(add partitions led by them, or reassign)",
    )


def test_a_configured_replication_factor_is_the_wanted_one() -> None:
    assert layout_problems(_view([(1, 2), (2, 3), (3, 1)]), 2) == ()
