"""Every advertised API version, fed arbitrary well-typed requests, gets a response
that the same version's kio decoder reads back with the right correlation id.

Requests come from Hypothesis strategies derived from kio's dataclasses; topic names
are biased towards an existing topic so handlers take their success paths too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import inspect
import io
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kio.index import load_request_schema, load_response_schema
from kio.schema.types import TopicName
from kio.serial import entity_reader, entity_writer
from kio.static import primitive

from broker.config import BrokerConfig
from broker.protocol.apis import SUPPORTED, ApiKey, request_is_flexible, response_header_flexible
from broker.records.record import Record, build_batch
from broker.server.context import NO_RESPONSE
from broker.server.dispatch import Dispatcher
from contracts.clock import ManualClock
from tests.support.local_broker import local_broker

for _name in dir(primitive):
    _obj = getattr(primitive, _name)
    if isinstance(_obj, type) and hasattr(_obj, "__hypothesis_hook__"):
        _obj.__hypothesis_hook__()
_valid_batches = st.builds(
    lambda values: build_batch([Record(v, timestamp_ms=1000) for v in values]),
    st.lists(st.binary(max_size=20), min_size=1, max_size=3),
)
st.register_type_strategy(
    primitive.Records,
    st.one_of(_valid_batches, _valid_batches, st.binary(max_size=80)).map(primitive.Records),
)
st.register_type_strategy(
    TopicName,
    st.one_of(st.just("existing"), st.just("existing"), st.text(max_size=12)),
)

CASES = [
    (key, version)
    for key, api in sorted(SUPPORTED.items())
    for version in range(api.min_version, api.max_version + 1)
    if api.decodable(version)
]


def _tame(request: Any) -> Any:
    """Keep generated requests cheap: short long-polls, few partitions."""
    changes: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(request)}
    if "max_wait" in names:
        wait_ms = min(20.0, abs(request.max_wait.total_seconds() * 1000))
        changes["max_wait"] = datetime.timedelta(milliseconds=wait_ms)
    if "retention_time" in names:
        # kio cannot decode int64 millisecond values beyond timedelta's range.
        changes["retention_time"] = datetime.timedelta(milliseconds=-1)
    if "topics" in names and request.topics and hasattr(request.topics[0], "num_partitions"):
        changes["topics"] = tuple(
            dataclasses.replace(t, num_partitions=t.num_partitions % 4) for t in request.topics
        )
    if "topics" in names and request.topics and hasattr(request.topics[0], "count"):
        changes["topics"] = tuple(dataclasses.replace(t, count=t.count % 4) for t in request.topics)
    return dataclasses.replace(request, **changes) if changes else request


def _frame(key: int, version: int, correlation_id: int, request: Any) -> bytes:
    header = struct.pack(">hhih", key, version, correlation_id, 4) + b"test"
    if request_is_flexible(key, version):
        header += b"\x00"
    body = io.BytesIO()
    entity_writer(type(request))(body, request)
    return header + body.getvalue()


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def dispatcher(
    tmp_path_factory: pytest.TempPathFactory, loop: asyncio.AbstractEventLoop
) -> Iterator[Dispatcher]:
    config = BrokerConfig(data_dir=tmp_path_factory.mktemp("data"), auto_create_topics=False)
    broker = local_broker(config, ManualClock(), loop)
    broker.metadata.create_topic("existing", 2)
    yield Dispatcher(broker.services)
    broker.close(loop)


@pytest.mark.parametrize(
    ("key", "version"), CASES, ids=[f"api {k} v{v} answers in its own version" for k, v in CASES]
)
def test_every_advertised_version_answers_decodable_responses(
    dispatcher: Dispatcher, loop: asyncio.AbstractEventLoop, key: int, version: int
) -> None:
    request_cls = load_request_schema(key, version)
    response_cls = load_response_schema(key, version)
    reader = entity_reader(response_cls)

    @settings(
        max_examples=10,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
        ],
    )
    @given(request=st.from_type(request_cls), correlation_id=st.integers(0, 2**31 - 1))
    def check(request: Any, correlation_id: int) -> None:
        request = _tame(request)
        frame = _frame(key, version, correlation_id, request)
        dispatched = dispatcher.dispatch(frame, "User:test", "test")
        reply = dispatched.reply
        if inspect.isawaitable(reply):
            try:
                reply = loop.run_until_complete(asyncio.wait_for(reply, 0.5))
            except TimeoutError:
                # Only a join or sync may legitimately wait for other members.
                assert key in (ApiKey.JOIN_GROUP, ApiKey.SYNC_GROUP)
                return
        buffers = dispatcher.encode(dispatched, reply)
        if reply is NO_RESPONSE:
            assert buffers is None
            return
        assert buffers is not None
        raw = b"".join(bytes(b) for b in buffers)
        (size,) = struct.unpack_from(">i", raw)
        assert size == len(raw) - 4
        (got_correlation,) = struct.unpack_from(">i", raw, 4)
        assert got_correlation == correlation_id
        offset = 8 + (1 if response_header_flexible(key, version) else 0)
        _, consumed = reader(raw, offset)
        assert offset + consumed == len(raw)

    check()


def test_errors_nested_in_control_plane_responses_reach_request_metrics() -> None:
    from kio.schema.delete_groups.v2.response import DeletableGroupResult, DeleteGroupsResponse
    from kio.schema.errors import ErrorCode
    from kio.schema.types import GroupId
    from kio.static.primitive import i32Timedelta

    from broker.server.dispatch import first_error

    no_throttle = i32Timedelta.parse(datetime.timedelta(0))
    response = DeleteGroupsResponse(
        throttle_time=no_throttle,
        results=(
            DeletableGroupResult(group_id=GroupId("ok"), error_code=ErrorCode.none),
            DeletableGroupResult(group_id=GroupId("busy"), error_code=ErrorCode.non_empty_group),
        ),
    )
    assert first_error(response) is ErrorCode.non_empty_group
    clean = DeleteGroupsResponse(throttle_time=no_throttle, results=())
    assert first_error(clean) is None
