"""One simulated broker holding one replica of the partition: a real Log on disk, the
replication core, and the I/O edge between them written the way the broker must write
it (see ``broker.replication``'s docstring). Network and controller live in
``tests.broker.replication.simulation``; this module never sees them.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from broker.error_codes import KafkaError
from broker.metadata.delta import delta
from broker.metadata.image import MetadataImage
from broker.records.batch import CorruptBatchError, check_batch
from broker.records.record import Record, build_batch
from broker.replication import (
    EpochRequest,
    FetchRequest,
    FetchResponse,
    FollowerAction,
    FollowerReplicaState,
    IsrChangeRequest,
    LeaderConfig,
    LeaderOffsetsRequest,
    LeaderReplicaState,
    LocalReplicas,
    WaiterOutcome,
    plan_role_changes,
)
from broker.replication.log_actions import apply_follower_actions, apply_role_actions
from broker.replication.log_view import check_leader_epoch
from broker.storage.epoch_cache import UNDEFINED_EPOCH_END_OFFSET, EpochEndOffset
from broker.storage.errors import StorageError
from broker.storage.log_config import LogConfig
from tests.broker.replication.sim_log import LogMirror, ObservedLog, lose_unflushed_tail

TOPIC = "sim"
KEY = (TOPIC, 0)


@dataclass(frozen=True, slots=True)
class NodeSettings:
    log_config: LogConfig
    leader_config: LeaderConfig
    fetch_backoff_ms: int
    produce_timeout_ms: int
    truncate_on_fetch: bool = False
    leader_class: type[LeaderReplicaState] = LeaderReplicaState
    follower_class: type[FollowerReplicaState] = FollowerReplicaState


@dataclass(frozen=True, slots=True)
class Acked:
    """An acks=all produce answered NONE: the batch as the leader stored it."""

    node_id: int
    leader_epoch: int
    base_offset: int
    data: bytes
    isr_size: int


@dataclass(slots=True)
class SimNode:
    node_id: int
    directory: Path
    settings: NodeSettings
    cluster_id: str
    up: bool = False
    paused: bool = False
    generation: int = 0
    broker_epoch: int | None = None
    log: ObservedLog | None = None
    mirror: LogMirror = field(default_factory=LogMirror)
    replicas: LocalReplicas | None = None
    image: MetadataImage | None = None
    hw_checkpoint: int = 0
    waiting: dict[int, tuple[int, int]] = field(default_factory=dict)
    inbox: list[Callable[[], None]] = field(default_factory=list)

    # -- process lifecycle ------------------------------------------------------------

    def start(self, now_ms: int) -> None:
        self.log = ObservedLog.open_observed(self.directory, self.settings.log_config, now_ms)
        self.mirror.reset()
        self.replicas = LocalReplicas(
            self.node_id,
            fetch_backoff_ms=self.settings.fetch_backoff_ms,
            truncate_on_fetch=self.settings.truncate_on_fetch,
            leader_class=self.settings.leader_class,
            follower_class=self.settings.follower_class,
        )
        self.image = MetadataImage.empty(self.cluster_id)
        self.up, self.paused = True, False
        self.generation += 1
        self.broker_epoch = None
        self.waiting = {}

    def crash(self, lose_unflushed: bool, rng: random.Random) -> int:
        """Stop the process; with ``lose_unflushed``, the machine lost power too.
        Returns the bytes lost."""
        log = self.the_log
        durable = log.flushed_offset
        log.close()
        lost = lose_unflushed_tail(self.directory, durable, rng) if lose_unflushed else 0
        self.up, self.paused = False, False
        self.log, self.replicas, self.image = None, None, None
        self.waiting, self.inbox = {}, []
        return lost

    @property
    def the_log(self) -> ObservedLog:
        assert self.log is not None, f"node {self.node_id} is down"
        return self.log

    @property
    def local(self) -> LocalReplicas:
        assert self.replicas is not None, f"node {self.node_id} is down"
        return self.replicas

    def leader(self) -> LeaderReplicaState | None:
        return None if self.replicas is None else self.replicas.leader(KEY)

    def follower(self) -> FollowerReplicaState | None:
        return None if self.replicas is None else self.replicas.follower(KEY)

    def high_watermark(self) -> int:
        log = self.the_log
        hw = self.local.high_watermark(KEY, log)
        return min(self.hw_checkpoint, log.log_end_offset) if hw is None else hw

    # -- metadata ---------------------------------------------------------------------

    def apply_metadata(self, latest: MetadataImage, now_ms: int) -> list[Acked]:
        assert self.image is not None
        changes = delta(self.image, latest, self.node_id)
        acked: list[Acked] = []
        for transition in plan_role_changes(changes, self.local.led_epochs()):
            outcome = self.local.apply(
                transition, self.the_log, now_ms, self.settings.leader_config, self.hw_checkpoint
            )
            apply_role_actions(self.the_log, outcome.log_actions)
            acked += self.settle(outcome.completed)
        self.image = latest
        return acked

    # -- leader side ------------------------------------------------------------------

    def produce(self, values: list[bytes], now_ms: int) -> tuple[KafkaError, list[Acked]]:
        """An acks=all produce of one batch; its own answer may come later (see
        ``settle``). Returns the refusal, if any, and the producers answered now."""
        leader = self.leader()
        if leader is None:
            return KafkaError.NOT_LEADER_OR_FOLLOWER, []
        refusal = leader.can_accept_acks_all()
        if refusal is not KafkaError.NONE:
            return refusal, []
        raw = build_batch([Record(v, key=b"k", timestamp_ms=now_ms) for v in values])
        log = self.the_log
        info = log.append(raw, check_batch(raw), leader.leader_epoch)
        update = leader.on_leader_append(log.log_end_offset, now_ms)
        waiter_id, completed = leader.register_acks_all(
            info.last_offset + 1, now_ms + self.settings.produce_timeout_ms, now_ms
        )
        self.waiting[waiter_id] = (info.base_offset, leader.leader_epoch)
        return KafkaError.NONE, self.settle(update.completed + completed)

    def settle(self, outcomes: tuple[WaiterOutcome, ...]) -> list[Acked]:
        """Answer finished produce requests; the successful ones, for the checker."""
        acked: list[Acked] = []
        leader = self.leader()
        for outcome in outcomes:
            base_offset, epoch = self.waiting.pop(outcome.waiter_id)
            if outcome.error is not KafkaError.NONE:
                continue
            assert leader is not None
            self.mirror.sync(self.the_log)
            data = self.mirror.by_base[base_offset]
            acked.append(Acked(self.node_id, epoch, base_offset, data, len(leader.isr)))
        return acked

    def serve_fetch(
        self, follower_id: int, request: FetchRequest, now_ms: int, max_bytes: int
    ) -> tuple[FetchResponse, IsrChangeRequest | None, list[Acked]]:
        leader = self.leader()
        if leader is None:
            return FetchResponse(self._not_leader(request.current_leader_epoch)), None, []
        log = self.the_log
        decision = leader.on_follower_fetch(
            follower_id,
            request.fetch_offset,
            now_ms,
            log,
            current_leader_epoch=request.current_leader_epoch,
            last_fetched_epoch=request.last_fetched_epoch,
        )
        acked = self.settle(decision.update.completed)
        if decision.error is not KafkaError.NONE:
            return FetchResponse(decision.error), decision.isr_change, acked
        hw, start = decision.update.high_watermark, log.log_start_offset
        if decision.diverging_epoch is not None:
            response = FetchResponse(KafkaError.NONE, hw, start, b"", decision.diverging_epoch)
            return response, decision.isr_change, acked
        records = b""
        if request.fetch_offset < log.log_end_offset:
            records = bytes(log.read_replica(request.fetch_offset, max_bytes).data)
        return FetchResponse(KafkaError.NONE, hw, start, records), decision.isr_change, acked

    def _not_leader(self, requested_epoch: int) -> KafkaError:
        follower = self.follower()
        if follower is not None:
            error = check_leader_epoch(requested_epoch, follower.leader_epoch)
            if error is not KafkaError.NONE:
                return error
        return KafkaError.NOT_LEADER_OR_FOLLOWER

    def serve_epoch(self, request: EpochRequest) -> tuple[KafkaError, EpochEndOffset]:
        leader = self.leader()
        if leader is None:
            return self._not_leader(request.current_leader_epoch), UNDEFINED_EPOCH_END_OFFSET
        return leader.offsets_for_leader_epoch(
            request.current_leader_epoch, request.leader_epoch, self.the_log
        )

    def serve_offsets(self, request: LeaderOffsetsRequest) -> tuple[KafkaError, int, int]:
        leader = self.leader()
        if leader is None:
            return self._not_leader(request.current_leader_epoch), -1, -1
        error = leader.check_client_epoch(request.current_leader_epoch)
        log = self.the_log
        return error, log.log_start_offset, log.log_end_offset

    def leader_timers(self, now_ms: int) -> tuple[IsrChangeRequest | None, list[Acked]]:
        leader = self.leader()
        if leader is None:
            return None, []
        return leader.maybe_shrink_isr(now_ms), self.settle(leader.poll_waiters(now_ms))

    def flush(self, now_ms: int) -> list[Acked]:
        log = self.the_log
        log.flush()
        leader = self.leader()
        if leader is None:
            return []
        return self.settle(leader.on_leader_flushed(log.flushed_offset, now_ms).completed)

    def checkpoint_high_watermark(self) -> None:
        hw = self.local.high_watermark(KEY, self.the_log)
        if hw is not None:
            self.hw_checkpoint = hw

    # -- follower side ----------------------------------------------------------------

    def execute(self, actions: tuple[FollowerAction, ...]) -> str | None:
        """Run follower actions on the log; a storage refusal is returned, not raised
        (the follower fetches again from its log end)."""
        try:
            apply_follower_actions(self.the_log, actions)
        except (StorageError, CorruptBatchError) as exc:
            return str(exc)
        return None
