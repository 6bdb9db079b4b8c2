"""The hand-written Produce and Fetch codecs produce exactly kio's bytes."""

from __future__ import annotations

import datetime
import io
import uuid

import pytest
from kio.index import load_request_schema, load_response_schema
from kio.schema.errors import ErrorCode
from kio.serial import entity_reader, entity_writer

from broker.protocol.fetch_codec import (
    FetchPartitionData,
    FetchTopicData,
    encode_fetch_response,
)
from broker.protocol.kio_adapter import encode_entity
from broker.protocol.produce_codec import (
    PartitionResult,
    decode_produce,
    encode_produce_response,
)
from broker.records.record import Record, build_batch

TOPIC_ID = uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def _module(api: str, version: int, kind: str) -> object:
    loader = load_response_schema if kind == "response" else load_request_schema
    key = {"produce": 0, "fetch": 1}[api]
    return __import__(loader(key, version).__module__, fromlist=["x"])


@pytest.mark.parametrize("version", range(3, 10), ids=lambda v: f"produce response v{v}")
def test_produce_response_matches_kio_bytes(version: int) -> None:
    mod = _module("produce", version, "response")
    fields: dict[str, object] = {"index": 3, "error_code": ErrorCode.none, "base_offset": 42}
    fields["log_append_time"] = None
    if version >= 5:
        fields["log_start_offset"] = 7
    if version >= 8:
        fields["record_errors"] = ()
        fields["error_message"] = "boom" if version % 2 else None
    expected = mod.ProduceResponse(  # type: ignore[attr-defined]
        responses=(
            mod.TopicProduceResponse(  # type: ignore[attr-defined]
                name="orders",
                partition_responses=(mod.PartitionProduceResponse(**fields),),  # type: ignore[attr-defined]
            ),
        ),
        throttle_time=datetime.timedelta(0),
    )
    ours = encode_produce_response(
        version,
        [
            (
                "orders",
                [
                    PartitionResult(
                        3,
                        0,
                        42,
                        -1,
                        7 if version >= 5 else -1,
                        error_message=fields.get("error_message"),  # type: ignore[arg-type]
                    )
                ],
            )
        ],
    )
    assert ours == encode_entity(expected)


@pytest.mark.parametrize("version", range(4, 17), ids=lambda v: f"fetch response v{v}")
def test_fetch_response_matches_kio_bytes(version: int) -> None:
    mod = _module("fetch", version, "response")
    batch = build_batch([Record(b"value", key=b"k", timestamp_ms=1000)], base_offset=5)
    fields: dict[str, object] = {
        "partition_index": 1,
        "error_code": ErrorCode.none,
        "high_watermark": 6,
        "last_stable_offset": 6,
        "aborted_transactions": (),
        "records": batch,
    }
    if version >= 5:
        fields["log_start_offset"] = 0
    if version >= 11:
        fields["preferred_read_replica"] = -1
    empty = dict(fields, partition_index=2, error_code=ErrorCode.offset_out_of_range, records=b"")
    topic_key = {"topic_id": TOPIC_ID} if version >= 13 else {"topic": "orders"}
    top: dict[str, object] = {"throttle_time": datetime.timedelta(0)}
    if version >= 7:
        top.update(error_code=ErrorCode.none, session_id=0)
    expected = mod.FetchResponse(  # type: ignore[attr-defined]
        responses=(
            mod.FetchableTopicResponse(  # type: ignore[attr-defined]
                **topic_key,
                partitions=(mod.PartitionData(**fields), mod.PartitionData(**empty)),  # type: ignore[attr-defined]
            ),
        ),
        **top,
    )
    parts = encode_fetch_response(
        version,
        [
            FetchTopicData(
                "orders",
                TOPIC_ID,
                [
                    FetchPartitionData(1, 0, 6, 6, 0, memoryview(batch)),
                    FetchPartitionData(2, 1, 6, 6, 0, b""),
                ],
            )
        ],
    )
    assert b"".join(bytes(p) for p in parts) == encode_entity(expected)


@pytest.mark.parametrize("version", range(3, 10), ids=lambda v: f"produce request v{v}")
def test_produce_request_decoding_matches_kio(version: int) -> None:
    mod = _module("produce", version, "request")
    batch = build_batch([Record(b"v", timestamp_ms=1)])
    request = mod.ProduceRequest(  # type: ignore[attr-defined]
        transactional_id=None,
        acks=-1,
        timeout=datetime.timedelta(milliseconds=1500),
        topic_data=(
            mod.TopicProduceData(  # type: ignore[attr-defined]
                name="orders",
                partition_data=(
                    mod.PartitionProduceData(index=0, records=batch),  # type: ignore[attr-defined]
                    mod.PartitionProduceData(index=4, records=None),  # type: ignore[attr-defined]
                ),
            ),
        ),
    )
    buf = io.BytesIO()
    entity_writer(type(request))(buf, request)
    body = b"junk" + buf.getvalue()
    ours = decode_produce(body, 4, version)
    theirs, _ = entity_reader(type(request))(body, 4)
    assert ours.acks == theirs.acks == -1
    assert ours.timeout_ms == 1500
    assert [
        (name, [(i, None if r is None else bytes(r)) for i, r in parts])
        for name, parts in ours.topics
    ] == [("orders", [(0, batch), (4, None)])]


@pytest.mark.parametrize("version", range(12, 17), ids=lambda v: f"fetch response v{v}")
def test_a_diverging_epoch_is_encoded_as_kios_tagged_field(version: int) -> None:
    mod = _module("fetch", version, "response")
    fields: dict[str, object] = {
        "partition_index": 0,
        "error_code": ErrorCode.none,
        "high_watermark": 9,
        "last_stable_offset": 9,
        "log_start_offset": 0,
        "aborted_transactions": (),
        "preferred_read_replica": -1,
        "records": b"",
        "diverging_epoch": mod.EpochEndOffset(epoch=3, end_offset=7),  # type: ignore[attr-defined]
    }
    topic_key = {"topic_id": TOPIC_ID} if version >= 13 else {"topic": "orders"}
    expected = mod.FetchResponse(  # type: ignore[attr-defined]
        throttle_time=datetime.timedelta(0),
        error_code=ErrorCode.none,
        session_id=0,
        responses=(
            mod.FetchableTopicResponse(  # type: ignore[attr-defined]
                **topic_key,
                partitions=(mod.PartitionData(**fields),),  # type: ignore[attr-defined]
            ),
        ),
    )
    data = FetchPartitionData(0, 0, 9, 9, 0, b"", diverging_epoch=(3, 7))
    parts = encode_fetch_response(version, [FetchTopicData("orders", TOPIC_ID, [data])])
    assert b"".join(bytes(p) for p in parts) == encode_entity(expected)
