"""The follower's requests in kio types and its leader's answers in the core's types:
partitions grouped by topic with their epochs, requests that survive a wire round trip
through the broker's own decoder, and answers (errors, diverging epochs) mapped back."""

from __future__ import annotations

import datetime
from typing import Any

from kio.schema.errors import ErrorCode
from kio.schema.fetch.v12 import response as fetch_response
from kio.schema.list_offsets.v7 import response as offsets_response
from kio.schema.offset_for_leader_epoch.v4 import response as epoch_response

from broker.error_codes import KafkaError
from broker.protocol.kio_adapter import decode_request, encode_entity, encode_request
from broker.protocol.replica_requests import (
    LATEST_TIMESTAMP,
    ReplicaFetchLimits,
    epoch_answers,
    epoch_request,
    fetch_answers,
    fetch_request,
    kafka_error,
    offsets_answers,
    offsets_request,
)
from broker.replication import EpochRequest, FetchRequest, LeaderOffsetsRequest
from broker.storage.epoch_cache import EpochEndOffset
from tests.interop.wire import build

ZERO = datetime.timedelta(0)


def test_a_fetch_groups_partitions_by_topic_and_carries_the_followers_position() -> None:
    wanted = [
        (("a", 0), FetchRequest(0, 2, current_leader_epoch=4, fetch_offset=10,
                                last_fetched_epoch=3, log_start_offset=1)),
        (("b", 1), FetchRequest(1, 2, 4, 20, 4, 0)),
        (("a", 2), FetchRequest(2, 2, 4, 30, 4, 0)),
    ]  # fmt: skip
    request = fetch_request(7, wanted, ReplicaFetchLimits(max_wait_ms=250))
    assert request.replica_id == 7 and request.max_wait == datetime.timedelta(milliseconds=250)
    assert [(t.topic, [p.partition for p in t.partitions]) for t in request.topics] == [
        ("a", [0, 2]),
        ("b", [1]),
    ]
    first = request.topics[0].partitions[0]
    assert (first.current_leader_epoch, first.fetch_offset, first.last_fetched_epoch) == (4, 10, 3)
    assert first.log_start_offset == 1


def test_the_requests_decode_on_the_broker_as_sent() -> None:
    requests: list[Any] = [
        fetch_request(3, [(("t", 0), FetchRequest(0, 1, 2, 5, 2, 0))], ReplicaFetchLimits()),
        epoch_request(3, [(("t", 0), EpochRequest(0, 1, 2, 2))]),
        offsets_request(3, [(("t", 0), LeaderOffsetsRequest(0, 1, 2))], LATEST_TIMESTAMP),
    ]
    for request in requests:
        frame = encode_request(request, 42, "follower")
        (api_key, version) = int(request.__api_key__), int(request.__version__)
        header_size = 2 + 2 + 4 + 2 + len("follower") + 1  # key, version, id, client, tags
        decoded, trailing = decode_request(api_key, version, frame, header_size)
        assert (decoded, trailing) == (request, 0)


def _fetch_partition(index: int, error: ErrorCode, **fields: object) -> Any:
    values: dict[str, object] = {
        "partition_index": index,
        "error_code": error,
        "high_watermark": 9,
        "last_stable_offset": 9,
        "log_start_offset": 2,
        "aborted_transactions": (),
        "preferred_read_replica": -1,
        "records": b"",
    }
    values.update(fields)
    return build(fetch_response.PartitionData, **values)


def test_fetch_answers_carry_errors_watermarks_and_diverging_epochs() -> None:
    response = build(
        fetch_response.FetchResponse,
        throttle_time=ZERO,
        error_code=ErrorCode.none,
        session_id=0,
        responses=(
            build(
                fetch_response.FetchableTopicResponse,
                topic="t",
                partitions=(
                    _fetch_partition(0, ErrorCode.none, records=b"batch"),
                    _fetch_partition(
                        1,
                        ErrorCode.none,
                        diverging_epoch=build(fetch_response.EpochEndOffset, epoch=3, end_offset=7),
                    ),
                    _fetch_partition(2, ErrorCode.fenced_leader_epoch),
                ),
            ),
        ),
    )
    answers = fetch_answers(response)
    assert answers[("t", 0)].records == b"batch"
    assert (answers[("t", 0)].high_watermark, answers[("t", 0)].log_start_offset) == (9, 2)
    assert answers[("t", 0)].diverging_epoch is None
    assert answers[("t", 1)].diverging_epoch == EpochEndOffset(3, 7)
    assert answers[("t", 2)].error is KafkaError.FENCED_LEADER_EPOCH


def test_a_request_level_fetch_error_answers_every_partition() -> None:
    response = build(
        fetch_response.FetchResponse,
        throttle_time=ZERO,
        error_code=ErrorCode.unknown_server_error,
        session_id=0,
        responses=(
            build(
                fetch_response.FetchableTopicResponse,
                topic="t",
                partitions=(_fetch_partition(0, ErrorCode.none),),
            ),
        ),
    )
    assert fetch_answers(response)[("t", 0)].error is KafkaError.UNKNOWN_SERVER_ERROR


def test_epoch_and_offset_answers_map_back_by_partition() -> None:
    epochs = build(
        epoch_response.OffsetForLeaderEpochResponse,
        throttle_time=ZERO,
        topics=(
            build(
                epoch_response.OffsetForLeaderTopicResult,
                topic="t",
                partitions=(
                    build(
                        epoch_response.EpochEndOffset,
                        error_code=ErrorCode.none,
                        partition=0,
                        leader_epoch=2,
                        end_offset=50,
                    ),
                ),
            ),
        ),
    )
    assert epoch_answers(epochs) == {("t", 0): (KafkaError.NONE, EpochEndOffset(2, 50))}
    offsets = build(
        offsets_response.ListOffsetsResponse,
        throttle_time=ZERO,
        topics=(
            build(
                offsets_response.ListOffsetsTopicResponse,
                name="t",
                partitions=(
                    build(
                        offsets_response.ListOffsetsPartitionResponse,
                        partition_index=0,
                        error_code=ErrorCode.none,
                        offset=80,
                    ),
                ),
            ),
        ),
    )
    assert offsets_answers(offsets) == {("t", 0): (KafkaError.NONE, 80)}
    assert encode_entity(offsets)  # a well-formed response


def test_an_error_code_the_broker_does_not_name_is_an_unknown_server_error() -> None:
    assert kafka_error(ErrorCode.corrupt_message.value) is KafkaError.UNKNOWN_SERVER_ERROR
    assert kafka_error(ErrorCode.not_leader_or_follower.value) is KafkaError.NOT_LEADER_OR_FOLLOWER
