"""Helpers for quorum transport tests: nodes on 127.0.0.1 that record what they see, a
raw peer that speaks the frames by hand, and waiting on a condition with a deadline."""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any

from broker.metadata.rpc import RpcRequest, RpcResponse
from broker.network.quorum_config import QuorumTransportConfig
from broker.network.quorum_frames import (
    REQUEST_ID,
    FrameKind,
    Hello,
    encode_hello,
    frame_header,
)
from broker.network.quorum_rpc import RpcHandler
from broker.network.quorum_transport import QuorumTransport
from broker.quorum.messages import AppendEntries, Entry, Message
from contracts.fields import HostPort

CLUSTER = "tidewatch-test"
DEADLINE_S = 30.0  # bounds a hang; never the expected duration


async def eventually(condition: Callable[[], bool], what: str) -> None:
    """Wait until ``condition()`` holds (polled), failing after DEADLINE_S."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + DEADLINE_S
    while not condition():
        if loop.time() > give_up:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.005)


def bound_sockets(count: int) -> list[socket.socket]:
    """Listening sockets on 127.0.0.1 with free ports, so configs can name them."""
    return [socket.create_server(("127.0.0.1", 0)) for _ in range(count)]


def address_of(sock: socket.socket) -> HostPort:
    host, port = sock.getsockname()[:2]
    return HostPort(host, port)


def append_entries(sender: int, receiver: int, payload: bytes = b"record") -> Message:
    """A one-entry AppendEntries: enough content to see it arrive intact."""
    return AppendEntries(CLUSTER, sender, receiver, 1, 0, 0, (Entry(1, 1, payload),), 0)


class Node:
    """A transport plus everything its callbacks saw, in order."""

    def __init__(
        self,
        node_id: int,
        voters: Mapping[int, HostPort],
        *,
        rpc: RpcHandler | None = None,
        cluster: str = CLUSTER,
        **overrides: Any,
    ) -> None:
        settings: dict[str, Any] = {
            "reconnect_backoff_min_s": 0.01,
            "reconnect_backoff_max_s": 0.1,
            **overrides,
        }
        self.config = QuorumTransportConfig(node_id, cluster, voters, **settings)
        self.raft: list[Message] = []
        self.events: list[tuple[str, int]] = []
        self.transport = QuorumTransport(
            self.config,
            rng=random.Random(node_id),
            on_raft_message=self.raft.append,
            on_rpc_request=rpc,
            on_peer_connected=lambda peer: self.events.append(("connected", peer)),
            on_peer_disconnected=lambda peer: self.events.append(("disconnected", peer)),
        )

    @property
    def node_id(self) -> int:
        return self.config.node_id

    async def start(self, sock: socket.socket | None = None) -> Node:
        await self.transport.start(sock)
        return self

    def sees(self, peers: Iterable[int]) -> bool:
        return self.transport.connected_peers == frozenset(peers)

    async def call(self, node_id: int, request: RpcRequest[Any], timeout_s: float) -> Any:
        return await self.transport.call(node_id, request, timeout_s)


async def start_voters(count: int, **overrides: Any) -> list[Node]:
    """Voters 1..count, started and fully connected with each other."""
    sockets = bound_sockets(count)
    voters = {i + 1: address_of(s) for i, s in enumerate(sockets)}
    nodes = [Node(node_id, voters, **overrides) for node_id in voters]
    for node, sock in zip(nodes, sockets, strict=True):
        await node.start(sock)
    for node in nodes:
        others = set(voters) - {node.node_id}
        await eventually(partial(node.sees, others), f"node {node.node_id} sees {others}")
    return nodes


async def stop_all(nodes: Iterable[Node]) -> None:
    for node in nodes:
        await node.transport.stop()


class RawPeer:
    """A hand-driven TCP client that speaks (or breaks) the quorum frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, address: HostPort) -> RawPeer:
        reader, writer = await asyncio.open_connection(address.host, address.port)
        return cls(reader, writer)

    @property
    def local_address(self) -> str:
        host, port = self.writer.get_extra_info("sockname")[:2]
        return f"{host}:{port}"

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    def send_frame(self, kind: int, body: bytes) -> None:
        self.writer.write(struct.pack(">IB", len(body) + 1, kind) + body)

    def send_hello(self, node_id: int, voters: Iterable[int], cluster: str = CLUSTER) -> None:
        body = encode_hello(Hello(cluster, node_id, frozenset(voters)))
        self.writer.write(frame_header(FrameKind.HELLO, len(body)) + body)

    def send_rpc_request(self, request_id: int, payload: bytes) -> None:
        self.send_frame(FrameKind.RPC_REQUEST, REQUEST_ID.pack(request_id) + payload)

    async def read_frame(self) -> tuple[int, bytes] | None:
        """The next (kind, body), or None once the other side closed."""
        try:
            async with asyncio.timeout(DEADLINE_S):
                (length,) = struct.unpack(">I", await self.reader.readexactly(4))
                data = await self.reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        return data[0], data[1:]

    async def read_until_closed(self) -> list[int]:
        """Kinds of every frame until the other side closes."""
        kinds = []
        while (frame := await self.read_frame()) is not None:
            kinds.append(frame[0])
        return kinds

    async def handshake(self, node_id: int, voters: Iterable[int]) -> None:
        self.send_hello(node_id, voters)
        frame = await self.read_frame()
        assert frame is not None and frame[0] == FrameKind.HELLO, frame

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


def echo_handler(answer: Callable[[RpcRequest[Any]], RpcResponse]) -> RpcHandler:
    async def handle(node_id: int, request: RpcRequest[Any]) -> RpcResponse:
        return answer(request)

    return handle
