"""Replica fetchers: the follower side of replication, over the Kafka protocol (Kafka's
``ReplicaFetcherThread``, one per leader broker, as asyncio tasks).

``ReplicaFetcher`` keeps one connection to one leader broker and drives every
``FollowerReplicaState`` this node has for a partition that broker leads
(``ReplicaManager.followed_from``). A round asks each state for its next request
(``next_request``), sends those of each kind as one Kafka request carrying all their
partitions (``broker.protocol.replica_requests``: OffsetsForLeaderEpoch, then
ListOffsets, then Fetch, which long-polls for ``max_wait_ms`` on the leader), hands
each partition's answer, with the request object it answers, to the state
(``on_epoch_response`` / ``on_offsets_response`` / ``on_fetch_response``) and the
actions that returns to ``ReplicaManager.apply_follower_actions`` (which applies them
only while that state still owns the partition, and takes the leader's high
watermark). No answer for a partition, a dropped connection or a timeout:
``on_request_failed``, after which the state backs off (``replica_fetch_backoff_ms``).
With nothing to send, the fetcher sleeps until a state's backoff ends or it is woken.
One request is in flight per connection at a time (bounded memory: at most
``max_bytes`` of records per round). Each Fetch's round trip and the record bytes it
brought go to the node's ``ReplicationStats`` (the follower side of the replication
metrics).

``ReplicaFetcherManager`` owns the fetchers: after every metadata image
(``on_image``, an image listener of the cluster node, called after the replica manager
moved its replicas) it starts one for each broker this node follows a partition from,
at the Kafka address that broker registered, retires those no longer needed (or whose
leader moved to another address) and wakes the rest, whose states may be new.

Event-loop thread only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from broker.cluster.partition import Partition
from broker.cluster.replica_manager import ReplicaManager
from broker.metadata.delta import MetadataDelta
from broker.metadata.image import MetadataImage
from broker.metrics.stats import ReplicationStats
from broker.network.broker_client import BrokerConnection, BrokerConnectionError
from broker.protocol.replica_requests import (
    EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP,
    PartitionKey,
    ReplicaFetchLimits,
    epoch_answers,
    epoch_request,
    fetch_answers,
    fetch_request,
    offsets_answers,
    offsets_request,
)
from broker.replication import (
    EpochRequest,
    FetchRequest,
    FollowerAction,
    FollowerReplicaState,
    FollowerRequest,
    LeaderOffsetsRequest,
)
from contracts.clock import Clock
from contracts.fields import HostPort

__all__ = ["FetcherSettings", "ReplicaFetcher", "ReplicaFetcherManager"]

log = logging.getLogger(__name__)

R = TypeVar("R", bound=FollowerRequest)
IDLE_CHECK_MS = 1_000  # a fetcher with nothing due looks again this often, woken or not


@dataclass(frozen=True, slots=True)
class FetcherSettings:
    node_id: int
    limits: ReplicaFetchLimits
    backoff_ms: int = 1_000
    request_timeout_ms: int = 30_000  # beyond the long poll (Kafka's replica.socket.timeout.ms)
    connect_timeout_ms: int = 10_000


@dataclass(frozen=True, slots=True)
class _Sent:
    """A request of one partition's state, sent (or about to be) in this round."""

    partition: Partition
    state: FollowerReplicaState
    request: FollowerRequest

    @property
    def key(self) -> PartitionKey:
        return self.partition.key


