"""``FollowerReplicaState``: one partition followed by this node (Kafka's fetcher state
for one partition), as a sans-I/O state machine.

Phases:

- TRUNCATING: before fetching from a new leader (or after a restart) the follower asks
  the leader, with OffsetsForLeaderEpoch, where its latest epoch ends there, and
  truncates to the decision of ``broker.replication.truncation`` (several rounds when
  the leader answers with an epoch the follower never had). An empty epoch cache asks
  about epoch -1, which the leader answers as unknown: truncate to the high watermark.
  With ``truncate_on_fetch`` (Kafka since 2.7) a follower whose log has an epoch skips
  this phase: the leader checks its last fetched epoch and answers with the diverging
  epoch, from which it truncates as above.
- FETCHING: Fetch from the log end offset, with the latest epoch as the last fetched
  epoch and the current leader epoch. A response appends the leader's bytes unchanged,
  follows the leader's log start and takes its high watermark (the follower's HW is
  min(leader HW, own log end)). A diverging epoch in the response truncates as above.
  Records starting below the fetch offset (the leader's batch holding it starts
  earlier) mean the batches just below our log end are not the leader's: with an empty
  log (its start inside that batch, after the leader's DeleteRecords) the log restarts
  at the batch's base and appends it, as Kafka does; otherwise we truncate to that base
  and fetch again, without adopting the HW (only a log that is a prefix of the
  leader's may claim it).
- RESOLVING_OFFSET: after OFFSET_OUT_OF_RANGE, the follower asks the leader for its log
  start and end (ListOffsets earliest and latest, as a replica), then truncates to the
  leader's end when its own log is longer (only after an unclean election), or empties
  its log and restarts it at the leader's log start when its end is below it (Kafka's
  ``fetchOffsetAndTruncate``). A fetch error that carries the leader's log start above
  our log end does the latter at once.
- STOPPED: no leader (offline partition), or the leader said FENCED_LEADER_EPOCH (our
  metadata is stale); the metadata update that follows starts a new state.

Errors that time or metadata on the leader's side resolve (NOT_LEADER_OR_FOLLOWER,
UNKNOWN_LEADER_EPOCH, storage errors, no answer) retry after ``fetch_backoff_ms``:
the leader may simply not have applied the metadata that made it leader yet.

Driving it (the I/O edge): ``next_request(log, now_ms)`` gives the request to send (None
while one is in flight, backing off or stopped); send it and pass the answer to the
matching ``on_*_response`` with that same request object (or ``on_request_failed``),
which returns actions; execute them in order against the log
(``broker.replication.log_actions``) before asking for the next request. At most one
request is in flight; answers to any other request object (a previous leadership, a
timed-out one) are ignored and return no actions.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from broker.error_codes import KafkaError
from broker.records.batch import LOG_OVERHEAD, read_prefix
from broker.replication.log_view import NO_EPOCH, ReplicaLogView
from broker.replication.truncation import truncation_for
from broker.storage.epoch_cache import EpochEndOffset

__all__ = [
    "AdvanceLogStart",
    "AppendReplicated",
    "EpochRequest",
    "FetchRequest",
    "FetchResponse",
    "FollowerAction",
    "FollowerPhase",
    "FollowerReplicaState",
    "FollowerRequest",
    "LeaderOffsetsRequest",
    "TruncateFullyAndStartAt",
    "TruncateTo",
]


class FollowerPhase(enum.Enum):
    TRUNCATING = "truncating"
    FETCHING = "fetching"
    RESOLVING_OFFSET = "resolving-offset"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class EpochRequest:
    """OffsetsForLeaderEpoch for ``leader_epoch`` (replica id = this node)."""

    request_id: int
    leader_id: int
    current_leader_epoch: int
    leader_epoch: int


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """A replica Fetch of this partition (replica id = this node)."""

    request_id: int
    leader_id: int
    current_leader_epoch: int
    fetch_offset: int
    last_fetched_epoch: int
    log_start_offset: int


@dataclass(frozen=True, slots=True)
class LeaderOffsetsRequest:
    """ListOffsets as a replica: the leader's log start (earliest) and end (latest)."""

    request_id: int
    leader_id: int
    current_leader_epoch: int


FollowerRequest = EpochRequest | FetchRequest | LeaderOffsetsRequest


@dataclass(frozen=True, slots=True)
class FetchResponse:
    """The leader's answer for this partition. -1 marks a field the leader left out."""

    error: KafkaError
    high_watermark: int = -1
    log_start_offset: int = -1
    records: bytes | memoryview = b""
    diverging_epoch: EpochEndOffset | None = None


