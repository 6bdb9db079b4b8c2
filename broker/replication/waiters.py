"""``ProduceWaiters``: acks=all produce requests of one partition waiting for the high
watermark (Kafka's DelayedProduce, one partition's share of it).

A waiter is registered after its batch was appended on the leader, with the offset the
high watermark must reach (the batch's last offset + 1) and a deadline (now + the
request's timeout). ``poll`` says which waiters are done and with which error; rules,
checked in this order for each waiter:

1. high watermark >= required offset: NONE when the ISR still has at least
   min.insync.replicas members, else NOT_ENOUGH_REPLICAS_AFTER_APPEND (Kafka's check in
   ``checkEnoughReplicasReachOffset``);
2. the ISR has fewer than min.insync.replicas members: NOT_ENOUGH_REPLICAS_AFTER_APPEND
   at once (the high watermark cannot advance until the ISR grows back, so waiting
   would only end in a timeout);
3. the deadline has passed: REQUEST_TIMED_OUT.

``fail_all`` ends every waiter with one error (NOT_LEADER_OR_FOLLOWER when leadership
is lost). Pure bookkeeping: no clock, no futures; the caller maps waiter ids to its
pending responses. Not thread-safe.
"""

from __future__ import annotations

from dataclasses import dataclass

from broker.error_codes import KafkaError

__all__ = ["ProduceWaiters", "WaiterOutcome"]


@dataclass(frozen=True, slots=True)
class WaiterOutcome:
    """A finished waiter: answer its produce request with ``error``."""

    waiter_id: int
    error: KafkaError


@dataclass(frozen=True, slots=True)
class _Waiter:
    required_offset: int
    deadline_ms: int


class ProduceWaiters:
    """See the module docstring."""

    __slots__ = ("_next_id", "_waiting")

    def __init__(self) -> None:
        self._next_id = 0
        self._waiting: dict[int, _Waiter] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def register(self, required_offset: int, deadline_ms: int) -> int:
        """A new waiter; returns its id (unique within this structure)."""
        waiter_id = self._next_id
        self._next_id += 1
        self._waiting[waiter_id] = _Waiter(required_offset, deadline_ms)
        return waiter_id

    def cancel(self, waiter_id: int) -> bool:
        """Forget a waiter whose client went away; True if it was waiting."""
        return self._waiting.pop(waiter_id, None) is not None

    def poll(
        self, *, high_watermark: int, isr_size: int, min_insync_replicas: int, now_ms: int
    ) -> tuple[WaiterOutcome, ...]:
        """The waiters finished by these conditions (removed), in registration order."""
        enough = isr_size >= min_insync_replicas
        done: list[WaiterOutcome] = []
        for waiter_id, waiter in self._waiting.items():
            if high_watermark >= waiter.required_offset:
                error = KafkaError.NONE if enough else KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND
            elif not enough:
                error = KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND
            elif now_ms >= waiter.deadline_ms:
                error = KafkaError.REQUEST_TIMED_OUT
            else:
                continue
            done.append(WaiterOutcome(waiter_id, error))
        for outcome in done:
            del self._waiting[outcome.waiter_id]
        return tuple(done)

    def fail_all(self, error: KafkaError) -> tuple[WaiterOutcome, ...]:
        """End every waiter with ``error`` (leadership lost, partition deleted)."""
        done = tuple(WaiterOutcome(waiter_id, error) for waiter_id in self._waiting)
        self._waiting.clear()
        return done
