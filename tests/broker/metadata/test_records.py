"""Metadata records: canonical round trips, and strict refusal of anything malformed."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.metadata.errors import MetadataRecordError
from broker.metadata.records import (
    RECORD_TYPES,
    Listener,
    MetadataRecord,
    Partition,
    PartitionChange,
    RegisterBroker,
    Topic,
    decode_record,
    encode_record,
)
from tests.broker.metadata.strategies import records

TOPIC_ID = uuid.UUID("8f2c7b0e-3f41-4c39-9d4c-1c8a5e2b7a10")
PARTITION = Partition(TOPIC_ID, 0, (1, 2, 3), (1, 2), 1, 4, 7)
VALID = encode_record(PARTITION)


@given(records)
def test_every_record_survives_an_encode_decode_round_trip(record: MetadataRecord) -> None:
    data = encode_record(record)
    assert decode_record(data) == record
    assert encode_record(decode_record(data)) == data


@given(records)
def test_the_encoding_is_ascii_sorted_and_without_spaces(record: MetadataRecord) -> None:
    text = encode_record(record).decode("ascii")
    assert ": " not in text and ", " not in text
    assert text.startswith('{"data":{')


def test_a_partition_record_has_a_stable_readable_encoding() -> None:
    assert VALID == (
        b'{"data":{"isr":[1,2],"leader":1,"leader_epoch":4,"partition_epoch":7,'
        b'"partition_index":0,"replicas":[1,2,3],'
        b'"topic_id":"8f2c7b0e-3f41-4c39-9d4c-1c8a5e2b7a10"},"type":"partition","version":1}'
    )


def _swap(old: bytes, new: bytes) -> bytes:
    assert old in VALID
    return VALID.replace(old, new)


MALFORMED = [
    pytest.param(b"\xff\xfe", "not UTF-8", id="bytes that are not utf-8 are refused"),
    pytest.param(b"{", "not JSON", id="truncated json is refused"),
    pytest.param(b"[]", "expected an object", id="an array instead of an object is refused"),
    pytest.param(
        VALID + b" ", "canonical", id="trailing whitespace makes the encoding non canonical"
    ),
    pytest.param(
        b'{"type":"partition","data":{},"version":1}',
        "canonical",
        id="unsorted keys are refused",
    ),
    pytest.param(
        _swap(b'"type":"partition"', b'"type":"partitionz"'),
        "unknown type 'partitionz'",
        id="an unknown record type is refused",
    ),
    pytest.param(
        _swap(b'"version":1', b'"version":9'),
        "unsupported version 9",
        id="an unknown version is refused",
    ),
    pytest.param(
        _swap(b'"leader_epoch":4,', b""),
        "missing field 'leader_epoch'",
        id="a missing field is refused",
    ),
    pytest.param(
        _swap(b'"isr":[1,2],', b'"extra":1,"isr":[1,2],'),
        "unexpected field 'extra'",
        id="an extra field is refused",
    ),
    pytest.param(
        _swap(b'"leader":1', b'"leader":true'),
        "leader: expected an integer",
        id="a boolean where an integer belongs is refused",
    ),
    pytest.param(
        _swap(b'"leader":1', b'"leader":"1"'),
        "leader: expected an integer",
        id="a string where an integer belongs is refused",
    ),
    pytest.param(
        _swap(b'"leader":1', b'"leader":1.5'),
        "not an integer",
        id="a float is refused",
    ),
    pytest.param(
        _swap(b'"leader_epoch":4', b'"leader_epoch":-1'),
        "leader_epoch: -1 is outside",
        id="a negative epoch is refused",
    ),
    pytest.param(
        _swap(b'"partition_epoch":7', b'"partition_epoch":2147483648'),
        "partition_epoch: 2147483648 is outside",
        id="an epoch beyond int32 is refused",
    ),
    pytest.param(
        _swap(b'"leader":1', b'"leader":3'),
        "leader 3 is not in the ISR",
        id="a leader outside the isr is refused",
    ),
    pytest.param(
        _swap(b'"isr":[1,2]', b'"isr":[1,4]'),
        "not a subset of replicas",
        id="an isr outside the replicas is refused",
    ),
    pytest.param(
        _swap(b'"replicas":[1,2,3]', b'"replicas":[1,2,2]'),
        "duplicates",
        id="duplicate replicas are refused",
    ),
    pytest.param(
        _swap(b'"topic_id":"8f2c7b0e', b'"topic_id":"8F2C7B0E'),
        "canonical form",
        id="an upper case uuid is refused",
    ),
    pytest.param(
        _swap(b'"8f2c7b0e-3f41-4c39-9d4c-1c8a5e2b7a10"', b'"00000000-0000-0000-0000-000000000000"'),
        "zero UUID",
        id="the zero uuid as a topic id is refused",
    ),
    pytest.param(
        _swap(b'"leader":1', b'"leader":1,"leader":1'),
        "duplicate key 'leader'",
        id="duplicate keys are refused",
    ),
    pytest.param(
        _swap(b'"leader":1', b'"leader":NaN'),
        "not an integer",
        id="nan is refused",
    ),
    pytest.param(b"1" * 5000, "not JSON", id="an absurdly long number is refused"),
    pytest.param(b"[" * 100_000, "not JSON", id="absurdly deep nesting is refused"),
]


@pytest.mark.parametrize(("data", "reason"), MALFORMED)
def test_malformed_records_are_refused_with_a_one_line_reason(data: bytes, reason: str) -> None:
    with pytest.raises(MetadataRecordError) as raised:
        decode_record(data)
    assert reason in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_record_larger_than_the_limit_is_refused_before_parsing() -> None:
    with pytest.raises(MetadataRecordError, match="exceeds"):
        decode_record(b" " * (1024 * 1024 + 1))


@settings(max_examples=2000)
@given(st.binary(max_size=300))
def test_random_bytes_either_decode_canonically_or_raise_metadata_record_error(data: bytes) -> None:
    try:
        record = decode_record(data)
    except MetadataRecordError:
        return
    assert encode_record(record) == data


@settings(max_examples=400)
@given(records, st.data())
def test_mutated_valid_records_either_decode_canonically_or_raise_metadata_record_error(
    record: MetadataRecord, data: st.DataObject
) -> None:
    encoded = bytearray(encode_record(record))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(encoded) - 1))
        encoded[position] = data.draw(st.integers(0, 255))
    try:
        decoded = decode_record(bytes(encoded))
    except MetadataRecordError:
        return
    assert encode_record(decoded) == bytes(encoded)


CONSTRUCTION = [
    pytest.param(
        lambda: PartitionChange(TOPIC_ID, 0, None, None, 0, 1),
        "neither leader nor ISR",
        id="a partition change that changes nothing cannot be built",
    ),
    pytest.param(
        lambda: PartitionChange(TOPIC_ID, 0, 5, (1, 2), 1, 1),
        "not in the ISR",
        id="a partition change electing a leader outside its new isr cannot be built",
    ),
    pytest.param(
        lambda: RegisterBroker(1, uuid.uuid4(), 1, (), None),
        "no listener",
        id="a broker without listeners cannot be registered",
    ),
    pytest.param(
        lambda: Topic("bad name", TOPIC_ID, {}),
        "not legal",
        id="a topic with an illegal name cannot be built",
    ),
    pytest.param(
        lambda: Listener("L", "h", 9092, "PLAIN"),
        "not one of",
        id="a listener with an unknown security protocol cannot be built",
    ),
    pytest.param(
        lambda: Partition(TOPIC_ID, 0, [1], (1,), 1, 0, 0),  # type: ignore[arg-type]
        "expected a tuple",
        id="a list where a tuple belongs is refused even in code",
    ),
]


@pytest.mark.parametrize(("build", "reason"), CONSTRUCTION)
def test_records_that_break_their_own_rules_cannot_be_built(build: object, reason: str) -> None:
    with pytest.raises(MetadataRecordError, match=reason):
        build()  # type: ignore[operator]


def test_topic_configs_are_frozen_and_sorted() -> None:
    topic = Topic("t", TOPIC_ID, {"b": "2", "a": "1"})
    assert list(topic.configs) == ["a", "b"]
    with pytest.raises(TypeError):
        topic.configs["c"] = "3"  # type: ignore[index]


def test_every_record_type_has_a_unique_name_and_a_version() -> None:
    assert len({cls.TYPE for cls in RECORD_TYPES.values()}) == len(RECORD_TYPES)
    assert all(cls.VERSION >= 1 for cls in RECORD_TYPES.values())
