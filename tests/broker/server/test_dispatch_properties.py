"""Properties of ``Dispatcher.dispatch`` on hostile input, with real storage in a
temporary directory: whatever the bytes, dispatch either answers (and the answer,
awaited briefly when the handler waits, encodes) or raises ``ProtocolViolation``; a
violation never touches storage; and only APIs that exist to change state
(create/delete topics, partitions, configs, producer ids, produce, offset commits,
group deletion) ever change the data directory.
"""

from __future__ import annotations

import asyncio
import io
import random
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kio.serial import entity_writer
from kio.static.primitive import Records
from kio.static.protocol import RequestPayload

from broker.config import BrokerConfig
from broker.protocol.apis import SUPPORTED, ApiKey, request_class
from broker.server.dispatch import Dispatcher, ProtocolViolation, is_pending
from contracts.clock import ManualClock
from tests.broker.robustness import fuzz, wire
from tests.support.local_broker import local_broker

st.register_type_strategy(Records, st.binary(max_size=64).map(Records))

TOPIC = "t"
STATE_CHANGING = {
    ApiKey.PRODUCE,
    ApiKey.CREATE_TOPICS,
    ApiKey.DELETE_TOPICS,
    ApiKey.CREATE_PARTITIONS,
    ApiKey.ALTER_CONFIGS,
    ApiKey.INCREMENTAL_ALTER_CONFIGS,
    ApiKey.INIT_PRODUCER_ID,
    ApiKey.OFFSET_COMMIT,
    ApiKey.DELETE_GROUPS,
}
VIOLATION_REASONS = {"header", "unknown_api", "unsupported_version", "decode"}
DECODABLE = [
    (int(api.key), version)
    for api in SUPPORTED.values()
    for version in range(api.min_version, api.max_version + 1)
    if api.decodable(version) or api.key == ApiKey.PRODUCE
]
PROPERTY = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@dataclass
class Harness:
    dispatcher: Dispatcher
    data_dir: Path
    seeds: list[bytes]
    loop: asyncio.AbstractEventLoop

    def storage(self) -> dict[str, bytes]:
        return {
            str(p.relative_to(self.data_dir)): p.read_bytes()
            for p in sorted(self.data_dir.rglob("*"))
            if p.is_file() and p.name != ".lock"
        }

    def dispatch(self, frame: bytes) -> None:
        """Dispatch ``frame`` and check the properties; returns normally either way."""
        before = self.storage()
        try:
            dispatched = self.dispatcher.dispatch(frame, "User:ANONYMOUS", "127.0.0.1:1")
        except ProtocolViolation as exc:
            violation: ProtocolViolation | None = exc
        else:
            violation = None
        if violation is not None:
            assert violation.reason in VIOLATION_REASONS
            assert self.storage() == before, f"a refused request ({violation}) changed storage"
            return
        reply = dispatched.reply
        if is_pending(reply):  # a group rebalance, long-poll fetch, offset commit...
            reply = self.loop.run_until_complete(_briefly(reply))
        if reply is not None:
            self.dispatcher.encode(dispatched, reply)  # type: ignore[arg-type]
        (api_key,) = struct.unpack_from(">h", frame, 0)
        if api_key not in STATE_CHANGING:
            assert self.storage() == before, f"API {api_key} changed storage"


async def _briefly(reply: Any) -> Any:
    """The reply if it comes within 20 ms (waits on other members or data otherwise)."""
    try:
        return await asyncio.wait_for(reply, 0.02)
    except TimeoutError:
        return None


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    data_dir = tmp_path / "data"
    config = BrokerConfig(data_dir=data_dir, auto_create_topics=False)
    loop = asyncio.new_event_loop()
    broker = local_broker(config, ManualClock(), loop)  # no sockets, no Raft
    app = broker.app
    info = broker.metadata.create_topic(TOPIC, 2)
    for index in range(2):
        partition = app.replicas.get(TOPIC, index)
        assert partition is not None
        for i in range(5):
            app.replicas.append(partition, wire.make_batch([f"v{i}".encode()] * 3))
    services = broker.services
    seeds = fuzz.seed_payloads(TOPIC, info.topic_id, absent_topic="gone")
    try:
        yield Harness(Dispatcher(services), data_dir, seeds, loop)
        broker.close(loop)
    finally:
        loop.close()


@PROPERTY
@given(frame=st.binary(max_size=300))
def test_arbitrary_bytes_are_answered_or_refused_as_a_protocol_violation(
    harness: Harness, frame: bytes
) -> None:
    harness.dispatch(frame)


@PROPERTY
@given(
    key_version=st.sampled_from(DECODABLE),
    correlation_id=st.integers(-(2**31), 2**31 - 1),
    body=st.binary(max_size=300),
    tagged_header=st.booleans(),
)
def test_a_valid_header_with_an_arbitrary_body_is_answered_or_refused(
    harness: Harness,
    key_version: tuple[int, int],
    correlation_id: int,
    body: bytes,
    tagged_header: bool,
) -> None:
    key, version = key_version
    header = struct.pack(">hhih", key, version, correlation_id, -1)
    harness.dispatch(header + (b"\x00" if tagged_header else b"") + body)


@PROPERTY
@given(rng_seed=st.integers(0, 2**32 - 1))
def test_mutated_valid_requests_are_answered_or_refused(harness: Harness, rng_seed: int) -> None:
    _, payload = fuzz.Mutator(harness.seeds, random.Random(rng_seed), 1 << 20).body()
    harness.dispatch(payload)


@pytest.mark.parametrize(
    ("api_key", "version"), DECODABLE, ids=[f"api {k} v{v}" for k, v in DECODABLE]
)
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_well_formed_request_is_answered_and_the_answer_encodes(
    harness: Harness, api_key: int, version: int, data: st.DataObject
) -> None:
    cls = request_class(api_key, version) if version >= 3 or api_key != 0 else None
    if cls is None:  # Produce v0-2: kio has no classes; answered by hand
        return
    entity = data.draw(st.from_type(cls))
    if api_key == ApiKey.CREATE_TOPICS:  # keep disk work small: few partitions
        entity = _with_small_partition_counts(entity)
    buf = io.BytesIO()
    entity_writer(cls)(buf, entity)
    frame = wire.header(api_key, version, 1, flexible=bool(cls.__flexible__)) + buf.getvalue()
    harness.dispatch(frame)


_Request = TypeVar("_Request", bound=RequestPayload)


def _with_small_partition_counts(entity: _Request) -> _Request:
    from dataclasses import replace

    topics = tuple(
        replace(
            t, num_partitions=min(abs(t.num_partitions), 3) or 1, name=f"x{uuid.uuid4().hex[:8]}"
        )
        # Only CreateTopics requests come here; its kio versions share no type with topics.
        for t in entity.topics  # type: ignore[union-attr]
    )
    return replace(entity, topics=topics)