class ReplicaFetcher:
    """See the module docstring. ``start`` once; ``stop`` ends it for good."""

    def __init__(
        self,
        leader_id: int,
        address: HostPort,
        replicas: ReplicaManager,
        settings: FetcherSettings,
        clock: Clock,
        stats: ReplicationStats | None = None,
    ) -> None:
        """``stats``: where fetch round trips and fetched bytes are counted."""
        self.leader_id = leader_id
        self.stats = stats
        self.address = address
        self.replicas = replicas
        self.settings = settings
        self.clock = clock
        self.rounds = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._connection: BrokerConnection | None = None
        self._in_flight: list[_Sent] = []
        self._failing = False
        self._stopping = False

    @property
    def label(self) -> str:
        return f"replica fetcher for leader {self.leader_id} at {self.address}"

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.label)
        return self._task

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        """End the loop and wait for it. Besides cancelling, the loop is told to stop
        and its connection closed: Python 3.11's ``wait_for`` can swallow a
        cancellation that races with the awaited result."""
        self._stopping = True
        self._wake.set()
        if self._connection is not None:
            self._connection.close()
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    # -- the loop ------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while not self._stopping:
                try:
                    exchanged = await self._round()
                    if exchanged and self._failing:
                        log.info("%s: replicating again", self.label)
                        self._failing = False
                except BrokerConnectionError as exc:
                    self._fail_in_flight()
                    if self._stopping:
                        break
                    self._log_failure(exc)
                    await self._sleep(self.settings.backoff_ms)
        finally:
            self._fail_in_flight()
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _log_failure(self, exc: BrokerConnectionError) -> None:
        level = logging.DEBUG if self._failing else logging.WARNING
        log.log(level, "%s: %s; retrying in %d ms", self.label, exc, self.settings.backoff_ms)
        self._failing = True

    async def _sleep(self, ms: int) -> None:
        """Until ``ms`` pass or the fetcher is woken."""
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), max(ms, 0) / 1000)
        except TimeoutError:
            pass

    def _fail_in_flight(self) -> None:
        now = self.clock.time_ms()
        for sent in self._in_flight:
            sent.state.on_request_failed(sent.request, now)
        self._in_flight = []

    async def _round(self) -> bool:
        """One round of requests; False when there was nothing to send (it slept)."""
        now = self.clock.time_ms()
        self._wake.clear()
        batch = self._collect(now)
        if not batch:
            await self._sleep(self._idle_ms(now))
            return False
        self._in_flight = batch
        connection = await self._open()
        await self._send_epochs(connection, _of_kind(batch, EpochRequest))
        await self._send_offsets(connection, _of_kind(batch, LeaderOffsetsRequest))
        await self._send_fetch(connection, _of_kind(batch, FetchRequest))
        self._in_flight = []
        self.rounds += 1
        return True

    def _collect(self, now: int) -> list[_Sent]:
        batch = []
        for partition in self.replicas.followed_from(self.leader_id):
            state = partition.follower
            if state is None:
                continue
            request = state.next_request(partition.log, now)
            if request is not None:
                batch.append(_Sent(partition, state, request))
        return batch

    def _idle_ms(self, now: int) -> int:
        due = [
            ready
            for p in self.replicas.followed_from(self.leader_id)
            if p.follower is not None and (ready := p.follower.ready_at_ms) is not None
        ]
        return min([IDLE_CHECK_MS, *(ready - now for ready in due)])

    async def _open(self) -> BrokerConnection:
        connection = self._connection
        if connection is None or connection.closed:
            connection = await BrokerConnection.open(
                self.address,
                f"tidewatch-replica-fetcher-{self.settings.node_id}",
                self.settings.connect_timeout_ms / 1000,
            )
            self._connection = connection
        return connection

    def _timeout_s(self, long_poll_ms: int = 0) -> float:
        return (long_poll_ms + self.settings.request_timeout_ms) / 1000

    # -- each kind of request ------------------------------------------------------

    async def _send_epochs(
        self, connection: BrokerConnection, sent: Sequence[tuple[_Sent, EpochRequest]]
    ) -> None:
        if not sent:
            return
        node = self.settings.node_id
        request = epoch_request(node, [(s.key, r) for s, r in sent])
        answers = epoch_answers(await connection.send(request, self._timeout_s()))
        now = self.clock.time_ms()
        for s, r in sent:
            answer = answers.get(s.key)
            if answer is None:
                s.state.on_request_failed(r, now)
                continue
            error, end = answer
            actions = s.state.on_epoch_response(r, error, end, s.partition.log, now)
            self._apply(s, actions)

    async def _send_offsets(
        self, connection: BrokerConnection, sent: Sequence[tuple[_Sent, LeaderOffsetsRequest]]
    ) -> None:
        if not sent:
            return
        node = self.settings.node_id
        wanted = [(s.key, r) for s, r in sent]
        timeout_s = self._timeout_s()
        starts = offsets_answers(
            await connection.send(offsets_request(node, wanted, EARLIEST_TIMESTAMP), timeout_s)
        )
        ends = offsets_answers(
            await connection.send(offsets_request(node, wanted, LATEST_TIMESTAMP), timeout_s)
        )
        now = self.clock.time_ms()
        for s, r in sent:
            start, end = starts.get(s.key), ends.get(s.key)
            if start is None or end is None:
                s.state.on_request_failed(r, now)
                continue
            error = start[0] if start[0] else end[0]
            log_ = s.partition.log
            self._apply(s, s.state.on_offsets_response(r, error, start[1], end[1], log_, now))

    async def _send_fetch(
        self, connection: BrokerConnection, sent: Sequence[tuple[_Sent, FetchRequest]]
    ) -> None:
        if not sent:
            return
        limits = self.settings.limits
        request = fetch_request(self.settings.node_id, [(s.key, r) for s, r in sent], limits)
        started = time.perf_counter()
        response = await connection.send(request, self._timeout_s(limits.max_wait_ms))
        answers = fetch_answers(response)
        stats = self.stats
        if stats is not None:
            stats.follower_fetch.observe(time.perf_counter() - started)
            stats.bytes_in += sum(len(answer.records) for answer in answers.values())
        now = self.clock.time_ms()
        for s, r in sent:
            answer = answers.get(s.key)
            if answer is None:
                s.state.on_request_failed(r, now)
                continue
            self._apply(s, s.state.on_fetch_response(r, answer, s.partition.log, now))

    def _apply(self, sent: _Sent, actions: tuple[FollowerAction, ...]) -> None:
        self.replicas.apply_follower_actions(sent.partition, sent.state, actions)


