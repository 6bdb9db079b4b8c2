"""The leader's side of replication in the request handlers, without sockets: node 0
leads a partition replicated on brokers 0, 1 and 2 (1 and 2 registered, driven by the
test). Followers read past the high watermark, consumers do not; a fetch from a broker
that is no replica is refused with a reason and changes nothing; OffsetsForLeaderEpoch
and ListOffsets answer from the leader's epochs; stale and future leader epochs are
told apart."""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kio.schema.errors import ErrorCode
from kio.serial import entity_reader

from broker.cluster.partition import Partition
from broker.protocol.apis import ApiKey, request_class, response_class
from broker.protocol.header import RequestHeader
from broker.records.record import Record, build_batch
from broker.server.context import RawBody, RequestContext
from broker.server.handlers import fetch, leader_epochs, list_offsets
from tests.interop.wire import build, nested
from tests.support.local_broker import LocalBroker, leader_of_three_replicas

TOPIC = "replicated"
FETCH_VERSION = 12


@pytest.fixture
def leader(tmp_path: Path) -> Iterator[LocalBroker]:
    with leader_of_three_replicas(tmp_path / "data", TOPIC) as broker:
        yield broker


def _partition(broker: LocalBroker) -> Partition:
    partition = broker.services.replicas.get(TOPIC, 0)
    assert partition is not None and partition.leader is not None
    return partition


def _append(broker: LocalBroker, count: int) -> None:
    batch = build_batch([Record(b"v%d" % i, timestamp_ms=1_000) for i in range(count)])
    broker.services.replicas.append(_partition(broker), batch)


def _ctx(api: ApiKey, version: int) -> RequestContext:
    return RequestContext(RequestHeader(int(api), version, 1, "test", 0), "User:ANONYMOUS", "t")


def _fetch(
    broker: LocalBroker,
    offset: int,
    *,
    replica_id: int = -1,
    current_leader_epoch: int = -1,
    last_fetched_epoch: int = -1,
) -> Any:
    cls = request_class(ApiKey.FETCH, FETCH_VERSION)
    part = build(
        nested(cls, "FetchPartition"),
        partition=0,
        current_leader_epoch=current_leader_epoch,
        fetch_offset=offset,
        last_fetched_epoch=last_fetched_epoch,
        log_start_offset=-1,
        partition_max_bytes=1 << 20,
    )
    request = build(
        cls,
        replica_id=replica_id,
        max_wait=datetime.timedelta(0),
        min_bytes=1,
        max_bytes=1 << 20,
        isolation_level=0,
        session_id=0,
        session_epoch=-1,
        topics=(build(nested(cls, "FetchTopic"), topic=TOPIC, partitions=(part,)),),
        forgotten_topics_data=(),
        rack_id="",
    )
    reply = fetch.handle(broker.services, _ctx(ApiKey.FETCH, FETCH_VERSION), request)
    if not isinstance(reply, RawBody):
        reply = asyncio.run(reply)  # type: ignore[arg-type]
    assert isinstance(reply, RawBody)
    body = b"".join(bytes(p) for p in reply.parts)
    response: Any
    response, _ = entity_reader(response_class(ApiKey.FETCH, FETCH_VERSION))(body, 0)
    ((answer,),) = (t.partitions for t in response.responses)
    return answer


def test_a_follower_reads_to_the_log_end_and_a_consumer_to_the_high_watermark(
    leader: LocalBroker,
) -> None:
    _append(leader, 3)
    consumer = _fetch(leader, 0)
    follower = _fetch(leader, 0, replica_id=1)
    assert (consumer.error_code, consumer.high_watermark, consumer.records) == (0, 0, b"")
    assert follower.error_code == 0 and follower.high_watermark == 0
    assert len(follower.records) > 0


def test_the_high_watermark_advances_when_every_isr_follower_has_fetched_past_it(
    leader: LocalBroker,
) -> None:
    _append(leader, 3)
    assert _fetch(leader, 3, replica_id=1).high_watermark == 0  # follower 2 holds it back
    assert _fetch(leader, 3, replica_id=2).high_watermark == 3
    assert _partition(leader).high_watermark == 3
    assert len(_fetch(leader, 0).records) > 0


