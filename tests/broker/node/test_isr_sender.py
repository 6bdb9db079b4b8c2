"""ISR changes travel to the controller as AlterPartition and its answers go back to the
leader: accepted changes stay in flight until metadata shows them, lost answers and
NOT_CONTROLLER are asked again, definite refusals are dropped, and a leadership that
ended stops asking."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.cluster.partition import Partition
from broker.error_codes import KafkaError
from broker.metadata.replies import AlterPartitionReply, IsrChangeReply
from broker.metadata.rpc import AlterPartitionRequest, AlterPartitionResponse, ErrorResponse
from broker.metrics.stats import ReplicationStats
from broker.node.isr_sender import IsrChangeSender
from broker.replication import IsrChangeRequest
from contracts.clock import ManualClock
from tests.support.local_broker import LocalBroker, leader_of_three_replicas

TOPIC = "isr"
Answer = AlterPartitionResponse | ErrorResponse


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalBroker]:
    with leader_of_three_replicas(tmp_path / "data", TOPIC) as broker:
        yield broker


def _leader_partition(broker: LocalBroker) -> Partition:
    partition = broker.services.replicas.get(TOPIC, 0)
    assert partition is not None and partition.leader is not None
    return partition


def _shrink(broker: LocalBroker) -> tuple[Partition, IsrChangeRequest]:
    """The followers never fetched: past the lag limit the leader asks to drop them."""
    partition = _leader_partition(broker)
    clock = broker.app.clock
    assert isinstance(clock, ManualClock)
    clock.advance(60)
    assert partition.leader is not None
    change = partition.leader.maybe_shrink_isr(clock.time_ms())
    assert change is not None and change.new_isr == (0,)
    return partition, change


def _accepted(partition: Partition) -> AlterPartitionResponse:
    reply = IsrChangeReply(partition.topic_id, 0, KafkaError.NONE, None)
    return AlterPartitionResponse(AlterPartitionReply(KafkaError.NONE, None, (reply,)))


def _refused(partition: Partition, error: KafkaError) -> AlterPartitionResponse:
    reply = IsrChangeReply(partition.topic_id, 0, error, "no")
    return AlterPartitionResponse(AlterPartitionReply(KafkaError.NONE, None, (reply,)))


def _send(broker: LocalBroker, partition: Partition, change: IsrChangeRequest,
          answers: list[Answer], *, resign: bool = False,
          epochs: Iterator[int] | None = None,
          stats: ReplicationStats | None = None) -> list[AlterPartitionRequest]:  # fmt: skip
    """Send ``change`` with the controller giving ``answers`` in turn (and, with
    ``resign``, the leadership ending while the first is asked) and the broker epoch
    taking ``epochs`` in turn (then 5); the requests."""
    asked: list[AlterPartitionRequest] = []

    def epoch_now() -> int:
        return 5 if epochs is None else next(epochs, 5)

    async def controller(request: AlterPartitionRequest, _timeout_s: float) -> Answer:
        asked.append(request)
        if resign:
            partition.stop()
        return answers[min(len(asked), len(answers)) - 1]

    async def run() -> None:
        sender = IsrChangeSender(
            0, controller, epoch_now, broker.app.clock, retry_backoff_ms=0, stats=stats
        )
        sender.send(partition, change)
        while sender._tasks:
            await asyncio.sleep(0)
        await sender.close()

    asyncio.run(run())
    return asked


def test_an_accepted_change_is_sent_once_and_stays_in_flight(broker: LocalBroker) -> None:
    partition, change = _shrink(broker)
    (request,) = _send(broker, partition, change, [_accepted(partition)])
    (sent,) = request.changes
    assert (request.node_id, request.broker_epoch) == (0, 5)
    assert (sent.topic_id, sent.new_isr, sent.leader_epoch) == (
        partition.topic_id,
        (0,),
        change.leader_epoch,
    )
    assert partition.leader is not None and partition.leader.isr_state.pending is change


def test_no_controller_means_asking_again_until_one_answers(broker: LocalBroker) -> None:
    partition, change = _shrink(broker)
    no_controller = ErrorResponse(KafkaError.NOT_CONTROLLER, "electing")
    asked = _send(broker, partition, change, [no_controller, no_controller, _accepted(partition)])
    assert len(asked) == 3 and len({r.changes for r in asked}) == 1


def test_a_definite_refusal_is_dropped_and_the_leader_may_ask_later(broker: LocalBroker) -> None:
    partition, change = _shrink(broker)
    asked = _send(broker, partition, change, [_refused(partition, KafkaError.INELIGIBLE_REPLICA)])
    assert len(asked) == 1
    assert partition.leader is not None and partition.leader.isr_state.pending is None


def test_a_leadership_that_ended_stops_asking(broker: LocalBroker) -> None:
    partition, change = _shrink(broker)
    no_controller = ErrorResponse(KafkaError.NOT_CONTROLLER, "electing")
    assert len(_send(broker, partition, change, [no_controller], resign=True)) == 1


def test_a_broker_not_yet_registered_asks_only_once_it_has_an_epoch(broker: LocalBroker) -> None:
    partition, change = _shrink(broker)
    (request,) = _send(broker, partition, change, [_accepted(partition)], epochs=iter([-1, -1]))
    assert request.broker_epoch == 5


def test_refused_and_unanswered_changes_are_counted_as_failures_unsent_ones_not(
    broker: LocalBroker,
) -> None:
    partition, change = _shrink(broker)
    stats = ReplicationStats()
    no_controller = ErrorResponse(KafkaError.NOT_CONTROLLER, "electing")

    asked = _send(
        broker,
        partition,
        change,
        [no_controller, no_controller, _accepted(partition)],
        epochs=iter([-1]),
        stats=stats,
    )

    assert len(asked) == 3
    assert stats.isr_update_failures == 2
