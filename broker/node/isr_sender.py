"""``IsrChangeSender``: a partition leader's ISR changes, sent to the active controller as
AlterPartition and the answers handed back to the leader (Kafka's
``AlterPartitionManager``).

The replication core decides when the ISR should change (``maybe_shrink_isr`` on a
timer, an expansion in a follower fetch's decision) and keeps at most one change in
flight per partition. This sender carries one change per request (node id, broker
epoch, the change with the partition's topic id) and gives the controller's answer to
``LeaderReplicaState.on_isr_change_answer``: the partition's own error, else the
request's (a stale broker epoch), else an ``ErrorResponse``'s, None when nothing came
back at all (also when this broker has no epoch yet: nothing is sent before it
registers). The core says what to send again; it is sent after ``retry_backoff_ms``,
as long as the same leadership lasts (a new leader state owns its own ISR). The leader
adopts the new ISR only when its metadata image shows it, whatever the answer said.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from broker.cluster.partition import Partition
from broker.error_codes import KafkaError
from broker.metadata.replies import IsrChange
from broker.metadata.rpc import AlterPartitionRequest, AlterPartitionResponse, ErrorResponse
from broker.metrics.stats import ReplicationStats
from broker.replication import IsrChangeRequest, LeaderReplicaState
from contracts.clock import Clock

__all__ = ["IsrChangeSender"]

log = logging.getLogger(__name__)

ControllerCall = Callable[
    [AlterPartitionRequest, float], Awaitable[AlterPartitionResponse | ErrorResponse]
]


class IsrChangeSender:
    """See the module docstring. Event-loop thread only."""

    def __init__(
        self,
        node_id: int,
        call_controller: ControllerCall,
        broker_epoch: Callable[[], int],
        clock: Clock,
        *,
        retry_backoff_ms: int = 100,
        timeout_s: float = 10.0,
        stats: ReplicationStats | None = None,
    ) -> None:
        """``stats``: where refused and unanswered changes are counted."""
        self.node_id = node_id
        self.call_controller = call_controller
        self.broker_epoch = broker_epoch
        self.clock = clock
        self.retry_backoff_ms = retry_backoff_ms
        self.timeout_s = timeout_s
        self.sent = 0
        self.stats = stats
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def send(self, partition: Partition, change: IsrChangeRequest) -> None:
        """Send ``change`` (asked by ``partition``'s current leader state)."""
        leader = partition.leader
        if leader is None or self._closed:
            return
        task = asyncio.get_running_loop().create_task(self._deliver(partition, leader, change))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(
        self, partition: Partition, leader: LeaderReplicaState, change: IsrChangeRequest
    ) -> None:
        while True:
            error = await self._ask(partition, change)
            if partition.leader is not leader or self._closed:
                return  # that leadership ended; the next one asks for itself
            again = leader.on_isr_change_answer(change, error, self.clock.time_ms())
            if again is None:
                return
            log.info(
                "%s-%d: ISR change to %s not applied (%s); asking again",
                partition.topic,
                partition.index,
                list(change.new_isr),
                "no answer" if error is None else error.name,
            )
            await asyncio.sleep(self.retry_backoff_ms / 1000)
            change = again

    async def _ask(self, partition: Partition, change: IsrChangeRequest) -> KafkaError | None:
        broker_epoch = self.broker_epoch()
        if broker_epoch < 0:
            # Not registered yet (a restarted leader acts on its image before that): no
            # valid request exists; as with a lost answer, the change is asked again.
            return None
        request = AlterPartitionRequest(
            self.node_id,
            broker_epoch,
            (
                IsrChange(
                    partition.topic_id,
                    change.partition,
                    change.leader_epoch,
                    change.partition_epoch,
                    change.new_isr,
                ),
            ),
        )
        self.sent += 1
        try:
            response = await self.call_controller(request, self.timeout_s)
        except Exception:
            log.exception("%s-%d: AlterPartition failed", partition.topic, partition.index)
            error = None
        else:
            error = _error_of(response, partition, change)
        if error is not KafkaError.NONE and self.stats is not None:
            self.stats.isr_update_failures += 1  # sent, and refused or not answered
        return error

    async def close(self) -> None:
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _error_of(
    response: AlterPartitionResponse | ErrorResponse, partition: Partition, change: IsrChangeRequest
) -> KafkaError | None:
    if isinstance(response, ErrorResponse):
        return response.error
    reply = response.reply
    for answer in reply.partitions:
        if answer.topic_id == partition.topic_id and answer.partition_index == change.partition:
            if answer.error is not KafkaError.NONE:
                log.info(
                    "%s-%d: the controller refused ISR %s: %s",
                    partition.topic,
                    partition.index,
                    list(change.new_isr),
                    answer.message or answer.error.name,
                )
            return answer.error
    return reply.error if reply.error is not KafkaError.NONE else None
