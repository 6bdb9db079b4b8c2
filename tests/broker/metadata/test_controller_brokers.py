"""The controller's broker rules: registration, sessions, fencing and unfencing."""

from __future__ import annotations

import uuid

import pytest

from broker.error_codes import KafkaError
from broker.metadata.controller_config import ControllerConfig
from broker.metadata.replies import BrokerHeartbeatReply
from tests.broker.metadata.harness import (
    CLUSTER_ID,
    ControllerHarness,
    incarnation,
    listeners_for,
)

SESSION_MS = 4000


def test_a_registered_broker_starts_fenced_and_is_unfenced_once_caught_up() -> None:
    h = ControllerHarness()
    epoch = h.register(1)
    assert h.broker(1).fenced
    behind = h.run(
        h.controller.broker_heartbeat(1, epoch, h.now_ms, metadata_offset=h.image.last_offset - 1)
    )
    assert behind == BrokerHeartbeatReply(KafkaError.NONE, None, False, True, False)
    caught_up = h.heartbeat(1)
    assert caught_up == BrokerHeartbeatReply(KafkaError.NONE, None, True, False, False)
    assert h.image.live_brokers() == (1,)


def test_a_registration_not_yet_committed_cannot_be_caught_up() -> None:
    h = ControllerHarness()
    reply = h.submit(
        h.controller.register_broker(1, incarnation(1), listeners_for(1), 0, cluster_id=CLUSTER_ID)
    )
    result = h.controller.broker_heartbeat(1, reply.broker_epoch, 0, metadata_offset=10**12)
    assert result.records == ()
    assert result.reply.is_fenced and not result.reply.is_caught_up


def test_broker_epochs_grow_across_the_cluster() -> None:
    h = ControllerHarness()
    epochs = [h.register(1), h.register(2), h.register(1)]
    assert epochs == sorted(set(epochs))


def test_a_second_live_broker_with_the_same_node_id_is_refused_naming_the_live_one() -> None:
    h = ControllerHarness()
    h.start_brokers(1)
    result = h.controller.register_broker(
        1, incarnation(1, generation=1), listeners_for(1), h.now_ms, cluster_id=CLUSTER_ID
    )
    assert result.records == ()
    assert result.reply.error is KafkaError.DUPLICATE_BROKER_REGISTRATION
    assert str(incarnation(1)) in (result.reply.message or "")
    assert "stop it or use another node id" in (result.reply.message or "")


def test_a_new_incarnation_is_accepted_once_the_old_session_expired() -> None:
    h = ControllerHarness()
    h.start_brokers(1)
    h.advance(SESSION_MS)
    assert h.register(1, generation=1) > 0


def test_a_new_incarnation_is_accepted_at_once_after_the_old_connection_closed() -> None:
    h = ControllerHarness()
    h.start_brokers(1, 2)
    h.run(h.controller.broker_disconnected(1))
    assert h.register(1, generation=1) > 0


def test_a_restarted_broker_registers_at_once_with_a_newly_active_controller() -> None:
    # After a failover (or a restart of the only controller) the old registration only
    # has the activation grace, which proves nothing about the old process: the new
    # incarnation is accepted instead of being taken for a live duplicate.
    h = ControllerHarness()
    h.start_brokers(1)
    h.controller.deactivate()
    h.controller.activate(h.image, h.now_ms)
    assert h.register(1, generation=1) > 0


def test_a_broker_heartbeating_to_a_new_controller_still_blocks_a_duplicate() -> None:
    h = ControllerHarness()
    h.start_brokers(1)
    h.controller.deactivate()
    h.controller.activate(h.image, h.now_ms)
    h.heartbeat(1)
    result = h.controller.register_broker(
        1, incarnation(1, 1), listeners_for(1), h.now_ms, cluster_id=CLUSTER_ID
    )
    assert result.reply.error is KafkaError.DUPLICATE_BROKER_REGISTRATION


def test_the_same_incarnation_may_register_again_and_gives_up_its_leaderships() -> None:
    h = ControllerHarness()
    h.start_brokers(1, 2)
    h.create_topic("t", 2, 2)
    h.register(1)
    assert h.broker(1).fenced
    assert h.image.partitions_led_by(1) == ()


