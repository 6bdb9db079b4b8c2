"""MetadataLog: this node's replica of the cluster's metadata log, driven over Raft.

The I/O edge of ``broker.quorum``: it owns the ``RaftNode`` and its ``RaftStorage``
(``<data_dir>/__cluster_metadata``), ticks it on a fixed cadence, feeds it the Raft
messages the transport delivers, and drains its ``Ready`` batches exactly as the
contract says (persist durably, then send, then apply, then advance). Applying a
committed entry means decoding its metadata records (``broker.metadata.batch``) and
folding them into the ``MetadataImage`` with the image builder: a refused record is
logged and skipped, the same on every node. Listeners get every new image; proposals
(``propose``) resolve when their entry commits, or fail when leadership moved on.

The image is snapshotted into Raft every ``snapshot_every_entries`` applied entries, so
the log stays short and a restart replays a snapshot plus a tail. After a restart the
committed tail is only re-applied once the node re-learns the commit index from a
leader (Raft does not persist it): until then the image is the snapshot's.

A node that is the only voter needs no election round trip: ``start`` runs its logical
clock through one election timeout at once, so a single broker serves in milliseconds.
Event-loop thread only; the fsyncs happen on it (the metadata log is small).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from broker.cluster.periodic import cancel_and_wait
from broker.metadata.batch import decode_record_batch, encode_record_batch
from broker.metadata.errors import MetadataRecordError
from broker.metadata.image import MetadataImage
from broker.metadata.image_builder import ImageBuilder
from broker.metadata.records import MetadataRecord
from broker.quorum import (
    Entry,
    Message,
    NodeStatus,
    NotLeader,
    ProposeAccepted,
    RaftConfig,
    RaftNode,
    Ready,
    Role,
)
from broker.quorum.storage import RaftStorage

__all__ = ["MetadataLog", "MetadataLogStats", "NotController"]

log = logging.getLogger(__name__)

ImageListener = Callable[[MetadataImage], None]
StatusListener = Callable[[NodeStatus], None]


class NotController(Exception):
    """This node cannot write to the metadata log (it is not the Raft leader, or lost
    leadership before the entry committed). ``leader_hint``: where to retry."""

    def __init__(self, leader_hint: int | None, reason: str) -> None:
        super().__init__(reason)
        self.leader_hint = leader_hint


@dataclass
class MetadataLogStats:
    """Counters for metrics and the status page."""

    applied_entries: int = 0
    refused_records: int = 0
    snapshots: int = 0
    elections_won: int = 0


class MetadataLog:
    def __init__(
        self,
        config: RaftConfig,
        directory: Path,
        cluster_id: str,
        send: Callable[[Message], None],
        *,
        tick_ms: int = 100,
        snapshot_every_entries: int = 1000,
        seed: int | None = None,
    ) -> None:
        self.config = config
        self.directory = directory
        self.send = send
        self.tick_ms = tick_ms
        self.snapshot_every_entries = snapshot_every_entries
        self.image = MetadataImage.empty(cluster_id)
        self.status = NodeStatus(0, None, Role.OBSERVER if not config.is_voter else Role.FOLLOWER)
        self.stats = MetadataLogStats()
        self.image_listeners: list[ImageListener] = []
        self.status_listeners: list[StatusListener] = []
        # The term whose own entry this leader has seen committed: from then on its
        # image holds every committed entry (what the controller needs to start).
        self.caught_up_term = -1
        self._rng = random.Random(seed)
        self._storage: RaftStorage | None = None
        self._node: RaftNode | None = None
        self._pending: dict[int, tuple[int, asyncio.Future[int]]] = {}
        self._since_snapshot = 0
        self._ticker: asyncio.Task[None] | None = None
        self._drain_scheduled = False

    # -- lifecycle -----------------------------------------------------------------

    def open(self) -> None:
        """Open the store and rebuild the node and image from what it holds (blocking:
        call before the event loop serves)."""
        self._storage = RaftStorage.open(self.directory)
        recovery = self._storage.recovery
        if recovery.dropped_bytes:
            log.warning(
                "metadata log: dropped %d bytes of torn tail (%s)",
                recovery.dropped_bytes,
                recovery.reason,
            )
        persisted = self._storage.load()
        if persisted.snapshot.index > 0:
            self.image = MetadataImage.from_snapshot(persisted.snapshot.data)
        self._node = RaftNode(self.config, self._rng, persisted)

    def start(self) -> None:
        """Start ticking; a single voter elects itself at once."""
        node = self._require_node()
        if self.config.voters == frozenset({self.config.node_id}):
            for _ in range(self.config.election_timeout_max_ticks + 1):
                node.tick()
                self._drain()
                if node.is_leader:
                    break
        self._ticker = asyncio.get_running_loop().create_task(self._tick_loop())

    async def stop(self) -> None:
        if self._ticker is not None:
            await cancel_and_wait(self._ticker)
            self._ticker = None
        self._fail_pending(NotController(None, "the node is stopping"))
        if self._storage is not None:
            self._storage.close()
            self._storage = None

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_ms / 1000)
            try:
                self._require_node().tick()
                self._drain()
            except Exception:
                log.exception("metadata log tick failed")

    # -- input ---------------------------------------------------------------------

    def on_message(self, message: Message) -> None:
        """A Raft message from the transport (already decoded and checked)."""
        self._require_node().step(message)
        self._schedule_drain()

    def propose(self, records: Sequence[MetadataRecord]) -> tuple[int, asyncio.Future[int]]:
        """Append ``records`` as one entry: its offset (Raft index) now, and a future
        that resolves to it once the entry is committed and applied, or fails with
        NotController. Raises NotController at once when this node is not the leader."""
        node = self._require_node()
        result = node.propose(encode_record_batch(records))
        if isinstance(result, NotLeader):
            raise NotController(result.leader_hint, result.reason)
        assert isinstance(result, ProposeAccepted)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending[result.index] = (result.term, future)
        self._schedule_drain()
        return result.index, future

    def add_observer(self, node_id: int) -> None:
        """Non-voter ``node_id`` is connected: replicate the log to it while leading."""
        self._require_node().add_observer(node_id)
        self._schedule_drain()

    def remove_observer(self, node_id: int) -> None:
        """Non-voter ``node_id`` is no longer connected: stop replicating to it."""
        self._require_node().remove_observer(node_id)
        self._schedule_drain()

    def transfer_leadership(self, to: int) -> bool:
        started = self._require_node().transfer_leadership(to)
        self._schedule_drain()
        return started

    @property
    def is_leader(self) -> bool:
        return self._node is not None and self._node.is_leader

    @property
    def leader_id(self) -> int | None:
        return self.status.leader_id

    @property
    def committed_offset(self) -> int:
        """The highest log offset this node knows to be committed (0 before it knows)."""
        return 0 if self._node is None else self._node.log.commit_index

    def voter_lag_records(self) -> dict[int, int]:
        """While this node leads the quorum: per voter (itself included, at 0), the
        committed entries it has not acknowledged yet. Empty on any other role."""
        node = self._node
        if node is None or not node.is_leader:
            return {}
        committed = node.log.commit_index
        lag = {v: max(0, committed - m) for v, m in node.voter_match_indexes().items()}
        lag[self.config.node_id] = 0
        return dict(sorted(lag.items()))

    # -- the Ready loop --------------------------------------------------------------

    def _schedule_drain(self) -> None:
        if not self._drain_scheduled:
            self._drain_scheduled = True
            asyncio.get_running_loop().call_soon(self._drain_soon)

    def _drain_soon(self) -> None:
        self._drain_scheduled = False
        if self._storage is None:  # stopped after this drain was scheduled: nothing to do
            return
        try:
            self._drain()
        except Exception:
            log.exception("metadata log: processing a Raft batch failed")

    def _drain(self) -> None:
        node = self._require_node()
        storage = self._storage
        assert storage is not None
        while node.has_ready():
            ready = node.ready()
            storage.save(ready)
            for message in ready.messages:
                self.send(message)
            self._apply(ready)
            node.advance(ready)
        self._maybe_snapshot(node)

    def _apply(self, ready: Ready) -> None:
        image = self.image
        if ready.restore_snapshot and ready.snapshot is not None:
            image = MetadataImage.from_snapshot(ready.snapshot.data)
            self._since_snapshot = 0
        if ready.status is not None:
            self._set_status(ready.status)
        builder = image.builder()
        touched = ready.restore_snapshot
        for entry in ready.committed_entries:
            if entry.index <= builder.last_offset:
                continue  # re-delivered after a restart: already in the snapshot
            touched = True
            self._apply_entry(builder, entry)
        if touched:
            self.image = builder.build()
            for listener in self.image_listeners:
                listener(self.image)
        self._resolve(ready.committed_entries)

    def _apply_entry(self, builder: ImageBuilder, entry: Entry) -> None:
        self.stats.applied_entries += 1
        self._since_snapshot += 1
        if entry.term == self.status.term and self.status.role is Role.LEADER:
            self.caught_up_term = max(self.caught_up_term, entry.term)
        if entry.is_noop:
            builder.skip(entry.index)
            return
        try:
            records = decode_record_batch(entry.payload)
        except MetadataRecordError as exc:
            self.stats.refused_records += 1
            log.error("metadata entry %d refused: %s", entry.index, exc)
            builder.skip(entry.index)
            return
        applied = False
        for record in records:
            if isinstance(record, MetadataRecordError):
                self.stats.refused_records += 1
                log.error("metadata entry %d: record refused: %s", entry.index, record)
                continue
            try:
                builder.apply(record, entry.index)
                applied = True
            except MetadataRecordError as exc:
                self.stats.refused_records += 1
                log.error("metadata entry %d: record refused: %s", entry.index, exc)
        if not applied:
            builder.skip(entry.index)

    def _resolve(self, committed: Sequence[Entry]) -> None:
        for entry in committed:
            pending = self._pending.pop(entry.index, None)
            if pending is None:
                continue
            term, future = pending
            if future.done():
                continue
            if term == entry.term:
                future.set_result(entry.index)
            else:
                future.set_exception(
                    NotController(self.status.leader_id, "leadership changed before it committed")
                )

    def _set_status(self, status: NodeStatus) -> None:
        previous, self.status = self.status, status
        if status.role is Role.LEADER and previous.role is not Role.LEADER:
            self.stats.elections_won += 1
        if previous.role is Role.LEADER and status.role is not Role.LEADER:
            self._fail_pending(NotController(status.leader_id, "this node lost leadership"))
        for listener in self.status_listeners:
            listener(status)

    def _fail_pending(self, error: NotController) -> None:
        pending, self._pending = self._pending, {}
        for _, future in pending.values():
            if not future.done():
                future.set_exception(error)
                future.exception()  # retrieved: a caller that gave up is not an error

    def _maybe_snapshot(self, node: RaftNode) -> None:
        if self._since_snapshot < self.snapshot_every_entries or self.image.last_offset < 1:
            return
        node.compact(self.image.last_offset, self.image.to_snapshot())
        self._since_snapshot = 0
        self.stats.snapshots += 1

    def _require_node(self) -> RaftNode:
        if self._node is None:
            raise RuntimeError("the metadata log is not open")
        return self._node
