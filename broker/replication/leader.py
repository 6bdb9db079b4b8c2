"""``LeaderReplicaState``: one partition led by this node (Kafka's ``Partition`` as leader).

Sans-I/O: the I/O edge tells it what happened (a follower fetched, the leader appended
or flushed, the metadata image moved, time passed) and gets back decisions (answer this
fetch with that error or diverging epoch, the high watermark is now h, send this ISR
change to the controller, answer these acks=all producers). Time arrives as ``now_ms``.

High watermark (HW): the minimum log end offset over the maximal ISR (see
``broker.replication.isr``), where the leader counts its own log end offset, or its
flushed offset under the durable flush policy; followers with an unknown position (no
fetch yet in this leadership) hold it back. It advances only while the committed ISR has
at least min.insync.replicas members (KIP-966) and never moves backwards within a
leadership. It starts at the checkpointed HW, clamped to the log.

ISR: a follower is added (expansion requested) when its log end offset reaches both the
HW and the start offset of the current leader epoch, it is not in the ISR, and no
change is in flight; followers out of sync longer than ``replica_lag_time_max_ms``
(``broker.replication.progress``) are removed by ``maybe_shrink_isr``. The leader itself
is never removed.

Follower fetches are checked as Kafka does, in order: the request's current leader
epoch; the replica id (not a replica of the partition: refused with a reason); with a
last fetched epoch, divergence (the follower's epoch ends earlier in this log than its
fetch offset: answered with the diverging epoch, the follower's position unrecorded);
the fetch offset within [log start, log end]. Only then is the position recorded.

Single-threaded: the owner serialises calls (the event loop).
"""

from __future__ import annotations

from dataclasses import dataclass

from broker.error_codes import KafkaError
from broker.replication.isr import IsrChangeKind, IsrChangeRequest, IsrState
from broker.replication.log_view import NO_EPOCH, ReplicaLogView, check_leader_epoch
from broker.replication.progress import FollowerProgress
from broker.replication.waiters import ProduceWaiters, WaiterOutcome
from broker.storage.epoch_cache import UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET, EpochEndOffset

__all__ = ["FetchDecision", "LeaderConfig", "LeaderReplicaState", "LeaderUpdate"]

EARLIEST_TIMESTAMP = -2
LATEST_TIMESTAMP = -1
EARLIEST_LOCAL_TIMESTAMP = -4


@dataclass(frozen=True, slots=True)
class LeaderConfig:
    """Settings of one led partition (topic config and broker config)."""

    min_insync_replicas: int = 1
    replica_lag_time_max_ms: int = 10_000
    durable: bool = False
    isr_retry_backoff_ms: int = 100


@dataclass(frozen=True, slots=True)
class LeaderUpdate:
    """What a leader event changed: the HW now, whether it advanced (wake consumer
    fetches, checkpoint it), and the acks=all waiters that are done."""

    high_watermark: int
    high_watermark_advanced: bool = False
    completed: tuple[WaiterOutcome, ...] = ()


@dataclass(frozen=True, slots=True)
class FetchDecision:
    """How to answer one follower fetch.

    ``error`` NONE: serve records from the fetch offset up to the log end, with
    ``update.high_watermark``; ``diverging_epoch`` set: answer with it and no records;
    otherwise answer ``error`` (``reason`` says why, for the log). ``isr_change``: send it
    to the controller. ``update``: as for every leader event."""

    error: KafkaError
    update: LeaderUpdate
    reason: str | None = None
    diverging_epoch: EpochEndOffset | None = None
    isr_change: IsrChangeRequest | None = None


