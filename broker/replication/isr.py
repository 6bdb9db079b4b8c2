"""The leader's ISR: the committed one, and at most one change in flight (KIP-497).

A leader never changes its ISR on its own: it asks the controller (AlterPartition with
its leader epoch and the partition epoch the change is based on) and adopts the new
ISR only when its metadata image shows a newer partition epoch (``commit``). While a
change is in flight no other change is asked for, and the high watermark is computed
over the *maximal* ISR, as Kafka does: the committed ISR plus the replica being added
(the high watermark waits for the newcomer at once), and the committed ISR unchanged
while a shrink is pending (the replicas leaving count until the controller agrees they
left). min.insync.replicas and acks=all checks use the committed ISR.

The controller's answer (``answer``), classified as Kafka's ``handleAlterPartitionError``:

- NONE: accepted; the change stays in flight until the image shows it.
- OPERATION_NOT_ATTEMPTED, INELIGIBLE_REPLICA: definitely not applied; the change is
  dropped and the next one may be asked for ``retry_backoff_ms`` later.
- INVALID_UPDATE_VERSION, FENCED_LEADER_EPOCH, UNKNOWN_TOPIC_OR_PARTITION,
  UNKNOWN_TOPIC_ID, INVALID_REQUEST: refused, but whether an earlier copy of it was
  applied is unknown (a retry after a lost answer meets its own committed change as a
  stale epoch); the change stays in flight until newer metadata arrives, which it must.
- anything else, and no answer at all (timeout, closed connection, NOT_CONTROLLER):
  send the same request again. Dropping it would be unsafe: if the controller applied
  an expansion, the new member must keep holding the high watermark back.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from broker.error_codes import KafkaError

__all__ = ["IsrChangeKind", "IsrChangeRequest", "IsrState"]

_NOT_APPLIED = frozenset({KafkaError.OPERATION_NOT_ATTEMPTED, KafkaError.INELIGIBLE_REPLICA})
_AWAIT_METADATA = frozenset(
    {
        KafkaError.INVALID_UPDATE_VERSION,
        KafkaError.FENCED_LEADER_EPOCH,
        KafkaError.UNKNOWN_TOPIC_OR_PARTITION,
        KafkaError.UNKNOWN_TOPIC_ID,
        KafkaError.INVALID_REQUEST,
    }
)


class IsrChangeKind(enum.Enum):
    EXPAND = "expand"
    SHRINK = "shrink"


@dataclass(frozen=True, slots=True)
class IsrChangeRequest:
    """One partition of an AlterPartition request, to send to the controller.

    ``partition_epoch`` is the epoch the change is based on (the controller refuses it
    once the partition moved on). ``new_isr`` keeps the committed ISR's order, with an
    added replica last. ``changed`` names the replicas added or removed."""

    topic: str
    partition: int
    leader_id: int
    leader_epoch: int
    partition_epoch: int
    new_isr: tuple[int, ...]
    kind: IsrChangeKind
    changed: tuple[int, ...]


class IsrState:
    """Committed ISR, partition epoch and the change in flight. Owned by one leader."""

    __slots__ = ("_retry_at_ms", "isr", "partition_epoch", "pending", "retry_backoff_ms")

    def __init__(
        self, isr: tuple[int, ...], partition_epoch: int, retry_backoff_ms: int = 100
    ) -> None:
        self.isr = isr
        self.partition_epoch = partition_epoch
        self.pending: IsrChangeRequest | None = None
        self.retry_backoff_ms = retry_backoff_ms
        self._retry_at_ms = 0

    @property
    def maximal(self) -> frozenset[int]:
        """The ISR the high watermark is computed over (see the module docstring)."""
        pending = self.pending
        if pending is not None and pending.kind is IsrChangeKind.EXPAND:
            return frozenset(self.isr) | frozenset(pending.changed)
        return frozenset(self.isr)

    def may_change(self, now_ms: int) -> bool:
        """No change in flight, and none refused within the retry backoff."""
        return self.pending is None and now_ms >= self._retry_at_ms

    def request(self, change: IsrChangeRequest) -> IsrChangeRequest:
        self.pending = change
        return change

    def answer(
        self, change: IsrChangeRequest, error: KafkaError | None, now_ms: int
    ) -> IsrChangeRequest | None:
        """The controller's answer to ``change`` (None: no answer came). Returns the
        request to send again, or None (see the module docstring). Answers about any
        object but the change in flight are ignored."""
        if self.pending is not change or error is KafkaError.NONE:
            return None
        if error in _NOT_APPLIED:
            self.pending = None
            self._retry_at_ms = now_ms + self.retry_backoff_ms
            return None
        if error in _AWAIT_METADATA:
            return None
        return change

    def commit(self, partition_epoch: int, isr: tuple[int, ...]) -> bool:
        """Adopt the ISR of a newer partition epoch from the metadata image (whatever
        change made it); the change in flight is settled either way. False (nothing
        changes) for an epoch not newer than ours."""
        if partition_epoch <= self.partition_epoch:
            return False
        self.partition_epoch = partition_epoch
        self.isr = isr
        self.pending = None
        self._retry_at_ms = 0
        return True
