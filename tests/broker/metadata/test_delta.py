"""delta(old, new, node): what one broker must lead, follow and delete."""

from __future__ import annotations

from broker.metadata.delta import delta
from broker.metadata.records import Config, PartitionChange, RemoveTopic
from tests.broker.metadata.harness import ControllerHarness


def cluster() -> ControllerHarness:
    h = ControllerHarness()
    h.start_brokers(1, 2, 3)
    return h


def test_a_new_topic_tells_each_replica_to_lead_or_follow() -> None:
    h = cluster()
    before = h.image
    h.create_topic("t", 3, 2)
    for node in (1, 2, 3):
        change = delta(before, h.image, node)
        assert change.topics_created == ("t",)
        led = {c.partition.partition_index for c in change.to_lead}
        followed = {c.partition.partition_index for c in change.to_follow}
        assert led == {p.partition_index for p in h.image.partitions_of("t") if p.leader == node}
        assert all(c.is_new_leadership and c.previous is None for c in change.to_lead)
        assert led.isdisjoint(followed)
        assert led | followed == {
            p.partition_index for p in h.image.partitions_of("t") if node in p.replicas
        }


def test_a_leader_change_moves_the_partition_from_follow_to_lead() -> None:
    h = cluster()
    topic_id = h.create_topic("t", 1, 3)
    before = h.image
    h.image = h.image.apply(PartitionChange(topic_id, 0, 2, None, 1, 1), 100)
    new_leader, old_leader, third = (delta(before, h.image, n) for n in (2, 1, 3))
    assert [c.partition.leader for c in new_leader.to_lead] == [2]
    assert new_leader.to_lead[0].is_new_leadership
    assert [c.partition.leader for c in old_leader.to_follow] == [2]
    assert [c.partition.leader for c in third.to_follow] == [2]


def test_an_isr_change_reaches_the_leader_but_not_the_followers() -> None:
    h = cluster()
    topic_id = h.create_topic("t", 1, 3)
    before = h.image
    h.image = h.image.apply(PartitionChange(topic_id, 0, None, (1, 2), 0, 1), 100)
    leader = delta(before, h.image, 1)
    assert [c.partition.isr for c in leader.to_lead] == [(1, 2)]
    assert not leader.to_lead[0].is_new_leadership
    assert delta(before, h.image, 2).to_follow == ()


def test_a_removed_topic_is_deleted_on_its_replicas_only() -> None:
    h = cluster()
    topic_id = h.create_topic("t", 3, 1)
    before = h.image
    h.image = h.image.apply(RemoveTopic(topic_id), 100)
    for node in (1, 2, 3):
        change = delta(before, h.image, node)
        assert change.topics_removed == ("t",)
        assert [r.partition_index for r in change.to_delete] == [
            p.partition_index for p in before.partitions_of("t") if node in p.replicas
        ]


def test_config_and_broker_changes_are_reported() -> None:
    h = cluster()
    h.create_topic("t", 1, 1)
    configured = h.image.apply(Config("topic", "t", "retention.ms", "5"), 100)
    change = delta(h.image, configured, 1)
    assert change.configs_changed == ("t",)
    assert change.to_lead == () and change.to_follow == ()
    before = h.image
    h.advance(h.config.broker_session_timeout_ms)
    h.heartbeat_all(1, 2)
    h.tick()
    change = delta(before, h.image, 1)
    assert change.brokers_fenced == (3,)
    assert change.brokers_unfenced == ()


def test_nothing_changed_gives_an_empty_delta() -> None:
    h = cluster()
    assert delta(h.image, h.image, 1).is_empty