def test_a_broker_of_another_cluster_is_refused() -> None:
    h = ControllerHarness()
    result = h.controller.register_broker(
        1, incarnation(1), listeners_for(1), 0, cluster_id="other"
    )
    assert result.reply.error is KafkaError.INCONSISTENT_CLUSTER_ID
    assert "'other'" in (result.reply.message or "")


def test_a_registration_without_listeners_is_refused_as_invalid() -> None:
    h = ControllerHarness()
    result = h.controller.register_broker(1, uuid.uuid4(), (), 0, cluster_id=CLUSTER_ID)
    assert result.reply.error is KafkaError.INVALID_REQUEST and result.records == ()


@pytest.mark.parametrize(
    ("node_id", "epoch", "error"),
    [
        pytest.param(9, 1, KafkaError.BROKER_ID_NOT_REGISTERED, id="an unregistered broker"),
        pytest.param(1, 0, KafkaError.STALE_BROKER_EPOCH, id="a stale broker epoch"),
    ],
)
def test_heartbeats_from_unknown_or_stale_brokers_are_refused(
    node_id: int, epoch: int, error: KafkaError
) -> None:
    h = ControllerHarness()
    h.start_brokers(1)
    result = h.controller.broker_heartbeat(node_id, epoch, 0, metadata_offset=0)
    assert result.reply.error is error and result.records == ()


# -- sessions ---------------------------------------------------------------------------

SESSION_CASES = [
    pytest.param(
        SESSION_MS - 1, False, id="a broker silent for less than the session timeout stays"
    ),
    pytest.param(SESSION_MS, True, id="a broker silent for the session timeout is fenced"),
    pytest.param(SESSION_MS * 3, True, id="a broker silent for much longer is fenced"),
]


@pytest.mark.parametrize(("silent_ms", "fenced"), SESSION_CASES)
def test_fencing_on_session_expiry(silent_ms: int, fenced: bool) -> None:
    h = ControllerHarness(ControllerConfig(broker_session_timeout_ms=SESSION_MS))
    h.start_brokers(1, 2)
    h.advance(silent_ms)
    h.heartbeat(2)
    report = h.tick()
    assert report.fenced == ((1,) if fenced else ())
    assert h.broker(1).fenced is fenced
    assert h.controller.stats.fenced_by_session_timeout == int(fenced)


def test_heartbeats_keep_a_session_alive_indefinitely() -> None:
    h = ControllerHarness()
    h.start_brokers(1)
    for _ in range(20):
        h.advance(SESSION_MS // 2)
        h.heartbeat(1)
        assert h.tick().fenced == ()


def test_a_fenced_broker_that_heartbeats_again_is_unfenced() -> None:
    h = ControllerHarness()
    h.start_brokers(1)
    h.advance(SESSION_MS)
    h.tick()
    assert h.image.live_brokers() == ()
    h.heartbeat(1)
    assert h.image.live_brokers() == (1,)


def test_a_broker_asking_to_be_fenced_is_fenced() -> None:
    h = ControllerHarness()
    h.start_brokers(1)
    reply = h.heartbeat(1, want_fence=True)
    assert reply.is_fenced


def test_a_closed_connection_fences_at_once() -> None:
    h = ControllerHarness()
    h.start_brokers(1, 2)
    assert h.run(h.controller.broker_disconnected(2)) is True
    assert h.image.live_brokers() == (1,)
    assert h.controller.stats.fenced_by_disconnect == 1


def test_an_old_connection_closing_late_does_not_fence_a_newer_registration() -> None:
    h = ControllerHarness()
    h.start_brokers(1)
    old_epoch = h.epochs[1]
    h.register(1)
    h.heartbeat(1)
    assert h.run(h.controller.broker_disconnected(1, old_epoch)) is False
    assert h.image.live_brokers() == (1,)


def test_a_new_controller_fences_brokers_silent_through_the_grace_after_its_election() -> None:
    h = ControllerHarness(ControllerConfig(activation_grace_ms=1000))
    h.start_brokers(1, 2)
    h.advance(100_000)
    h.controller.activate(h.image, h.now_ms)
    h.advance(999)
    assert h.tick().fenced == ()
    h.heartbeat(2)
    h.advance(1)
    assert h.tick().fenced == (1,)
