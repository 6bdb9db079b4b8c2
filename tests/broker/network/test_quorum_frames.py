"""The quorum transport's pure parts: frames, the Hello and its checks, the link table,
the reconnect delay and the rate-limited log. No sockets."""

from __future__ import annotations

import logging
import random
import struct
from dataclasses import dataclass
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.network.quorum_config import QuorumTransportConfig
from broker.network.quorum_connection import PeerLinks, QuorumConnection, RateLimitedLog
from broker.network.quorum_frames import (
    DEFAULT_MAX_FRAME_BYTES,
    MAX_HELLO_BYTES,
    REQUEST_ID,
    FrameError,
    FrameKind,
    Hello,
    check_frame_length,
    check_hello,
    decode_hello,
    encode_hello,
    frame_header,
    split_rpc_body,
)
from broker.quorum.codec import MAX_FRAME_BYTES
from contracts.fields import HostPort

hellos = st.builds(
    Hello,
    cluster_id=st.text(min_size=1, max_size=60),
    node_id=st.integers(0, 2**31 - 1),
    voters=st.frozensets(st.integers(0, 2**31 - 1), max_size=255),
)


@settings(deadline=None)
@given(hellos)
def test_every_hello_survives_an_encode_decode_round_trip(hello: Hello) -> None:
    body = encode_hello(hello)
    assert decode_hello(FrameKind.HELLO, body) == hello
    assert len(body) + 1 <= MAX_HELLO_BYTES


def test_a_hello_is_laid_out_field_by_field() -> None:
    assert encode_hello(Hello("c1", 2, frozenset({3, 1}))) == b"".join(
        [
            b"\x00\x01",  # u16 format version
            b"\x02c1",  # u8 cluster id length, cluster id
            b"\x00\x00\x00\x02",  # i32 node id
            b"\x00\x02",  # u16 voter count
            b"\x00\x00\x00\x01\x00\x00\x00\x03",  # voters, ascending
        ]
    )


@settings(max_examples=1000, deadline=None)
@given(st.integers(0, 255), st.binary(max_size=80))
def test_random_hello_bodies_decode_or_raise_frame_error(kind: int, body: bytes) -> None:
    try:
        hello = decode_hello(kind, body)
    except FrameError:
        return
    assert encode_hello(hello) == body


def test_a_frame_header_counts_the_kind_byte_in_its_length() -> None:
    assert frame_header(FrameKind.RAFT, 10) == struct.pack(">IB", 11, 2)


def test_the_default_frame_limit_fits_the_largest_raft_frame() -> None:
    assert DEFAULT_MAX_FRAME_BYTES == MAX_FRAME_BYTES + 4 + 1


VALID = encode_hello(Hello("c1", 2, frozenset({1, 3})))

BAD_HELLOS = [
    pytest.param(FrameKind.RAFT, VALID, "no_hello", id="a raft frame first is no hello"),
    pytest.param(FrameKind.HELLO, b"\x00", "malformed_hello", id="a truncated header"),
    pytest.param(FrameKind.HELLO, b"\x00\x02" + VALID[2:], "unsupported_version", id="v2"),
    pytest.param(FrameKind.HELLO, b"\x00\x01\x00" + VALID[5:], "malformed_hello", id="no id"),
    pytest.param(FrameKind.HELLO, VALID[:-1], "malformed_hello", id="a truncated voter"),
    pytest.param(FrameKind.HELLO, VALID + b"\x00", "malformed_hello", id="a trailing byte"),
    pytest.param(
        FrameKind.HELLO, b"\x00\x01\x02\xff\xfe" + VALID[5:], "malformed_hello", id="bad utf-8"
    ),
    pytest.param(
        FrameKind.HELLO,
        VALID[:5] + b"\xff\xff\xff\xff" + VALID[9:],
        "malformed_hello",
        id="a negative node id",
    ),
    pytest.param(
        FrameKind.HELLO,
        VALID[:11] + b"\x00\x00\x00\x03\x00\x00\x00\x01",
        "malformed_hello",
        id="voters out of order",
    ),
    pytest.param(
        FrameKind.HELLO,
        VALID[:11] + b"\x00\x00\x00\x01\x00\x00\x00\x01",
        "malformed_hello",
        id="a voter twice",
    ),
]


@pytest.mark.parametrize(("kind", "body", "reason"), BAD_HELLOS)
def test_a_bad_hello_is_refused_with_its_reason(kind: int, body: bytes, reason: str) -> None:
    with pytest.raises(FrameError) as raised:
        decode_hello(kind, body)
    assert raised.value.reason == reason
    assert "\n" not in str(raised.value)


