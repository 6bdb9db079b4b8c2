"""A quorum connection whose socket is gone before its reader noticed: writing to it
drops the frame instead of raising from inside Raft's send path (uvloop raises
RuntimeError on a write to a closed handle, as the broker's loop does)."""

from __future__ import annotations

import asyncio
import socket

import uvloop

from broker.network.quorum_connection import QuorumConnection


def test_a_frame_written_to_a_connection_lost_under_it_is_dropped_quietly() -> None:
    async def run() -> bool:
        ours, peers = socket.socketpair()
        with peers:
            reader, writer = await asyncio.open_connection(sock=ours)
            connection = QuorumConnection(
                reader, writer, outbound=True, max_queued_bytes=65_536, max_inflight_requests=1
            )
            writer.transport.abort()  # the socket is gone; nothing told the connection
            await connection.wait_closed()  # the transport's handle is closed by now
            connection.write([b"\x00\x00\x00\x01", b"\x02"])
            return connection.closed

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(run()) is False  # dropped, not raised; closing is the reader's job
