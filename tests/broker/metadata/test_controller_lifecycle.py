"""The controller's view: committed image plus its own pending records, and leadership."""

from __future__ import annotations

import pytest

from broker.error_codes import KafkaError
from broker.metadata.controller import QuorumController
from broker.metadata.controller_config import ControllerConfig
from broker.metadata.errors import ControllerStateError
from broker.metadata.replies import NewTopic
from tests.broker.metadata.harness import ControllerHarness


def test_pending_records_are_in_the_view_but_not_the_committed_image() -> None:
    h = ControllerHarness()
    h.start_brokers(1)
    h.submit(h.controller.create_topics([NewTopic("t", 1, 1)]))
    assert h.controller.view.topic("t") is not None
    assert h.image.topic("t") is None
    assert h.controller.pending_records == 2
    h.commit()
    assert h.controller.pending_records == 0
    assert h.controller.view == h.image


def test_a_second_request_builds_on_the_first_before_it_commits() -> None:
    h = ControllerHarness()
    h.start_brokers(1)
    h.submit(h.controller.create_topics([NewTopic("t", 1, 1)]))
    second = h.submit(h.controller.create_topics([NewTopic("t", 1, 1)]))
    assert second[0].error is KafkaError.TOPIC_ALREADY_EXISTS


def test_records_not_yet_marked_proposed_stay_pending_through_commits() -> None:
    h = ControllerHarness()
    h.start_brokers(1)
    result = h.controller.create_topics([NewTopic("t", 1, 1)])
    h.commit()
    assert h.controller.pending_records == len(result.records)
    assert h.controller.view.topic("t") is not None


def test_losing_leadership_drops_pending_records() -> None:
    h = ControllerHarness()
    h.start_brokers(1)
    h.submit(h.controller.create_topics([NewTopic("t", 1, 1)]))
    h.controller.deactivate()
    assert not h.controller.active
    with pytest.raises(ControllerStateError):
        h.controller.tick(0)
    h.controller.activate(h.image, h.now_ms)
    assert h.controller.view.topic("t") is None


def test_a_pending_record_the_new_committed_image_refuses_is_dropped_and_counted() -> None:
    h = ControllerHarness()
    h.start_brokers(1)
    h.controller.create_topics([NewTopic("t", 1, 1)])  # not yet marked proposed
    # Another writer's record for the same name commits first (never happens while this
    # controller is the only writer; the view must still stay consistent).
    other = QuorumController(ControllerConfig())
    other.activate(h.image, 0)
    foreign = other.create_topics([NewTopic("t", 1, 1)]).records
    committed = h.image.replay((r, h.image.last_offset + 1 + i) for i, r in enumerate(foreign))
    h.controller.on_commit(committed)
    assert h.controller.stats.refused_pending_records == 2
    assert h.controller.view.topic("t") == committed.topic("t")


def test_an_inactive_controller_has_no_view() -> None:
    controller = QuorumController(ControllerConfig())
    with pytest.raises(ControllerStateError, match="not active"):
        _ = controller.view


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("broker_session_timeout_ms", 0, id="a zero session timeout"),
        pytest.param("default_partitions", 0, id="zero default partitions"),
        pytest.param("offsets_topic_partitions", 10_001, id="too many offsets partitions"),
        pytest.param("activation_grace_ms", -1, id="a negative grace"),
    ],
)
def test_impossible_controller_settings_are_refused(field: str, value: int) -> None:
    with pytest.raises(ValueError, match=field):
        ControllerConfig(**{field: value})  # type: ignore[arg-type]