def _of_kind(batch: Sequence[_Sent], kind: type[R]) -> list[tuple[_Sent, R]]:
    return [(s, s.request) for s in batch if isinstance(s.request, kind)]


class ReplicaFetcherManager:
    """One ``ReplicaFetcher`` per leader broker this node follows from (see the module
    docstring)."""

    def __init__(
        self,
        replicas: ReplicaManager,
        settings: FetcherSettings,
        clock: Clock,
        stats: ReplicationStats | None = None,
    ) -> None:
        self.replicas = replicas
        self.settings = settings
        self.clock = clock
        self.stats = stats
        self.fetchers: dict[int, ReplicaFetcher] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._closed = False

    def on_image(self, image: MetadataImage, _delta: MetadataDelta | None = None) -> None:
        """Start, retarget, retire and wake fetchers for what this node follows now."""
        if self._closed:
            return
        wanted: dict[int, HostPort] = {}
        for leader_id in sorted(self.replicas.followed_leaders()):
            address = _kafka_address(image, leader_id)
            if address is None:
                log.warning("no Kafka listener registered for leader %d; not fetching", leader_id)
            elif leader_id != self.settings.node_id:
                wanted[leader_id] = address
        for leader_id, fetcher in list(self.fetchers.items()):
            if wanted.get(leader_id) != fetcher.address:
                del self.fetchers[leader_id]
                self._retire(fetcher)
        for leader_id, address in wanted.items():
            if leader_id not in self.fetchers:
                started = ReplicaFetcher(
                    leader_id, address, self.replicas, self.settings, self.clock, self.stats
                )
                self.fetchers[leader_id] = started
                started.start()
                log.info("started the %s", started.label)
            self.fetchers[leader_id].wake()

    def _retire(self, fetcher: ReplicaFetcher) -> None:
        log.info("stopping the %s", fetcher.label)
        task = asyncio.get_running_loop().create_task(fetcher.stop())
        self._retiring.add(task)
        task.add_done_callback(self._retired)

    def _retired(self, task: asyncio.Task[None]) -> None:
        # Its requests in flight were failed: states it shared with a new fetcher (same
        # leader, new address) may send again.
        self._retiring.discard(task)
        for fetcher in self.fetchers.values():
            fetcher.wake()

    async def close(self) -> None:
        self._closed = True
        fetchers = list(self.fetchers.values())
        self.fetchers.clear()
        await asyncio.gather(*(f.stop() for f in fetchers), *self._retiring)


def _kafka_address(image: MetadataImage, node_id: int) -> HostPort | None:
    broker = image.broker(node_id)
    if broker is None or not broker.listeners:
        return None
    listener: Any = next(
        (listener for listener in broker.listeners if listener.name == "PLAINTEXT"),
        broker.listeners[0],
    )
    return HostPort(listener.host, listener.port)