@dataclass(frozen=True, slots=True)
class TruncateTo:
    """``Log.truncate_to(offset)``; below the log start, ``truncate_fully_and_start_at``.
    At or above the log end no data goes, but an epoch entry starting at the log end
    does (one this node assigned as a leader that never appended)."""

    offset: int


@dataclass(frozen=True, slots=True)
class TruncateFullyAndStartAt:
    offset: int


@dataclass(frozen=True, slots=True)
class AppendReplicated:
    """``Log.append_replicated(records)``: the leader's batches, stored unchanged."""

    records: bytes | memoryview


@dataclass(frozen=True, slots=True)
class AdvanceLogStart:
    """``Log.advance_log_start(min(offset, log end))`` when above the log start."""

    offset: int


FollowerAction = TruncateTo | TruncateFullyAndStartAt | AppendReplicated | AdvanceLogStart
_NO_ACTIONS: tuple[FollowerAction, ...] = ()


class FollowerReplicaState:
    """See the module docstring. One per partition and leadership followed here."""

    def __init__(
        self,
        topic: str,
        partition: int,
        *,
        leader_id: int,
        leader_epoch: int,
        high_watermark: int,
        fetch_backoff_ms: int = 1000,
        truncate_on_fetch: bool = False,
    ) -> None:
        """``leader_id`` -1: the partition is offline (STOPPED). ``high_watermark``: the
        checkpointed (or previous) HW, used until the leader tells its own.
        ``truncate_on_fetch``: skip OffsetsForLeaderEpoch when the log has an epoch and
        rely on the leader's diverging epoch in fetch responses (Kafka since 2.7)."""
        self.topic = topic
        self.partition = partition
        self.leader_id = leader_id
        self.leader_epoch = leader_epoch
        self.fetch_backoff_ms = fetch_backoff_ms
        self.truncate_on_fetch = truncate_on_fetch
        self.leader_high_watermark = high_watermark
        self.phase = FollowerPhase.TRUNCATING if leader_id >= 0 else FollowerPhase.STOPPED
        self.stop_reason: str | None = None if leader_id >= 0 else "the partition has no leader"
        self.in_flight: FollowerRequest | None = None
        self._next_request_id = 0
        self._retry_at_ms = 0

    def high_watermark(self, log: ReplicaLogView) -> int:
        """min(leader's HW, own log end), not below the log start."""
        return max(log.log_start_offset, min(self.leader_high_watermark, log.log_end_offset))

    @property
    def ready_at_ms(self) -> int | None:
        """From when ``next_request`` gives a request (past times: now); None while one
        is in flight or the state is stopped (only an answer or new metadata moves it)."""
        if self.in_flight is not None or self.phase is FollowerPhase.STOPPED:
            return None
        return self._retry_at_ms

    # -- requests ---------------------------------------------------------------------

    def next_request(self, log: ReplicaLogView, now_ms: int) -> FollowerRequest | None:
        """The request to send now, marked in flight; None while one is in flight,
        within a backoff, or stopped."""
        if self.in_flight is not None or now_ms < self._retry_at_ms:
            return None
        request_id = self._next_request_id
        request: FollowerRequest
        if self._skips_truncation(log):
            self.phase = FollowerPhase.FETCHING
        if self.phase is FollowerPhase.TRUNCATING:
            latest = log.epoch_cache.latest_epoch
            request = EpochRequest(request_id, self.leader_id, self.leader_epoch, latest)
        elif self.phase is FollowerPhase.FETCHING:
            request = FetchRequest(
                request_id,
                self.leader_id,
                self.leader_epoch,
                log.log_end_offset,
                log.epoch_cache.latest_epoch,
                log.log_start_offset,
            )
        elif self.phase is FollowerPhase.RESOLVING_OFFSET:
            request = LeaderOffsetsRequest(request_id, self.leader_id, self.leader_epoch)
        else:
            return None
        self._next_request_id += 1
        self.in_flight = request
        return request

    def _skips_truncation(self, log: ReplicaLogView) -> bool:
        return (
            self.truncate_on_fetch
            and self.phase is FollowerPhase.TRUNCATING
            and log.epoch_cache.latest_epoch != NO_EPOCH
        )

    def on_request_failed(self, request: FollowerRequest, now_ms: int) -> None:
        """No answer (timeout, connection lost): retry after the backoff."""
        if self._settle(request):
            self._back_off(now_ms)

    def _settle(self, request: FollowerRequest) -> bool:
        """True (and nothing in flight any more) when ``request`` is the one in flight."""
        if self.in_flight is None or self.in_flight is not request:
            return False
        self.in_flight = None
        return True

    def _back_off(self, now_ms: int) -> None:
        self._retry_at_ms = now_ms + self.fetch_backoff_ms

    def _on_error(self, error: KafkaError, now_ms: int) -> tuple[FollowerAction, ...]:
        if error is KafkaError.FENCED_LEADER_EPOCH:
            self.phase = FollowerPhase.STOPPED
            self.stop_reason = f"leader {self.leader_id} fenced leader epoch {self.leader_epoch}"
        else:
            self._back_off(now_ms)
        return _NO_ACTIONS

    # -- answers ----------------------------------------------------------------------

    def on_epoch_response(
        self,
        request: EpochRequest,
        error: KafkaError,
        end: EpochEndOffset,
        log: ReplicaLogView,
        now_ms: int,
    ) -> tuple[FollowerAction, ...]:
        """The OffsetsForLeaderEpoch answer: truncate, then fetch (or ask again)."""
        if not self._settle(request):
            return _NO_ACTIONS
        if error is not KafkaError.NONE:
            return self._on_error(error, now_ms)
        return self._truncate(end, log)

    def _truncate(self, end: EpochEndOffset, log: ReplicaLogView) -> tuple[FollowerAction, ...]:
        decision = truncation_for(end, log, self.high_watermark(log))
        done = decision.completed or self.truncate_on_fetch  # the next fetch asks again
        self.phase = FollowerPhase.FETCHING if done else FollowerPhase.TRUNCATING
        # Even at the log end: the truncation drops an epoch entry starting there.
        return (TruncateTo(decision.offset),)

    def on_fetch_response(
        self, request: FetchRequest, response: FetchResponse, log: ReplicaLogView, now_ms: int
    ) -> tuple[FollowerAction, ...]:
        """A Fetch answer for this partition (see the module docstring)."""
        if not self._settle(request):
            return _NO_ACTIONS
        if response.error is KafkaError.OFFSET_OUT_OF_RANGE:
            return self._out_of_range(response.log_start_offset, log)
        if response.error is not KafkaError.NONE:
            return self._on_error(response.error, now_ms)
        if response.diverging_epoch is not None:
            return self._truncate(response.diverging_epoch, log)
        actions = _records_actions(request.fetch_offset, response, log)
        if actions is None:
            return (TruncateTo(read_prefix(response.records)[0]),)
        if response.high_watermark >= 0:
            self.leader_high_watermark = response.high_watermark
        return actions

    def _out_of_range(
        self, leader_log_start: int, log: ReplicaLogView
    ) -> tuple[FollowerAction, ...]:
        if leader_log_start > log.log_end_offset:
            return (TruncateFullyAndStartAt(leader_log_start),)
        self.phase = FollowerPhase.RESOLVING_OFFSET
        return _NO_ACTIONS

    def on_offsets_response(
        self,
        request: LeaderOffsetsRequest,
        error: KafkaError,
        leader_log_start: int,
        leader_log_end: int,
        log: ReplicaLogView,
        now_ms: int,
    ) -> tuple[FollowerAction, ...]:
        """The leader's log start and end after OFFSET_OUT_OF_RANGE: truncate to its end
        when ours is longer, restart at its start when ours ends below it, then fetch."""
        if not self._settle(request):
            return _NO_ACTIONS
        if error is not KafkaError.NONE:
            return self._on_error(error, now_ms)
        self.phase = FollowerPhase.FETCHING
        if leader_log_end < log.log_end_offset:
            return (TruncateTo(leader_log_end),)
        if leader_log_start > log.log_end_offset:
            return (TruncateFullyAndStartAt(leader_log_start),)
        return _NO_ACTIONS


def _records_actions(
    fetch_offset: int, response: FetchResponse, log: ReplicaLogView
) -> tuple[FollowerAction, ...] | None:
    """Append the records and follow the log start; None when the leader's first batch
    starts below the fetch offset in a non-empty log (our batches there are not the
    leader's: truncate to its base). An empty log restarts at that base first."""
    records = response.records
    actions: list[FollowerAction] = []
    log_start = log.log_start_offset
    first_base = read_prefix(records)[0] if len(records) >= LOG_OVERHEAD else fetch_offset
    if first_base < fetch_offset:
        if log.log_end_offset != log_start:
            return None
        actions.append(TruncateFullyAndStartAt(first_base))
        log_start = first_base
    if len(records):
        actions.append(AppendReplicated(records))
    if response.log_start_offset > log_start:
        actions.append(AdvanceLogStart(response.log_start_offset))
    return tuple(actions)
