"""ControllerService: runs the ``QuorumController`` while this node leads the metadata
quorum, and serves the brokers' controller RPCs.

Activation follows the controller's contract: when this node becomes the Raft leader it
waits until an entry of its own term has committed (its image then holds every entry of
earlier terms), then ``activate``s; it ``deactivate``s the moment leadership is lost.
A request is dispatched to the controller (``broker.metadata.rpc.dispatch``); its
records are proposed as one metadata entry and the response is sent once that entry
commits. Requests that reach a node which is not the active controller, or whose entry
is lost to a leadership change, answer NOT_CONTROLLER with the leader to try. A timer
drives the controller's ``tick`` (session expiry, elections, preferred leaders).
``elections`` counts and times the partition leader elections it commits (for metrics:
``broker.metrics.leader_elections``). Event-loop thread only.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from broker.cluster.periodic import cancel_and_wait
from broker.error_codes import KafkaError
from broker.metadata.controller import QuorumController
from broker.metadata.controller_config import ControllerConfig
from broker.metadata.image import MetadataImage
from broker.metadata.records import MetadataRecord
from broker.metadata.rpc import ErrorResponse, RpcRequest, RpcResponse, dispatch
from broker.metrics.leader_elections import LeaderElections
from broker.node.metadata_log import MetadataLog, NotController
from broker.quorum import NodeStatus, Role
from contracts.clock import Clock

__all__ = ["ControllerService"]

log = logging.getLogger(__name__)


class ControllerService:
    def __init__(
        self,
        metadata_log: MetadataLog,
        config: ControllerConfig,
        clock: Clock,
        node_id: int,
        *,
        tick_ms: int = 250,
    ) -> None:
        self.metadata_log = metadata_log
        self.controller = QuorumController(config, new_topic_id=uuid.uuid4)
        self.elections = LeaderElections()
        self.clock = clock
        self.node_id = node_id
        self.tick_ms = tick_ms
        self._ticker: asyncio.Task[None] | None = None
        self._writes: set[asyncio.Task[Any]] = set()
        metadata_log.status_listeners.append(self._on_status)
        metadata_log.image_listeners.append(self._on_image)

    @property
    def active(self) -> bool:
        return self.controller.active

    # -- leadership ----------------------------------------------------------------

    def _on_status(self, status: NodeStatus) -> None:
        if status.role is not Role.LEADER and self.controller.active:
            self.controller.deactivate()
            self.elections.deactivate()
            log.info("no longer the active controller (term %d)", status.term)

    def _on_image(self, image: MetadataImage) -> None:
        if self.controller.active:
            self.controller.on_commit(image)
            self.elections.on_commit(image, self.clock.time_ms())
            return
        status = self.metadata_log.status
        if status.role is Role.LEADER and self.metadata_log.caught_up_term == status.term:
            now = self.clock.time_ms()
            self.controller.activate(image, now)
            self.elections.activate(image, now)
            log.info("active controller for term %d", status.term)

    # -- requests ------------------------------------------------------------------

    def not_controller(self) -> ErrorResponse:
        leader = self.metadata_log.leader_id
        where = f"node {leader} is the leader" if leader is not None else "no leader is known"
        return ErrorResponse(
            KafkaError.NOT_CONTROLLER,
            f"node {self.node_id} is not the active controller ({where}); retry there",
        )

    async def handle(self, request: RpcRequest[Any]) -> RpcResponse:
        """Serve one request as the active controller (see the module docstring)."""
        if not self.controller.active:
            return self.not_controller()
        before, now = self.controller.view, self.clock.time_ms()
        try:
            result = dispatch(self.controller, request, now)
        except Exception as exc:
            log.exception("controller failed on %s", type(request).__name__)
            return ErrorResponse(KafkaError.UNKNOWN_SERVER_ERROR, f"controller error: {exc}")
        if result.records:
            self.elections.on_decision(before, self.controller.view, now)
            try:
                await self._write(result.records)
            except NotController:
                return self.not_controller()
        reply: RpcResponse = result.reply
        return reply

    def _propose(self, records: Sequence[MetadataRecord]) -> asyncio.Future[int]:
        index, future = self.metadata_log.propose(records)
        self.controller.on_proposed(index)
        return future

    async def _write(self, records: Sequence[MetadataRecord]) -> int:
        return await self._propose(records)

    def _write_soon(self, records: Sequence[MetadataRecord], what: str) -> None:
        """Propose records nobody waits for (ticks, disconnections)."""
        try:
            future = self._propose(records)
        except NotController:
            return

        def done(f: asyncio.Future[int]) -> None:
            if not f.cancelled() and f.exception() is not None:
                log.info("%s not written: %s", what, f.exception())

        future.add_done_callback(done)

    def broker_disconnected(self, node_id: int) -> None:
        """The transport lost every connection with ``node_id``: fence it now."""
        if not self.controller.active:
            return
        before = self.controller.view
        result = self.controller.broker_disconnected(node_id)
        if result.records:
            self.elections.on_decision(before, self.controller.view, self.clock.time_ms())
            log.warning("broker %d disconnected from the controller: fenced", node_id)
            self._write_soon(result.records, f"fencing of broker {node_id}")

    # -- timer ---------------------------------------------------------------------

    def start(self) -> None:
        self._ticker = asyncio.get_running_loop().create_task(self._tick_loop())

    async def stop(self) -> None:
        if self._ticker is not None:
            await cancel_and_wait(self._ticker)
            self._ticker = None
        if self.controller.active:
            self.controller.deactivate()
            self.elections.deactivate()

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_ms / 1000)
            if not self.controller.active:
                continue
            before, now = self.controller.view, self.clock.time_ms()
            try:
                result = self.controller.tick(now)
            except Exception:
                log.exception("controller tick failed")
                continue
            if result.records:
                self.elections.on_decision(before, self.controller.view, now)
            report = result.reply
            if report.fenced:
                log.warning("fenced brokers whose session expired: %s", list(report.fenced))
            if result.records:
                self._write_soon(result.records, "controller tick")