def test_a_fetch_from_a_broker_that_is_no_replica_is_refused_with_a_reason(
    leader: LocalBroker, caplog: pytest.LogCaptureFixture
) -> None:
    _append(leader, 3)
    partition = _partition(leader)
    before = (partition.high_watermark, partition.leader.isr if partition.leader else ())
    with caplog.at_level(logging.WARNING):
        answer = _fetch(leader, 3, replica_id=7)
    assert answer.error_code == ErrorCode.not_leader_or_follower
    assert answer.records in (None, b"")
    assert "broker 7, which is not a follower" in caplog.text
    assert leader.services.replicas.replica_fetch_refusals == {"NOT_LEADER_OR_FOLLOWER": 1}
    after = (partition.high_watermark, partition.leader.isr if partition.leader else ())
    assert after == before


def test_a_follower_whose_last_epoch_ends_earlier_here_gets_the_diverging_epoch(
    leader: LocalBroker,
) -> None:
    _append(leader, 3)
    epoch = _partition(leader).leader_epoch
    answer = _fetch(leader, 5, replica_id=1, last_fetched_epoch=epoch)
    assert answer.error_code == 0 and answer.records in (None, b"")
    assert (answer.diverging_epoch.epoch, answer.diverging_epoch.end_offset) == (epoch, 3)


@pytest.mark.parametrize(
    ("offset", "code"),
    [(-1, ErrorCode.offset_out_of_range), (4, ErrorCode.offset_out_of_range)],
    ids=["below the log start", "past the log end"],
)
def test_a_follower_fetch_out_of_range_learns_the_log_start_and_high_watermark(
    leader: LocalBroker, offset: int, code: ErrorCode
) -> None:
    _append(leader, 3)
    answer = _fetch(leader, offset, replica_id=1)
    assert answer.error_code == code
    assert (answer.log_start_offset, answer.high_watermark) == (0, 0)


@pytest.mark.parametrize(
    ("delta", "code"),
    [(1, ErrorCode.unknown_leader_epoch), (0, ErrorCode.none)],
    ids=["a newer epoch is unknown", "the current epoch passes"],
)
def test_a_consumer_fetch_checks_the_current_leader_epoch(
    leader: LocalBroker, delta: int, code: ErrorCode
) -> None:
    # An older epoch (FENCED_LEADER_EPOCH) needs a leader change: see the cluster tests.
    epoch = _partition(leader).leader_epoch
    assert _fetch(leader, 0, current_leader_epoch=epoch + delta).error_code == code


@pytest.mark.parametrize("version", [2, 3, 4], ids=lambda v: f"v{v}")
def test_offsets_for_leader_epoch_answers_where_each_epoch_ends(
    leader: LocalBroker, version: int
) -> None:
    _append(leader, 3)
    epoch = _partition(leader).leader_epoch
    cls = request_class(ApiKey.OFFSET_FOR_LEADER_EPOCH, version)

    def ask(wanted_epoch: int, current: int = -1) -> Any:
        part = build(
            nested(cls, "OffsetForLeaderPartition"),
            partition=0,
            current_leader_epoch=current,
            leader_epoch=wanted_epoch,
        )
        request = build(
            cls,
            replica_id=1,
            topics=(build(nested(cls, "OffsetForLeaderTopic"), topic=TOPIC, partitions=(part,)),),
        )
        response = leader_epochs.handle(
            leader.services, _ctx(ApiKey.OFFSET_FOR_LEADER_EPOCH, version), request
        )
        ((answer,),) = (t.partitions for t in response.topics)
        return answer

    latest = ask(epoch)
    assert (latest.error_code, latest.leader_epoch, latest.end_offset) == (0, epoch, 3)
    assert ask(epoch, current=epoch + 1).error_code == ErrorCode.unknown_leader_epoch
    unknown = ask(-1)
    assert (unknown.leader_epoch, unknown.end_offset) == (-1, -1)


def test_list_offsets_gives_a_follower_the_log_end_and_a_consumer_the_high_watermark(
    leader: LocalBroker,
) -> None:
    _append(leader, 3)
    cls = request_class(ApiKey.LIST_OFFSETS, 7)

    def latest(replica_id: int) -> int:
        part = build(
            nested(cls, "ListOffsetsPartition"),
            partition_index=0,
            current_leader_epoch=-1,
            timestamp=-1,
        )
        request = build(
            cls,
            replica_id=replica_id,
            isolation_level=0,
            topics=(build(nested(cls, "ListOffsetsTopic"), name=TOPIC, partitions=(part,)),),
        )
        response = list_offsets.handle(leader.services, _ctx(ApiKey.LIST_OFFSETS, 7), request)
        ((answer,),) = (t.partitions for t in response.topics)
        assert answer.error_code == 0
        return int(answer.offset)

    assert (latest(-1), latest(1)) == (0, 3)
