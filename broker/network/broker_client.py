"""``BrokerConnection``: one Kafka-protocol connection from this broker to another, for
the requests a broker sends as a client (a follower's Fetch, OffsetsForLeaderEpoch and
ListOffsets to its leader).

Requests go one at a time: ``send`` writes the framed request, reads the next frame and
checks that its correlation id is the request's (anything else means the byte stream
cannot be trusted: the connection is closed, as aiokafka does). A response larger than
``max_response_bytes``, one that does not decode, or no response within the timeout
raise ``BrokerConnectionError`` and close the connection; the owner opens a new one.
Not safe for concurrent senders: its owner (one fetcher task) serialises calls.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

from kio.static.protocol import RequestPayload

from broker.protocol.kio_adapter import DecodeError, decode_response, encode_request
from contracts.fields import HostPort

__all__ = ["BrokerConnection", "BrokerConnectionError"]

_SIZE = struct.Struct(">i")
DEFAULT_MAX_RESPONSE_BYTES = 128 * 1024 * 1024


class BrokerConnectionError(ConnectionError):
    """The connection failed or can no longer be used; the message says why."""


class BrokerConnection:
    """See the module docstring."""

    def __init__(
        self,
        address: HostPort,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        client_id: str,
        max_response_bytes: int,
    ) -> None:
        self.address = address
        self._reader = reader
        self._writer = writer
        self._client_id = client_id
        self._max_response_bytes = max_response_bytes
        self._correlation_id = 0
        self.closed = False

    @classmethod
    async def open(
        cls,
        address: HostPort,
        client_id: str,
        timeout_s: float,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> BrokerConnection:
        """Connect (raises BrokerConnectionError on failure or after ``timeout_s``)."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(address.host, address.port, limit=2**20), timeout_s
            )
        except (OSError, TimeoutError) as exc:
            raise BrokerConnectionError(f"cannot connect to {address}: {exc or 'timeout'}") from exc
        sock = writer.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(address, reader, writer, client_id, max_response_bytes)

    async def send(self, request: RequestPayload, timeout_s: float) -> Any:
        """The response to ``request`` (a kio request), within ``timeout_s``."""
        if self.closed:
            raise BrokerConnectionError(f"the connection to {self.address} is closed")
        self._correlation_id = (self._correlation_id + 1) & 0x7FFFFFFF
        correlation_id = self._correlation_id
        frame = encode_request(request, correlation_id, self._client_id)
        try:
            self._writer.write(_SIZE.pack(len(frame)) + frame)
            response = await asyncio.wait_for(self._receive(), timeout_s)
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
            self.close()
            if isinstance(exc, TimeoutError):
                what = f"no response within {timeout_s:g} s"
            elif isinstance(exc, asyncio.IncompleteReadError):
                what = "the connection was closed"
            else:
                what = str(exc)
            raise BrokerConnectionError(f"{self.address}: {what}") from exc
        try:
            answered, body = decode_response(request.__api_key__, request.__version__, response)
        except DecodeError as exc:
            self.close()
            raise BrokerConnectionError(f"{self.address}: {exc}") from exc
        if answered != correlation_id:
            self.close()
            raise BrokerConnectionError(
                f"{self.address}: response to correlation id {answered}, expected {correlation_id}"
            )
        return body

    async def _receive(self) -> bytes:
        await self._writer.drain()
        (size,) = _SIZE.unpack(await self._reader.readexactly(_SIZE.size))
        if not 0 <= size <= self._max_response_bytes:
            raise OSError(f"a response of {size} bytes is outside 0..{self._max_response_bytes}")
        return await self._reader.readexactly(size)

    def close(self) -> None:
        """Close the socket (the transport finishes closing in the background)."""
        if not self.closed:
            self.closed = True
            self._writer.close()
