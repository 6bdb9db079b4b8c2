"""Leader elections: from the ISR, offline and back, unclean only when enabled,
controlled shutdown, preferred leaders."""

from __future__ import annotations

from broker.metadata.controller_config import ControllerConfig
from broker.metadata.image import PartitionImage
from broker.metadata.records import FenceBroker
from broker.metadata.replies import ControllerResult, IsrChange, NewTopic
from tests.broker.metadata.harness import ControllerHarness

SESSION_MS = 4000


def partition(h: ControllerHarness, topic: str = "t", index: int = 0) -> PartitionImage:
    state = h.image.partition(topic, index)
    assert state is not None
    return state


def kill(h: ControllerHarness, *nodes: int) -> None:
    for node in nodes:
        h.run(h.controller.broker_disconnected(node))


def test_a_fenced_leader_is_replaced_by_the_next_isr_member_in_replica_order() -> None:
    h = ControllerHarness()
    h.start_brokers(1, 2, 3)
    h.run(h.controller.create_topics([NewTopic("t", assignments={0: (1, 3, 2)})]))
    kill(h, 1)
    state = partition(h)
    assert state.leader == 3
    assert state.isr == (3, 2)
    assert (state.leader_epoch, state.partition_epoch) == (1, 1)


def test_an_isr_only_change_bumps_only_the_partition_epoch() -> None:
    h = ControllerHarness()
    h.start_brokers(1, 2, 3)
    h.run(h.controller.create_topics([NewTopic("t", assignments={0: (1, 2, 3)})]))
    kill(h, 3)
    state = partition(h)
    assert (state.leader, state.isr, state.leader_epoch, state.partition_epoch) == (
        1,
        (1, 2),
        0,
        1,
    )


def test_a_partition_whose_last_isr_member_dies_goes_offline_keeping_that_member() -> None:
    h = ControllerHarness()
    h.start_brokers(1, 2, 3)
    h.run(h.controller.create_topics([NewTopic("t", assignments={0: (1, 2)})]))
    kill(h, 2)
    kill(h, 1)
    state = partition(h)
    assert (state.leader, state.isr) == (-1, (1,))
    assert [r.partition_index for r in h.image.offline_partitions()] == [0]


def test_an_offline_partition_comes_back_when_its_last_isr_member_returns() -> None:
    h = ControllerHarness()
    h.start_brokers(1, 2, 3)
    h.run(h.controller.create_topics([NewTopic("t", assignments={0: (1, 2)})]))
    kill(h, 2)
    kill(h, 1)
    offline_epoch = partition(h).leader_epoch
    h.heartbeat(2)  # 2 is not in the ISR: the partition stays offline
    assert partition(h).leader == -1
    h.heartbeat(1)
    state = partition(h)
    assert (state.leader, state.isr, state.leader_epoch) == (1, (1,), offline_epoch + 1)
    assert h.image.offline_partitions() == ()


def test_unclean_election_happens_only_when_the_topic_allows_it_and_is_counted() -> None:
    h = ControllerHarness()
    h.start_brokers(1, 2, 3)
    h.run(
        h.controller.create_topics(
            [
                NewTopic("clean", assignments={0: (1, 2)}),
                NewTopic(
                    "unclean",
                    assignments={0: (1, 2)},
                    configs={"unclean.leader.election.enable": "true"},
                ),
            ]
        )
    )
    kill(h, 2)
    kill(h, 1)
    h.heartbeat(2)
    assert partition(h, "clean").leader == -1
    state = partition(h, "unclean")
    assert (state.leader, state.isr) == (2, (2,))
    assert h.controller.stats.unclean_leader_elections == 1


def test_turning_unclean_election_on_lets_the_next_tick_elect() -> None:
    h = ControllerHarness()
    h.start_brokers(1, 2)
    h.run(h.controller.create_topics([NewTopic("t", assignments={0: (1, 2)})]))
    kill(h, 2)
    kill(h, 1)
    h.heartbeat(2)
    h.run(h.controller.alter_configs({"t": {"unclean.leader.election.enable": "TRUE"}}))
    assert partition(h).leader == -1
    report = h.tick()
    assert report.unclean_elections == 1
    assert partition(h).leader == 2


def test_a_new_controller_repairs_leaders_left_fenced_by_a_partially_written_batch() -> None:
    h = ControllerHarness()
    h.start_brokers(1, 2)
    h.create_topic("t", 1, 2)
    leader = partition(h).leader
    result = h.controller.broker_disconnected(leader)
    # The controller dies after only the batch's FenceBroker record reached the log.
    h.controller.deactivate()
    h.run(ControllerResult(tuple(r for r in result.records if isinstance(r, FenceBroker)), None))
    assert h.broker(leader).fenced and partition(h).leader == leader
    h.controller.activate(h.image, h.now_ms)
    h.tick()
    state = partition(h)
    assert state.leader not in (leader, -1)
    assert h.broker(state.leader).eligible


