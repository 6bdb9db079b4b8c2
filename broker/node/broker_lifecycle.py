"""BrokerLifecycle: this broker's membership of the cluster, as KRaft brokers do it.

1. Register with the active controller (a fresh incarnation id per process start); a
   refusal that retrying cannot fix ends the broker with the controller's reason: the
   cluster id differs (INCONSISTENT_CLUSTER_ID), or another live broker holds this node
   id (DUPLICATE_BROKER_REGISTRATION still refused after ``duplicate_patience_ms``: a
   process of this node that was just killed keeps its session until the controller
   notices, at most a session timeout; a live duplicate keeps it for ever).
2. Heartbeat every ``heartbeat_interval_ms``, reporting the metadata offset applied
   here; the controller unfences the broker once that offset reaches its registration,
   and fences it when its session expires (or its connection drops). A heartbeat refused
   for a stale or unknown broker epoch registers again.
3. On a clean stop, a controlled shutdown: the controller moves this broker's
   leaderships to other in-sync replicas first, so clients see only retriable errors.

``unfenced`` is set while the controller counts this broker as serving: the broker is
ready (its ready file is written) once it has been set the first time.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

from broker.cluster.periodic import cancel_and_wait
from broker.error_codes import KafkaError
from broker.metadata.records import Listener
from broker.metadata.rpc import (
    BrokerHeartbeatRequest,
    ControlledShutdownRequest,
    ErrorResponse,
    RegisterBrokerRequest,
)
from broker.node.controller_channel import ControllerChannel

__all__ = ["BrokerLifecycle", "FatalRegistrationError"]

log = logging.getLogger(__name__)

_FATAL = (KafkaError.INCONSISTENT_CLUSTER_ID,)
_REREGISTER = (KafkaError.STALE_BROKER_EPOCH, KafkaError.BROKER_ID_NOT_REGISTERED)


class FatalRegistrationError(Exception):
    """The controller refused this broker for a reason only its operator can fix."""


class BrokerLifecycle:
    def __init__(
        self,
        node_id: int,
        cluster_id: str,
        listeners: tuple[Listener, ...],
        channel: ControllerChannel,
        metadata_offset: Callable[[], int],
        *,
        heartbeat_interval_ms: int = 500,
        duplicate_patience_ms: int = 6000,
        rack: str | None = None,
    ) -> None:
        self.node_id = node_id
        self.cluster_id = cluster_id
        self.listeners = listeners
        self.channel = channel
        self.metadata_offset = metadata_offset
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.duplicate_patience_ms = duplicate_patience_ms
        self._first_duplicate: float | None = None
        self.rack = rack
        self.incarnation_id = uuid.uuid4()
        self.broker_epoch = -1
        self.unfenced = asyncio.Event()
        self.fatal: FatalRegistrationError | None = None
        self.fatal_event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def _run(self) -> None:
        try:
            while not self._stopping:
                if self.broker_epoch < 0:
                    await self._register()
                else:
                    await self._heartbeat()
                    await asyncio.sleep(self.heartbeat_interval_ms / 1000)
        except FatalRegistrationError as exc:
            self.fatal = exc
            self.fatal_event.set()

    async def _register(self) -> None:
        request = RegisterBrokerRequest(
            self.node_id, self.incarnation_id, self.cluster_id, self.listeners, self.rack
        )
        response = await self.channel.call(request)
        if isinstance(response, ErrorResponse):
            log.info("registration not answered yet: %s", response.message)
            return
        reply = response.reply
        if reply.error in _FATAL:
            raise FatalRegistrationError(reply.message or reply.error.name)
        if reply.error is KafkaError.DUPLICATE_BROKER_REGISTRATION:
            now = asyncio.get_running_loop().time()
            if self._first_duplicate is None:
                self._first_duplicate = now
            if (now - self._first_duplicate) * 1000 >= self.duplicate_patience_ms:
                raise FatalRegistrationError(reply.message or reply.error.name)
        if reply.error is not KafkaError.NONE:
            log.warning("registration refused: %s; retrying", reply.message or reply.error.name)
            await asyncio.sleep(self.heartbeat_interval_ms / 1000)
            return
        self.broker_epoch = reply.broker_epoch
        log.info("registered as broker %d (epoch %d)", self.node_id, self.broker_epoch)

    async def _heartbeat(self) -> None:
        request = BrokerHeartbeatRequest(
            self.node_id, self.broker_epoch, max(self.metadata_offset(), -1), False, False
        )
        response = await self.channel.call(request, timeout_s=self.heartbeat_interval_ms / 1000 * 4)
        if isinstance(response, ErrorResponse):
            log.debug("heartbeat not answered: %s", response.message)
            return
        reply = response.reply
        if reply.error in _REREGISTER:
            log.warning("heartbeat refused (%s): registering again", reply.error.name)
            self.broker_epoch = -1
            self.unfenced.clear()
            return
        if reply.error is not KafkaError.NONE:
            log.warning("heartbeat refused: %s", reply.message or reply.error.name)
            return
        if reply.is_fenced:
            if self.unfenced.is_set():
                log.warning("the controller fenced this broker")
            self.unfenced.clear()
        else:
            if not self.unfenced.is_set():
                log.info("broker %d is serving (unfenced)", self.node_id)
            self.unfenced.set()

    async def controlled_shutdown(self, timeout_s: float) -> bool:
        """Ask the controller to move every leadership away; True once it leads nothing
        (False after ``timeout_s``, or without a registration)."""
        if self.broker_epoch < 0:
            return False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            response = await self.channel.call(
                ControlledShutdownRequest(self.node_id, self.broker_epoch),
                timeout_s=max(0.1, deadline - loop.time()),
            )
            if not isinstance(response, ErrorResponse):
                reply = response.reply
                if reply.error is KafkaError.NONE and reply.done:
                    return True
            await asyncio.sleep(0.1)
        return False