class LeaderReplicaState:
    """See the module docstring."""

    def __init__(
        self,
        topic: str,
        partition: int,
        *,
        leader_id: int,
        leader_epoch: int,
        partition_epoch: int,
        replicas: tuple[int, ...],
        isr: tuple[int, ...],
        log_end_offset: int,
        high_watermark: int,
        now_ms: int,
        config: LeaderConfig,
        epoch_start_offset: int | None = None,
        flushed_offset: int | None = None,
        waiters: ProduceWaiters | None = None,
    ) -> None:
        """``log_end_offset`` after ``Log.assign_leader_epoch(leader_epoch)``;
        ``epoch_start_offset`` defaults to it (Kafka: the log end when the leadership
        starts). ``high_watermark``: the checkpointed or previous HW. ``flushed_offset``
        (durable policy): defaults to the log end. ``waiters``: those of this node's
        previous leadership of the partition, kept when it is re-elected."""
        if leader_id not in replicas or leader_id not in isr:
            raise ValueError(f"{topic}-{partition}: leader {leader_id} not in replicas and ISR")
        self.topic = topic
        self.partition = partition
        self.leader_id = leader_id
        self.leader_epoch = leader_epoch
        self.replicas = replicas
        self.config = config
        self.log_end_offset = log_end_offset
        self.flushed_offset = log_end_offset if flushed_offset is None else flushed_offset
        self.epoch_start_offset = (
            log_end_offset if epoch_start_offset is None else epoch_start_offset
        )
        self.high_watermark = max(0, min(high_watermark, log_end_offset))
        self.isr_state = IsrState(isr, partition_epoch, config.isr_retry_backoff_ms)
        self.followers = {
            r: FollowerProgress.for_new_leader(now_ms, r in isr) for r in replicas if r != leader_id
        }
        self.waiters = ProduceWaiters() if waiters is None else waiters

    # -- views ------------------------------------------------------------------------

    @property
    def isr(self) -> tuple[int, ...]:
        """The committed ISR."""
        return self.isr_state.isr

    @property
    def partition_epoch(self) -> int:
        return self.isr_state.partition_epoch

    @property
    def label(self) -> str:
        return f"{self.topic}-{self.partition}"

    @property
    def under_min_isr(self) -> bool:
        return len(self.isr) < self.config.min_insync_replicas

    # -- client checks ----------------------------------------------------------------

    def check_client_epoch(self, current_leader_epoch: int) -> KafkaError:
        """The check for any request naming this partition (see ``check_leader_epoch``)."""
        return check_leader_epoch(current_leader_epoch, self.leader_epoch)

    def can_accept_acks_all(self) -> KafkaError:
        """Before an acks=all append: NOT_ENOUGH_REPLICAS while the committed ISR is
        smaller than min.insync.replicas (nothing may be appended then)."""
        return KafkaError.NOT_ENOUGH_REPLICAS if self.under_min_isr else KafkaError.NONE

    def list_offsets_error(
        self, timestamp: int, found_offset: int | None = None, *, from_replica: bool = False
    ) -> KafkaError:
        """OFFSET_NOT_AVAILABLE, as Kafka's ``fetchOffsetForTimestamp``, for a client
        while this new leader's HW is below its epoch start offset: for the latest
        offset, and for a timestamp whose offset (``found_offset``, None when there is
        none) is not below the HW. Earliest lookups and replicas are never refused."""
        lagging = self.high_watermark < self.epoch_start_offset
        if from_replica or not lagging:
            return KafkaError.NONE
        if timestamp in (EARLIEST_TIMESTAMP, EARLIEST_LOCAL_TIMESTAMP):
            return KafkaError.NONE
        if timestamp == LATEST_TIMESTAMP or found_offset is None:
            return KafkaError.OFFSET_NOT_AVAILABLE
        if found_offset >= self.high_watermark:
            return KafkaError.OFFSET_NOT_AVAILABLE
        return KafkaError.NONE

    def offsets_for_leader_epoch(
        self, current_leader_epoch: int, leader_epoch: int, log: ReplicaLogView
    ) -> tuple[KafkaError, EpochEndOffset]:
        """The OffsetsForLeaderEpoch answer: the epoch check, then where ``leader_epoch``
        ends in this log (UNDEFINED (-1, -1) when the log knows no epoch <= it)."""
        error = self.check_client_epoch(current_leader_epoch)
        if error is not KafkaError.NONE:
            return error, EpochEndOffset(UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)
        return KafkaError.NONE, log.end_offset_for_epoch(leader_epoch)

    # -- follower fetches -------------------------------------------------------------

    def on_follower_fetch(
        self,
        replica_id: int,
        fetch_offset: int,
        now_ms: int,
        log: ReplicaLogView,
        *,
        current_leader_epoch: int = NO_EPOCH,
        last_fetched_epoch: int = NO_EPOCH,
    ) -> FetchDecision:
        """A fetch from follower ``replica_id`` (see the module docstring for the checks).
        ``log`` is this partition's log, for its epochs and log start."""
        refusal = self._fetch_refusal(replica_id, current_leader_epoch)
        if refusal is not None:
            return FetchDecision(refusal[0], self._update(False, ()), reason=refusal[1])
        if last_fetched_epoch != NO_EPOCH:
            decision = self._divergence(fetch_offset, last_fetched_epoch, log)
            if decision is not None:
                return decision
        if not log.log_start_offset <= fetch_offset <= self.log_end_offset:
            return self._out_of_range(
                f"fetch offset {fetch_offset} is outside [{log.log_start_offset}, "
                f"{self.log_end_offset}]"
            )
        self.followers[replica_id].on_fetch(fetch_offset, self.log_end_offset, now_ms)
        isr_change = self._maybe_expand_isr(replica_id, fetch_offset, now_ms)
        advanced = self._maybe_advance_high_watermark()
        update = self._update(advanced, self._poll(now_ms) if advanced else ())
        return FetchDecision(KafkaError.NONE, update, isr_change=isr_change)

    def _fetch_refusal(
        self, replica_id: int, current_leader_epoch: int
    ) -> tuple[KafkaError, str] | None:
        error = self.check_client_epoch(current_leader_epoch)
        if error is not KafkaError.NONE:
            return error, (
                f"{self.label}: fetch with leader epoch {current_leader_epoch}, "
                f"this leader's is {self.leader_epoch}"
            )
        if replica_id in self.followers:
            return None
        # Kafka: UNKNOWN_LEADER_EPOCH when the request names our epoch (the sender may
        # be a replica we do not know of yet), NOT_LEADER_OR_FOLLOWER otherwise.
        error = (
            KafkaError.NOT_LEADER_OR_FOLLOWER
            if current_leader_epoch == NO_EPOCH
            else KafkaError.UNKNOWN_LEADER_EPOCH
        )
        return error, (
            f"{self.label}: replica fetch from broker {replica_id}, which is not a follower "
            f"(replicas {list(self.replicas)}, leader epoch {self.leader_epoch}, "
            f"partition epoch {self.partition_epoch})"
        )

    def _divergence(
        self, fetch_offset: int, last_fetched_epoch: int, log: ReplicaLogView
    ) -> FetchDecision | None:
        """Kafka's ``validateFetchOffsetAndMaybeGetDivergingEpoch``."""
        end = log.end_offset_for_epoch(last_fetched_epoch)
        if end.leader_epoch == UNDEFINED_EPOCH or end.end_offset == UNDEFINED_EPOCH_OFFSET:
            return self._out_of_range(
                f"cannot tell where the last fetched epoch {last_fetched_epoch} ends"
            )
        if fetch_offset < log.log_start_offset:
            return self._out_of_range(
                f"fetch offset {fetch_offset} is below the log start {log.log_start_offset}"
            )
        if end.leader_epoch < last_fetched_epoch or end.end_offset < fetch_offset:
            return FetchDecision(KafkaError.NONE, self._update(False, ()), diverging_epoch=end)
        return None

    def _out_of_range(self, why: str) -> FetchDecision:
        return FetchDecision(
            KafkaError.OFFSET_OUT_OF_RANGE,
            self._update(False, ()),
            reason=f"{self.label}: {why}",
        )

    # -- leader log events ------------------------------------------------------------

    def on_leader_append(self, log_end_offset: int, now_ms: int) -> LeaderUpdate:
        """The leader appended; its log now ends at ``log_end_offset``."""
        self.log_end_offset = log_end_offset
        return self._advance_and_poll(now_ms)

    def on_leader_flushed(self, flushed_offset: int, now_ms: int) -> LeaderUpdate:
        """Everything below ``flushed_offset`` is on disk (matters under the durable
        flush policy, where it bounds the HW)."""
        self.flushed_offset = max(self.flushed_offset, flushed_offset)
        return self._advance_and_poll(now_ms)

    # -- ISR --------------------------------------------------------------------------

    def maybe_shrink_isr(self, now_ms: int) -> IsrChangeRequest | None:
        """Ask to remove the followers out of sync for longer than
        replica_lag_time_max_ms (call every half of it, as Kafka does). None when all are
        in sync or a change is in flight."""
        if not self.isr_state.may_change(now_ms):
            return None
        lag_ms = self.config.replica_lag_time_max_ms
        out = tuple(
            r
            for r in self.isr
            if r != self.leader_id
            and not self.followers[r].is_caught_up(self.log_end_offset, now_ms, lag_ms)
        )
        if not out:
            return None
        new_isr = tuple(r for r in self.isr if r not in out)
        return self.isr_state.request(self._change(new_isr, IsrChangeKind.SHRINK, out))

    def _maybe_expand_isr(
        self, replica_id: int, follower_end: int, now_ms: int
    ) -> IsrChangeRequest | None:
        """Kafka's ``maybeExpandIsr``: the follower reached the HW and the epoch start."""
        if replica_id in self.isr or not self.isr_state.may_change(now_ms):
            return None
        if follower_end < self.high_watermark or follower_end < self.epoch_start_offset:
            return None
        new_isr = (*self.isr, replica_id)
        return self.isr_state.request(self._change(new_isr, IsrChangeKind.EXPAND, (replica_id,)))

    def _change(
        self, new_isr: tuple[int, ...], kind: IsrChangeKind, changed: tuple[int, ...]
    ) -> IsrChangeRequest:
        return IsrChangeRequest(
            self.topic,
            self.partition,
            self.leader_id,
            self.leader_epoch,
            self.partition_epoch,
            new_isr,
            kind,
            changed,
        )

    def on_isr_change_answer(
        self, change: IsrChangeRequest, error: KafkaError | None, now_ms: int
    ) -> IsrChangeRequest | None:
        """The controller answered ``change`` with ``error`` (None: no answer). Returns the
        request to send again, if any (rules in ``broker.replication.isr``)."""
        return self.isr_state.answer(change, error, now_ms)

    def on_partition_state(
        self, leader_epoch: int, partition_epoch: int, isr: tuple[int, ...], now_ms: int
    ) -> LeaderUpdate:
        """The metadata image shows this partition, still led here in ``leader_epoch``,
        at ``partition_epoch`` with ``isr``: a newer partition epoch is adopted (the
        change in flight is settled), an older or equal one ignored."""
        if leader_epoch != self.leader_epoch:
            raise ValueError(
                f"{self.label}: state of leader epoch {leader_epoch} given to the leader of "
                f"epoch {self.leader_epoch} (a new leadership needs a new LeaderReplicaState)"
            )
        if self.leader_id not in isr:
            raise ValueError(f"{self.label}: ISR {list(isr)} leaves out the leader")
        if not self.isr_state.commit(partition_epoch, isr):
            return self._update(False, ())
        return self._advance_and_poll(now_ms, always_poll=True)

    # -- high watermark and waiters ---------------------------------------------------

    def _maybe_advance_high_watermark(self) -> bool:
        if self.under_min_isr:
            return False
        candidate = self.flushed_offset if self.config.durable else self.log_end_offset
        for replica in self.isr_state.maximal:
            if replica != self.leader_id:
                candidate = min(candidate, self.followers[replica].log_end_offset)
        if candidate <= self.high_watermark:
            return False
        self.high_watermark = candidate
        return True

    def _advance_and_poll(self, now_ms: int, *, always_poll: bool = False) -> LeaderUpdate:
        advanced = self._maybe_advance_high_watermark()
        polled = self._poll(now_ms) if advanced or always_poll else ()
        return self._update(advanced, polled)

    def _update(self, advanced: bool, completed: tuple[WaiterOutcome, ...]) -> LeaderUpdate:
        return LeaderUpdate(self.high_watermark, advanced, completed)

    def _poll(self, now_ms: int) -> tuple[WaiterOutcome, ...]:
        return self.waiters.poll(
            high_watermark=self.high_watermark,
            isr_size=len(self.isr),
            min_insync_replicas=self.config.min_insync_replicas,
            now_ms=now_ms,
        )

    def register_acks_all(
        self, required_offset: int, deadline_ms: int, now_ms: int
    ) -> tuple[int, tuple[WaiterOutcome, ...]]:
        """After an acks=all append whose last offset is ``required_offset`` - 1: a waiter
        id, and the waiters done now (this one included when the HW is already there)."""
        waiter_id = self.waiters.register(required_offset, deadline_ms)
        return waiter_id, self._poll(now_ms)

    def poll_waiters(self, now_ms: int) -> tuple[WaiterOutcome, ...]:
        """Waiters done now (call on a timer for REQUEST_TIMED_OUT)."""
        return self._poll(now_ms)

    def resign(self) -> tuple[WaiterOutcome, ...]:
        """Leadership lost (or the partition stopped): every waiter gets
        NOT_LEADER_OR_FOLLOWER. The state must not be used afterwards."""
        return self.waiters.fail_all(KafkaError.NOT_LEADER_OR_FOLLOWER)
