"""QuorumTransport over real sockets on 127.0.0.1: Raft delivery, RPCs, reconnection,
refusals, peer callbacks and a clean stop."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import uuid
from functools import partial
from typing import Any

import pytest

from broker.error_codes import KafkaError
from broker.metadata.errors import RpcError
from broker.metadata.replies import BrokerHeartbeatReply
from broker.metadata.rpc import (
    BrokerHeartbeatRequest,
    BrokerHeartbeatResponse,
    ErrorResponse,
    RegisterBrokerRequest,
    RpcRequest,
    RpcResponse,
    decode_response,
    encode_rpc,
)
from broker.network.quorum_config import QuorumTransportConfig
from broker.network.quorum_frames import REQUEST_ID, FrameKind
from broker.network.quorum_rpc import PeerUnavailable
from broker.quorum.codec import encode_message
from contracts.fields import HostPort
from tests.broker.network.quorum_peers import (
    CLUSTER,
    Node,
    RawPeer,
    address_of,
    append_entries,
    bound_sockets,
    echo_handler,
    eventually,
    start_voters,
    stop_all,
)

HEARTBEAT = BrokerHeartbeatRequest(4, 7, 10, want_fence=False, want_shutdown=False)
HEARTBEAT_OK = BrokerHeartbeatResponse(
    BrokerHeartbeatReply(
        KafkaError.NONE, None, is_caught_up=True, is_fenced=False, should_shutdown=False
    )
)
LOGGER = "broker.network.quorum_transport"


def heartbeat_answer(request: RpcRequest[Any]) -> RpcResponse:
    assert request == HEARTBEAT
    return HEARTBEAT_OK


def _received(node: Node, count: int) -> bool:
    return len(node.raft) == count


# -- raft delivery --------------------------------------------------------------------


async def test_three_voters_exchange_raft_messages_over_their_links() -> None:
    nodes = await start_voters(3)
    try:
        for sender in nodes:
            for receiver in nodes:
                if sender is not receiver:
                    message = append_entries(sender.node_id, receiver.node_id, b"x" * 1000)
                    sender.transport.send_raft(message)
        for node in nodes:
            await eventually(partial(_received, node, 2), f"node {node.node_id} got 2")
            assert sorted(m.sender for m in node.raft) == sorted({1, 2, 3} - {node.node_id})
            assert all(m.receiver == node.node_id for m in node.raft)
            assert node.raft[0] == append_entries(node.raft[0].sender, node.node_id, b"x" * 1000)
            assert node.transport.stats.frames_out["raft"] == 2
            assert node.transport.stats.frames_in["raft"] == 2
            assert node.transport.stats.frames_in["hello"] == 4  # two links each way
            assert node.transport.stats.frames_out["hello"] == 4
    finally:
        await stop_all(nodes)


async def test_a_broker_that_is_no_voter_has_no_listener_and_still_exchanges_raft() -> None:
    voters = await start_voters(3)
    broker = await Node(4, voters[0].config.voters).start()
    try:
        assert broker.transport.listen_address is None
        await eventually(partial(broker.sees, {1, 2, 3}), "the broker reaches every voter")
        await eventually(lambda: 4 in voters[0].transport.connected_peers, "voter 1 sees it")
        voters[0].transport.send_raft(append_entries(1, 4))
        broker.transport.send_raft(append_entries(4, 1))
        await eventually(lambda: broker.raft == [append_entries(1, 4)], "the broker got it")
        await eventually(lambda: voters[0].raft == [append_entries(4, 1)], "voter 1 got it")
    finally:
        await stop_all([broker, *voters])


async def test_a_voter_listening_on_port_zero_exposes_the_bound_address() -> None:
    voter = await Node(1, {1: HostPort("127.0.0.1", 0)}).start()
    try:
        address = voter.transport.listen_address
        assert address is not None and address.host == "127.0.0.1" and address.port > 0
        broker = await Node(2, {1: address}).start()
        try:
            await eventually(partial(broker.sees, {1}), "the broker reaches the voter")
        finally:
            await broker.transport.stop()
    finally:
        await voter.transport.stop()


async def test_a_broker_started_before_any_voter_connects_once_the_voter_listens() -> None:
    [sock] = bound_sockets(1)
    voters = {1: address_of(sock)}
    sock.close()  # nothing listens there for now
    broker = await Node(2, voters).start()  # returns although no voter is up
    try:
        await eventually(
            lambda: broker.transport.stats.connection_attempts >= 2, "the broker retries"
        )
        assert broker.transport.connected_peers == frozenset()
        voter = await Node(1, voters, listen=voters[1]).start()
        try:
            await eventually(partial(broker.sees, {1}), "the broker reaches the late voter")
        finally:
            await voter.transport.stop()
    finally:
        await broker.transport.stop()


async def test_raft_messages_for_a_node_without_a_connection_are_dropped_and_counted() -> None:
    [voter] = await start_voters(1)
    try:
        voter.transport.send_raft(append_entries(1, 9))
        assert voter.transport.stats.dropped_messages["no_connection"] == 1
        assert voter.transport.stats.frames_out["raft"] == 0
    finally:
        await voter.transport.stop()


async def test_a_raft_message_over_the_frame_limit_is_dropped_and_counted() -> None:
    voters = await start_voters(2, max_frame_bytes=64 * 1024)
    try:
        voters[0].transport.send_raft(append_entries(1, 2, b"x" * 100_000))
        assert voters[0].transport.stats.dropped_messages["oversized"] == 1
        voters[0].transport.send_raft(append_entries(1, 2, b"small"))
        await eventually(lambda: voters[1].raft == [append_entries(1, 2, b"small")], "delivered")
    finally:
        await stop_all(voters)


async def test_a_peer_that_does_not_read_gets_raft_dropped_and_calls_wait() -> None:
    [voter] = await start_voters(1, max_queued_bytes_per_peer=64 * 1024)
    peer = await RawPeer.connect(voter.config.voters[1])
    try:
        await peer.handshake(9, [1])  # then never reads again
        await eventually(lambda: 9 in voter.transport.connected_peers, "the peer is linked")
        payload = b"x" * 64 * 1024
        for _ in range(2000):  # 128 MiB: far more than the kernel buffers
            voter.transport.send_raft(append_entries(1, 9, payload))
            if voter.transport.stats.dropped_messages["queue_full"]:
                break
        assert voter.transport.stats.dropped_messages["queue_full"] == 1
        with pytest.raises(TimeoutError):
            await voter.transport.call(9, HEARTBEAT, timeout_s=0.2)
        assert voter.transport.stats.frames_out["rpc_request"] == 0  # it waited, unsent
    finally:
        await peer.close()
        await voter.transport.stop()


# -- rpc ------------------------------------------------------------------------------


async def test_an_rpc_round_trip_returns_the_response_of_the_handler() -> None:
    seen: list[tuple[int, RpcRequest[Any]]] = []

    async def handler(node_id: int, request: RpcRequest[Any]) -> RpcResponse:
        seen.append((node_id, request))
        return HEARTBEAT_OK

    [voter] = await start_voters(1, rpc=handler)
    broker = await Node(4, voter.config.voters).start()
    try:
        await eventually(partial(broker.sees, {1}), "the broker reaches the voter")
        response = await broker.transport.call(1, HEARTBEAT, timeout_s=30)
        assert response == HEARTBEAT_OK
        assert seen == [(4, HEARTBEAT)]
        assert broker.transport.stats.frames_out["rpc_request"] == 1
        assert broker.transport.stats.frames_in["rpc_response"] == 1
        assert voter.transport.stats.frames_in["rpc_request"] == 1
    finally:
        await stop_all([broker, voter])


async def test_a_node_without_an_rpc_handler_answers_not_controller() -> None:
    voters = await start_voters(2)
    try:
        response = await voters[0].transport.call(2, HEARTBEAT, timeout_s=30)
        assert isinstance(response, ErrorResponse)
        assert response.error is KafkaError.NOT_CONTROLLER
    finally:
        await stop_all(voters)


async def test_a_handler_that_raises_answers_unknown_server_error() -> None:
    async def broken(node_id: int, request: RpcRequest[Any]) -> RpcResponse:
        raise RuntimeError("boom")

    voters = await start_voters(2, rpc=broken)
    try:
        response = await voters[0].transport.call(2, HEARTBEAT, timeout_s=30)
        assert isinstance(response, ErrorResponse)
        assert response.error is KafkaError.UNKNOWN_SERVER_ERROR
        assert "RuntimeError" in response.message
    finally:
        await stop_all(voters)


async def test_a_response_of_the_wrong_type_is_an_rpc_error() -> None:
    voters = await start_voters(2, rpc=echo_handler(lambda request: HEARTBEAT_OK))
    register = RegisterBrokerRequest(1, uuid.UUID(int=1), CLUSTER, (), None)
    try:
        with pytest.raises(RpcError, match="answered register_broker with broker_heartbeat"):
            await voters[0].transport.call(2, register, timeout_s=30)
    finally:
        await stop_all(voters)


async def test_a_call_times_out_and_its_late_response_is_counted() -> None:
    release = asyncio.Event()

    async def slow(node_id: int, request: RpcRequest[Any]) -> RpcResponse:
        await release.wait()
        return HEARTBEAT_OK

    voters = await start_voters(2, rpc=slow)
    try:
        with pytest.raises(TimeoutError):
            await voters[0].transport.call(2, HEARTBEAT, timeout_s=0.1)
        release.set()
        stats = voters[0].transport.stats
        await eventually(
            lambda: stats.refused_messages["unknown_request_id"] == 1, "the late answer is seen"
        )
        assert voters[0].sees({2})  # a late answer does not cost the connection
    finally:
        await stop_all(voters)


async def test_a_call_to_a_node_without_a_connection_raises_peer_unavailable() -> None:
    [voter] = await start_voters(1)
    try:
        with pytest.raises(PeerUnavailable, match="no connection to node 9"):
            await voter.transport.call(9, HEARTBEAT, timeout_s=30)
    finally:
        await voter.transport.stop()


async def test_a_call_whose_connection_is_lost_raises_peer_unavailable() -> None:
    started = asyncio.Event()

    async def never(node_id: int, request: RpcRequest[Any]) -> RpcResponse:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    [voter] = await start_voters(1, rpc=never)
    broker = await Node(4, voter.config.voters).start()
    try:
        await eventually(partial(broker.sees, {1}), "the broker reaches the voter")
        call = asyncio.create_task(broker.transport.call(1, HEARTBEAT, timeout_s=30))
        await asyncio.wait_for(started.wait(), 30)
        await voter.transport.stop()
        with pytest.raises(PeerUnavailable, match="lost"):
            await call
    finally:
        await stop_all([broker, voter])


async def test_a_malformed_rpc_request_gets_invalid_request_and_the_link_stays_up() -> None:
    [voter] = await start_voters(1, rpc=echo_handler(heartbeat_answer))
    peer = await RawPeer.connect(voter.config.voters[1])
    try:
        await peer.handshake(9, [1])
        peer.send_rpc_request(7, b'{"data":{},"kind":"nope","version":1}')
        frame = await peer.read_frame()
        assert frame is not None and frame[0] == FrameKind.RPC_RESPONSE
        request_id, payload = REQUEST_ID.unpack_from(frame[1])[0], frame[1][8:]
        response = decode_response(payload)
        assert request_id == 7
        assert isinstance(response, ErrorResponse)
        assert response.error is KafkaError.INVALID_REQUEST
        assert "unknown kind 'nope'" in response.message
        peer.send_rpc_request(8, encode_rpc(HEARTBEAT))
        frame = await peer.read_frame()
        assert frame is not None and decode_response(frame[1][8:]) == HEARTBEAT_OK
        assert voter.transport.stats.refused_messages["malformed_rpc"] == 1
    finally:
        await peer.close()
        await voter.transport.stop()


# -- peers coming and going -----------------------------------------------------------


async def test_a_restarted_voter_is_reconnected_and_traffic_resumes() -> None:
    nodes = await start_voters(3)
    first, second, third = nodes
    address = second.config.voters[2]
    try:
        await second.transport.stop()
        await eventually(lambda: first.sees({3}) and third.sees({1}), "voter 2 is seen gone")
        assert ("disconnected", 2) in first.events
        second = await Node(2, first.config.voters, listen=address).start()
        nodes[1] = second
        await eventually(partial(second.sees, {1, 3}), "the new voter 2 reaches the others")
        await eventually(lambda: first.sees({2, 3}), "voter 1 reconnected to voter 2")
        assert first.events.count(("connected", 2)) == 2
        first.transport.send_raft(append_entries(1, 2))
        await eventually(lambda: second.raft == [append_entries(1, 2)], "traffic resumed")
        await eventually(
            lambda: first.transport.stats.reconnects == 1, "voter 1 re-dialled voter 2 itself"
        )
    finally:
        await stop_all(nodes)


async def test_the_disconnect_callback_fires_once_when_a_peer_transport_stops() -> None:
    [voter] = await start_voters(1)
    broker = await Node(4, voter.config.voters).start()
    try:
        await eventually(lambda: ("connected", 4) in voter.events, "the voter sees the broker")
        await eventually(partial(broker.sees, {1}), "the broker sees the voter")
        await broker.transport.stop()
        await eventually(lambda: ("disconnected", 4) in voter.events, "the voter sees it go")
        assert voter.events == [("connected", 4), ("disconnected", 4)]
        assert broker.events == [("connected", 1)]  # nothing fires during its own stop
    finally:
        await stop_all([broker, voter])


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
async def test_stop_ends_every_task_and_closes_every_socket() -> None:
    descriptors = len(os.listdir("/proc/self/fd"))
    blocked = asyncio.Event()

    async def never(node_id: int, request: RpcRequest[Any]) -> RpcResponse:
        blocked.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    voters = await start_voters(3, rpc=never)
    broker = await Node(4, voters[0].config.voters).start()
    await eventually(partial(broker.sees, {1, 2, 3}), "the broker reaches every voter")
    call = asyncio.create_task(broker.transport.call(1, HEARTBEAT, timeout_s=30))
    await asyncio.wait_for(blocked.wait(), 30)
    await stop_all([broker, *voters])
    with pytest.raises(PeerUnavailable):
        await call
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert len(os.listdir("/proc/self/fd")) == descriptors


# -- refusals -------------------------------------------------------------------------


async def test_a_node_of_another_cluster_is_refused_with_the_reason_and_its_address(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    [voter] = await start_voters(1)
    peer = await RawPeer.connect(voter.config.voters[1])
    try:
        peer.send_hello(9, [1], cluster="elsewhere")
        assert await peer.read_until_closed() == []
        assert voter.transport.stats.refused_connections["cluster_id"] == 1
        [line] = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
        assert "(cluster_id)" in line and peer.local_address in line and "'elsewhere'" in line
        assert voter.events == []
    finally:
        await peer.close()
        await voter.transport.stop()


async def test_a_transport_of_another_cluster_is_refused_at_every_attempt_and_warned_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    [voter] = await start_voters(1, log_interval_s=3600)
    stranger = await Node(4, voter.config.voters, cluster="elsewhere").start()
    try:
        stats = voter.transport.stats
        await eventually(lambda: stats.refused_connections["cluster_id"] >= 3, "refused again")
        assert voter.events == [] and stranger.events == []
        refusals = [r for r in caplog.records if "(cluster_id)" in r.getMessage()]
        assert len(refusals) == 1  # the rest went to DEBUG
        assert any(
            "closed the connection during the handshake" in r.getMessage() for r in caplog.records
        )
    finally:
        await stop_all([stranger, voter])


async def test_a_node_with_another_voter_set_is_refused() -> None:
    [voter] = await start_voters(1)
    peer = await RawPeer.connect(voter.config.voters[1])
    try:
        peer.send_hello(9, [1, 9])  # a node that believes it is a voter
        assert await peer.read_until_closed() == []
        assert voter.transport.stats.refused_connections["voter_set"] == 1
    finally:
        await peer.close()
        await voter.transport.stop()


async def test_a_dialled_voter_that_answers_with_another_node_id_is_refused() -> None:
    [sock] = bound_sockets(1)
    address = address_of(sock)
    impostor = await Node(3, {1: address, 3: address}).start(sock)  # listens where 1 should be
    broker = await Node(4, {1: address, 3: address}).start()
    try:
        await eventually(
            lambda: broker.transport.stats.refused_connections["unexpected_node_id"] >= 1,
            "the broker refuses the wrong voter",
        )
        assert 1 not in broker.transport.connected_peers
    finally:
        await stop_all([broker, impostor])


GARBAGE = [
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "frame_too_large", id="an http request"),
    pytest.param(b"\x00\x00\x00\x03abc", "no_hello", id="a frame that is not a hello"),
    pytest.param(b"\x00\x00\x00\x00", "empty_frame", id="a frame without a kind byte"),
    pytest.param(b"\x00\x00\x00\x04\x01\x00\x01\x00", "malformed_hello", id="a truncated hello"),
    pytest.param(b"\x00\x00\x00\x04\x01\x00\x07\x00", "unsupported_version", id="a hello of v7"),
]


@pytest.mark.parametrize(("garbage", "reason"), GARBAGE)
async def test_garbage_is_refused_without_disturbing_the_other_peers(
    garbage: bytes, reason: str
) -> None:
    nodes = await start_voters(3)
    peer = await RawPeer.connect(nodes[0].config.voters[1])
    try:
        peer.send_raw(garbage)
        assert await peer.read_until_closed() == []
        assert nodes[0].transport.stats.refused_connections == {reason: 1}
        nodes[1].transport.send_raft(append_entries(2, 1))
        await eventually(lambda: nodes[0].raft == [append_entries(2, 1)], "traffic still flows")
        assert all(
            ("disconnected", peer_id) not in n.events for n in nodes for peer_id in (1, 2, 3)
        )
    finally:
        await peer.close()
        await stop_all(nodes)


async def test_random_bytes_before_or_after_the_hello_never_disturb_the_others() -> None:
    rng = random.Random(12)
    nodes = await start_voters(2, max_frame_bytes=64 * 1024)
    try:
        for session in range(100):
            peer = await RawPeer.connect(nodes[0].config.voters[1])
            if session % 2:
                await peer.handshake(100 + session, [1, 2])
            for _ in range(rng.randint(1, 4)):
                peer.send_raw(rng.randbytes(rng.randint(1, 300)))
            await peer.close()
            nodes[1].transport.send_raft(append_entries(2, 1, str(session).encode()))
            await eventually(partial(_received, nodes[0], session + 1), "traffic flows")
        assert nodes[0].sees({2}) and nodes[1].sees({1})
        assert not any(event == ("disconnected", 2) for event in nodes[0].events)
        assert nodes[0].raft == [
            append_entries(2, 1, str(session).encode()) for session in range(100)
        ]
    finally:
        await stop_all(nodes)


async def test_a_silent_connection_is_refused_after_the_handshake_timeout() -> None:
    [voter] = await start_voters(1, handshake_timeout_s=0.1)
    peer = await RawPeer.connect(voter.config.voters[1])
    try:
        assert await peer.read_until_closed() == []
        assert voter.transport.stats.refused_connections["handshake_timeout"] == 1
    finally:
        await peer.close()
        await voter.transport.stop()


async def test_an_oversized_frame_after_the_hello_closes_only_that_connection() -> None:
    nodes = await start_voters(2, max_frame_bytes=4096)
    peer = await RawPeer.connect(nodes[0].config.voters[1])
    try:
        await peer.handshake(9, [1, 2])
        await eventually(lambda: ("connected", 9) in nodes[0].events, "the peer is linked")
        peer.send_raw((1024 * 1024).to_bytes(4, "big") + bytes([FrameKind.RAFT]))
        assert await peer.read_until_closed() == []
        await eventually(lambda: ("disconnected", 9) in nodes[0].events, "the peer is unlinked")
        assert nodes[0].transport.stats.refused_connections == {"frame_too_large": 1}
        nodes[1].transport.send_raft(append_entries(2, 1))
        await eventually(lambda: nodes[0].raft == [append_entries(2, 1)], "traffic still flows")
    finally:
        await peer.close()
        await stop_all(nodes)


async def test_a_second_hello_breaks_the_framing() -> None:
    [voter] = await start_voters(1)
    peer = await RawPeer.connect(voter.config.voters[1])
    try:
        await peer.handshake(9, [1])
        peer.send_hello(9, [1])
        assert await peer.read_until_closed() == []
        assert voter.transport.stats.refused_connections == {"unexpected_hello": 1}
    finally:
        await peer.close()
        await voter.transport.stop()


BAD_RAFT = [
    pytest.param(b"\x00\x00\x00\x05garbage", "malformed_raft", id="bytes that are no raft frame"),
    pytest.param(encode_message(append_entries(2, 1)), "sender_mismatch", id="a forged sender"),
    pytest.param(encode_message(append_entries(9, 3)), "wrong_receiver", id="another receiver"),
]


@pytest.mark.parametrize(("body", "reason"), BAD_RAFT)
async def test_a_refused_raft_message_costs_the_frame_but_not_the_connection(
    body: bytes, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    [voter] = await start_voters(1)
    peer = await RawPeer.connect(voter.config.voters[1])
    try:
        await peer.handshake(9, [1])
        peer.send_frame(FrameKind.RAFT, body)
        peer.send_frame(FrameKind.RAFT, body)
        peer.send_frame(FrameKind.RAFT, encode_message(append_entries(9, 1)))
        await eventually(lambda: voter.raft == [append_entries(9, 1)], "the good one arrives")
        assert voter.transport.stats.refused_messages == {reason: 2}
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and f"({reason})" in warnings[0].getMessage()
        assert voter.events == [("connected", 9)]
    finally:
        await peer.close()
        await voter.transport.stop()


async def test_raft_from_a_node_that_is_no_listed_observer_is_refused() -> None:
    [voter] = await start_voters(1, raft_observers=frozenset({4}))
    peer = await RawPeer.connect(voter.config.voters[1])
    try:
        await peer.handshake(9, [1])
        peer.send_frame(FrameKind.RAFT, encode_message(append_entries(9, 1)))
        await eventually(
            lambda: voter.transport.stats.refused_messages["unknown_raft_member"] == 1, "refused"
        )
        assert voter.raft == []
    finally:
        await peer.close()
        await voter.transport.stop()


CONFIGS = [
    pytest.param(
        {"node_id": 4, "listen": HostPort("127.0.0.1", 0)},
        "has a controller listener but is no voter",
        id="a listener on a node that is no voter",
    ),
    pytest.param({"cluster_id": ""}, "cluster id", id="an empty cluster id"),
    pytest.param({"node_id": -1}, "node id -1", id="a negative node id"),
    pytest.param({"voters": {}}, "1..255 voters", id="no voters"),
    pytest.param({"max_frame_bytes": 10}, "max_frame_bytes", id="a frame limit below a hello"),
]


@pytest.mark.parametrize(("overrides", "reason"), CONFIGS)
def test_an_unusable_configuration_is_refused(overrides: dict[str, Any], reason: str) -> None:
    settings: dict[str, Any] = {
        "node_id": 1,
        "cluster_id": CLUSTER,
        "voters": {1: HostPort("127.0.0.1", 0)},
        **overrides,
    }
    with pytest.raises(ValueError, match=reason):
        QuorumTransportConfig(**settings)
