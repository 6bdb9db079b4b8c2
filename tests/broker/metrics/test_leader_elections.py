"""Partition leader elections counted and timed on the active controller, driven by a
real ``QuorumController`` (the harness commits its records at once)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from broker.metadata.controller_config import ControllerConfig
from broker.metadata.replies import ControllerResult, IsrChange
from broker.metrics.leader_elections import LeaderElections
from tests.broker.metadata.harness import ControllerHarness


class Driven:
    """A harness whose every controller decision and commit is shown to the tracker."""

    def __init__(self, harness: ControllerHarness) -> None:
        self.h = harness
        self.elections = LeaderElections()
        self.elections.activate(harness.image, harness.now_ms)

    def decide(self, call: Callable[[], ControllerResult[Any]]) -> None:
        """Run a controller call and propose its records, uncommitted."""
        before = self.h.controller.view
        result = call()
        self.h.submit(result)
        if result.records:
            self.elections.on_decision(before, self.h.controller.view, self.h.now_ms)

    def commit_after(self, ms: int) -> None:
        self.h.advance(ms)
        self.h.commit()
        self.elections.on_commit(self.h.image, self.h.now_ms)

    def heartbeat(self, node: int) -> None:
        h = self.h
        self.decide(
            lambda: h.controller.broker_heartbeat(
                node, h.epochs[node], h.now_ms, metadata_offset=h.image.last_offset
            )
        )


def started(*nodes: int, config: ControllerConfig | None = None) -> ControllerHarness:
    harness = ControllerHarness(config)
    harness.start_brokers(*nodes)
    return harness


def test_a_fenced_leader_is_replaced_by_a_clean_election_timed_from_the_fencing() -> None:
    h = started(1, 2, 3)
    h.create_topic("orders", 1, 3)
    driven = Driven(h)
    leader = h.image.leader_of("orders", 0)
    assert leader is not None

    driven.decide(lambda: h.controller.broker_disconnected(leader))
    driven.commit_after(250)

    new = driven.elections
    assert (new.clean, new.unclean) == (1, 0)
    assert new.duration.count == 1
    assert new.duration.sum == 0.25
    assert new.noticed_gone == 0


def test_an_offline_partition_is_timed_until_its_replica_returns() -> None:
    h = started(1, 2)
    h.create_topic("single", 1, 1)
    driven = Driven(h)
    leader = h.image.leader_of("single", 0)
    assert leader is not None

    driven.decide(lambda: h.controller.broker_disconnected(leader))
    driven.commit_after(10)
    assert h.image.leader_of("single", 0) == -1
    assert driven.elections.noticed_gone == 1
    assert driven.elections.clean == 0

    h.advance(5_000)
    driven.heartbeat(leader)
    driven.commit_after(0)

    assert h.image.leader_of("single", 0) == leader
    assert driven.elections.clean == 1
    assert driven.elections.duration.sum == 5.01


def test_a_leader_from_outside_the_isr_counts_as_an_unclean_election() -> None:
    h = started(1, 2)
    h.create_topic("risky", 1, 2, unclean_leader_election_enable="true")
    driven = Driven(h)
    leader = h.image.leader_of("risky", 0)
    assert leader is not None
    other = 3 - leader

    driven.decide(lambda: h.controller.broker_disconnected(other))  # ISR: the leader alone
    driven.commit_after(0)
    driven.decide(lambda: h.controller.broker_disconnected(leader))  # offline: none eligible
    driven.commit_after(0)
    assert h.image.leader_of("risky", 0) == -1

    driven.heartbeat(other)  # back, but never in the ISR: only an unclean election
    driven.commit_after(100)

    assert h.image.leader_of("risky", 0) == other
    assert (driven.elections.clean, driven.elections.unclean) == (0, 1)
    assert driven.elections.duration.count == 1


def test_giving_a_partition_back_to_its_preferred_leader_is_an_election_but_no_loss() -> None:
    config = ControllerConfig(leader_imbalance_check_interval_ms=1_000)
    h = started(1, 2, 3, config=config)
    h.create_topic("orders", 1, 3)
    driven = Driven(h)
    preferred = h.image.leader_of("orders", 0)
    assert preferred is not None
    driven.decide(lambda: h.controller.broker_disconnected(preferred))
    driven.commit_after(0)
    driven.heartbeat(preferred)
    driven.commit_after(0)
    # The returned broker catches up and rejoins the ISR (asked by the new leader).
    assert driven.elections.duration.count == 1

    partition = h.image.partition("orders", 0)
    assert partition is not None
    h.run(
        h.controller.alter_partition(
            partition.leader,
            h.epochs[partition.leader],
            [_rejoin(h, "orders", preferred)],
        )
    )
    driven.elections.on_commit(h.image, h.now_ms)
    h.advance(2_000)
    driven.decide(lambda: h.controller.tick(h.now_ms))
    driven.commit_after(0)

    assert h.image.leader_of("orders", 0) == preferred
    assert driven.elections.clean == 2
    assert driven.elections.duration.count == 1, "a move away from a live leader is no loss"


def test_a_controller_that_loses_office_forgets_what_it_noticed() -> None:
    h = started(1, 2)
    h.create_topic("single", 1, 1)
    driven = Driven(h)
    leader = h.image.leader_of("single", 0)
    assert leader is not None
    driven.decide(lambda: h.controller.broker_disconnected(leader))
    driven.commit_after(0)
    assert driven.elections.noticed_gone == 1

    driven.elections.deactivate()

    assert driven.elections.noticed_gone == 0


def _rejoin(h: ControllerHarness, topic: str, node: int) -> IsrChange:
    topic_image = h.image.topic(topic)
    assert topic_image is not None
    p = topic_image.partitions[0]
    return IsrChange(topic_image.topic_id, 0, p.leader_epoch, p.partition_epoch, (*p.isr, node))
