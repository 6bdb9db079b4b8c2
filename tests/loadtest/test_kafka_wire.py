"""The raw client codec checked against an independent implementation (kafka-python)."""

from __future__ import annotations

import struct
import warnings

import hiredis

from loadtest.benchmark import kafka_wire, resp

with warnings.catch_warnings():  # kafka-python 3.0 loads its schemas with a deprecated API
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.record.default_records import DefaultRecordBatch


def test_record_batch_is_read_back_by_kafka_pythons_batch_reader() -> None:
    batch = DefaultRecordBatch(kafka_wire.record_batch(b"hello", 1_700_000_000_123))
    assert batch.validate_crc()
    records = list(batch)
    assert [(r.key, r.value, r.timestamp) for r in records] == [(None, b"hello", 1_700_000_000_123)]


def test_produce_frame_size_prefix_counts_every_following_byte() -> None:
    frame = kafka_wire.produce_frame("t", 0, kafka_wire.record_batch(b"x", 0))
    (size,) = struct.unpack_from(">i", frame)
    assert size == len(frame) - 4
    assert struct.unpack_from(">hh", frame, 4) == (0, kafka_wire.PRODUCE_VERSION)


def test_correlation_id_is_patched_in_place() -> None:
    frame = kafka_wire.metadata_frame(["t"])
    kafka_wire.set_correlation_id(frame, 4242)
    assert struct.unpack_from(">i", frame, kafka_wire.CORRELATION_OFFSET) == (4242,)


def test_frame_splitter_returns_frames_only_once_complete() -> None:
    splitter = kafka_wire.FrameSplitter()
    stream = struct.pack(">i", 6) + b"abcdef" + struct.pack(">i", 4) + b"wxyz"
    assert splitter.feed(stream[:7]) == []
    assert splitter.feed(stream[7:12]) == [b"abcdef"]
    assert splitter.feed(stream[12:]) == [b"wxyz"]


def test_produce_partition_error_reads_the_first_partitions_code() -> None:
    response = (
        struct.pack(">i", 9)  # correlation id
        + struct.pack(">i", 1)  # one topic
        + struct.pack(">h", 1) + b"t"  # its name
        + struct.pack(">i", 1)  # one partition
        + struct.pack(">ih", 0, 6)  # index 0, NOT_LEADER_OR_FOLLOWER
    )  # fmt: skip
    assert kafka_wire.produce_partition_error(response) == 6


def test_resp_commands_parse_as_arrays_of_bulk_strings() -> None:
    reader = hiredis.Reader()
    reader.feed(resp.xadd("s", b"v\r\nalue") + resp.xrange("s", b"(1-2", 10))
    assert reader.gets() == [b"XADD", b"s", b"*", b"v", b"v\r\nalue"]
    assert reader.gets() == [b"XRANGE", b"s", b"(1-2", b"+", b"COUNT", b"10"]
