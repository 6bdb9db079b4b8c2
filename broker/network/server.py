"""The Kafka listener: accepts connections and tracks them so shutdown can close all."""

from __future__ import annotations

import asyncio
import logging
import socket

from broker.metrics.stats import BrokerStats
from broker.network.connection import KafkaConnection
from broker.server.dispatch import Dispatcher

__all__ = ["KafkaServer"]

log = logging.getLogger(__name__)


class KafkaServer:
    def __init__(
        self,
        dispatcher: Dispatcher,
        stats: BrokerStats,
        *,
        max_request_bytes: int,
        max_inflight: int,
        request_metrics: bool = True,
    ) -> None:
        self._request_metrics = request_metrics
        self._dispatcher = dispatcher
        self._stats = stats
        self._max_request_bytes = max_request_bytes
        self._max_inflight = max_inflight
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[KafkaConnection] = set()

    def _make_connection(self) -> KafkaConnection:
        connection = KafkaConnection(
            self._dispatcher,
            self._stats,
            max_request_bytes=self._max_request_bytes,
            max_inflight=self._max_inflight,
            on_close=self._connections.discard,
            request_metrics=self._request_metrics,
        )
        self._connections.add(connection)
        return connection

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port (port 0 picks a free one); returns the bound port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._make_connection, host, port, reuse_address=True, backlog=1024
        )
        sockets = self._server.sockets
        bound = sockets[0].getsockname()[1] if sockets else port
        for sock in sockets:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return int(bound)

    @property
    def serving(self) -> bool:
        return self._server is not None and self._server.is_serving()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