CHECKS = [
    pytest.param(Hello("other", 4, frozenset({1, 2})), None, "cluster_id", id="another cluster"),
    pytest.param(Hello("c1", 4, frozenset({1, 2, 4})), None, "voter_set", id="another voter set"),
    pytest.param(Hello("c1", 1, frozenset({1, 2})), None, "own_node_id", id="our own node id"),
    pytest.param(
        Hello("c1", 4, frozenset({1, 2})), 2, "unexpected_node_id", id="not who we dialled"
    ),
]


@pytest.mark.parametrize(("hello", "expected", "reason"), CHECKS)
def test_a_hello_that_does_not_fit_this_node_is_refused(
    hello: Hello, expected: int | None, reason: str
) -> None:
    with pytest.raises(FrameError) as raised:
        check_hello(
            hello,
            cluster_id="c1",
            voters=frozenset({1, 2}),
            own_node_id=1,
            expected_node_id=expected,
        )
    assert raised.value.reason == reason


def test_a_hello_that_fits_passes_its_checks() -> None:
    check_hello(
        Hello("c1", 2, frozenset({1, 2})),
        cluster_id="c1",
        voters=frozenset({1, 2}),
        own_node_id=1,
        expected_node_id=2,
    )


@pytest.mark.parametrize(
    ("length", "reason"),
    [pytest.param(0, "empty_frame", id="zero"), pytest.param(101, "frame_too_large", id="over")],
)
def test_frame_lengths_outside_the_bounds_are_refused(length: int, reason: str) -> None:
    with pytest.raises(FrameError) as raised:
        check_frame_length(length, 100)
    assert raised.value.reason == reason
    check_frame_length(100, 100)


def test_an_rpc_body_splits_into_its_request_id_and_payload() -> None:
    assert split_rpc_body(REQUEST_ID.pack(7) + b"{}") == (7, b"{}")
    with pytest.raises(FrameError, match="no request id"):
        split_rpc_body(b"\x00\x01")


# -- the link table -------------------------------------------------------------------


@dataclass
class FakeConnection:
    outbound: bool
    closed: bool = False


def _link(links: PeerLinks, node_id: int, connection: FakeConnection) -> bool:
    return links.add(node_id, cast(QuorumConnection, connection))


def test_a_node_is_connected_from_its_first_link_until_its_last_is_gone() -> None:
    links = PeerLinks()
    inbound, outbound = FakeConnection(outbound=False), FakeConnection(outbound=True)
    assert _link(links, 2, inbound) is True
    assert _link(links, 2, outbound) is False
    assert links.nodes == {2}
    assert links.remove(2, cast(QuorumConnection, inbound)) is False
    assert links.remove(2, cast(QuorumConnection, outbound)) is True
    assert links.nodes == frozenset()
    assert links.remove(2, cast(QuorumConnection, outbound)) is False


def test_frames_go_on_our_own_open_link_first_then_on_the_newest_inbound_one() -> None:
    links = PeerLinks()
    old_in, new_in = FakeConnection(False), FakeConnection(False)
    ours = FakeConnection(True)
    for connection in (old_in, ours, new_in):
        _link(links, 2, connection)
    assert links.route(2) is cast(QuorumConnection, ours)
    ours.closed = True
    assert links.route(2) is cast(QuorumConnection, new_in)
    new_in.closed = old_in.closed = True
    assert links.route(2) is None
    assert links.route(9) is None


# -- reconnect delay and logging ------------------------------------------------------


def _config(**overrides: Any) -> QuorumTransportConfig:
    return QuorumTransportConfig(1, "c1", {1: HostPort("127.0.0.1", 0)}, **overrides)


def test_the_reconnect_delay_doubles_up_to_its_cap_with_jitter_in_the_upper_half() -> None:
    config = _config(reconnect_backoff_min_s=0.1, reconnect_backoff_max_s=1.0)
    rng = random.Random(3)
    for failures, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (60, 1.0)]:
        for _ in range(50):
            assert ceiling / 2 <= config.reconnect_delay_s(failures, rng) <= ceiling
    delays = [config.reconnect_delay_s(5, random.Random(seed)) for seed in range(20)]
    assert len(set(delays)) == 20  # jittered, so restarted nodes do not dial in step
    assert delays == [config.reconnect_delay_s(5, random.Random(seed)) for seed in range(20)]


def test_the_rate_limited_log_warns_once_per_reason_per_interval_and_counts_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, "test.quorum")
    now = [0.0]
    limited = RateLimitedLog(logging.getLogger("test.quorum"), lambda: now[0], 10.0)
    for _ in range(3):
        limited.warning("garbage", "refused %s", "x")
    limited.warning("other", "refused %s", "y")
    now[0] = 10.0
    limited.warning("garbage", "refused %s", "z")
    levels = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert levels == [
        (logging.WARNING, "refused x"),
        (logging.DEBUG, "refused x"),
        (logging.DEBUG, "refused x"),
        (logging.WARNING, "refused y"),
        (logging.WARNING, "refused z (2 more like it since the last warning)"),
    ]