# -- controlled shutdown -------------------------------------------------------------------


def test_controlled_shutdown_moves_every_leadership_away() -> None:
    h = ControllerHarness()
    h.start_brokers(1, 2, 3)
    h.create_topic("t", 12, 3)
    assert h.image.partitions_led_by(2)
    reply = h.run(h.controller.controlled_shutdown(2, h.epochs[2], h.now_ms))
    assert reply.done and reply.still_leading == ()
    assert h.image.partitions_led_by(2) == ()
    for state in h.image.partitions_of("t"):
        assert 2 not in state.isr
        assert state.leader in (1, 3)
    assert h.broker(2).in_controlled_shutdown


def test_controlled_shutdown_of_the_only_replica_takes_the_partition_offline() -> None:
    h = ControllerHarness()
    h.start_brokers(1, 2)
    h.run(h.controller.create_topics([NewTopic("t", assignments={0: (1,)})]))
    reply = h.run(h.controller.controlled_shutdown(1, h.epochs[1], h.now_ms))
    assert reply.done
    assert (partition(h).leader, partition(h).isr) == (-1, (1,))


def test_a_broker_shutting_down_gets_no_new_leaderships_or_replicas() -> None:
    h = ControllerHarness()
    h.start_brokers(1, 2, 3)
    h.heartbeat(3, want_shutdown=True)
    h.create_topic("t", 6, 2)
    assert all(3 not in p.replicas for p in h.image.partitions_of("t"))
    h.heartbeat(3)  # a plain heartbeat does not bring it back
    assert not h.broker(3).eligible


def test_a_shutdown_heartbeat_says_shut_down_once_nothing_is_led() -> None:
    h = ControllerHarness()
    h.start_brokers(1, 2)
    h.create_topic("t", 4, 2)
    reply = h.heartbeat(1, want_shutdown=True)
    assert reply.should_shutdown
    assert h.image.partitions_led_by(1) == ()


def test_a_restarted_broker_registers_afresh_and_can_lead_again() -> None:
    h = ControllerHarness()
    h.start_brokers(1, 2)
    h.create_topic("t", 2, 2)
    h.run(h.controller.controlled_shutdown(1, h.epochs[1], h.now_ms))
    kill(h, 1)
    h.register(1, generation=1)
    h.heartbeat(1)
    assert h.broker(1).eligible


# -- preferred leaders ---------------------------------------------------------------------


def rebalancing_cluster(**config: object) -> ControllerHarness:
    h = ControllerHarness(
        ControllerConfig(leader_imbalance_check_interval_ms=10_000, **config)  # type: ignore[arg-type]
    )
    h.start_brokers(1, 2, 3)
    h.create_topic("t", 6, 3)
    kill(h, 1)
    h.register(1, generation=1)
    h.heartbeat(1)
    return h


def expand_isrs(h: ControllerHarness) -> None:
    """Leaders take broker 1 back into their ISR, as followers that caught up."""
    for state in h.image.partitions_of("t"):
        if 1 in state.isr:
            continue
        topic = h.image.topic("t")
        assert topic is not None
        change = IsrChange(
            topic.topic_id,
            state.partition_index,
            state.leader_epoch,
            state.partition_epoch,
            (*state.isr, 1),
        )
        reply = h.run(h.controller.alter_partition(state.leader, h.epochs[state.leader], [change]))
        assert reply.partitions[0].message is None, reply


def test_preferred_leaders_return_at_the_next_imbalance_check() -> None:
    h = rebalancing_cluster()
    assert h.image.partitions_led_by(1) == ()
    expand_isrs(h)
    h.advance(9_999)
    h.heartbeat_all(1, 2, 3)
    assert h.tick().preferred_leaders_restored == 0
    h.advance(1)
    h.heartbeat_all(1, 2, 3)
    assert h.tick().preferred_leaders_restored == 2
    assert all(p.leader == p.preferred_leader for p in h.image.partitions_of("t"))
    assert h.controller.stats.preferred_leader_elections == 2


def test_preferred_leaders_wait_for_the_preferred_replica_to_be_in_sync() -> None:
    h = rebalancing_cluster()
    h.advance(10_000)
    h.heartbeat_all(1, 2, 3)
    assert h.tick().preferred_leaders_restored == 0


def test_rebalancing_can_be_turned_off() -> None:
    h = rebalancing_cluster(auto_leader_rebalance=False)
    expand_isrs(h)
    h.advance(100_000)
    h.heartbeat_all(1, 2, 3)
    assert h.tick().preferred_leaders_restored == 0
    assert h.image.partitions_led_by(1) == ()
