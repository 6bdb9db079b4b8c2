"""The v2 record batch layer: validation, offset patching and record round trips."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.records.batch import (
    Compression,
    CorruptBatchError,
    check_batch,
    check_record_framing,
    parse_header,
    patch_offsets,
    split_batches,
    whole_batches_prefix,
)
from broker.records.codecs import compress, decompress
from broker.records.record import Record, build_batch, decode_batch
from tests.broker.records.undecodable import undecodable_batch

RECORDS = [
    Record(b"v1", key=b"k1", timestamp_ms=1000, headers=(("h", b"x"),)),
    Record(None, key=None, timestamp_ms=1005),
    Record(b"\x00\xff" * 100, key=b"", timestamp_ms=999, headers=(("n", None),)),
]


def test_built_batch_passes_validation_and_reports_its_fields() -> None:
    batch = build_batch(RECORDS, base_offset=7, producer_id=3, producer_epoch=1, base_sequence=10)
    header = check_batch(batch)
    assert header.base_offset == 7
    assert header.records_count == 3
    assert header.last_offset_delta == 2
    assert header.next_offset == 10
    assert header.max_timestamp == 1005
    assert header.base_timestamp == 999
    assert header.producer_id == 3
    assert header.last_sequence == 12
    assert header.size == len(batch)


@pytest.mark.parametrize(
    "codec", list(Compression), ids=lambda c: f"{c.name.lower()} records round-trip"
)
def test_records_round_trip_through_every_codec(codec: Compression) -> None:
    batch = build_batch(RECORDS, base_offset=100, compression=codec)
    assert check_batch(batch).compression == codec
    decoded = decode_batch(batch)
    assert [(r.key, r.value, r.timestamp_ms, r.headers) for r in decoded] == [
        (r.key, r.value, r.timestamp_ms, r.headers) for r in RECORDS
    ]
    assert [r.offset for r in decoded] == [100, 101, 102]


def test_patching_offsets_keeps_the_crc_valid() -> None:
    batch = bytearray(build_batch(RECORDS))
    patch_offsets(batch, 123456789, 42)
    header = check_batch(batch)
    assert header.base_offset == 123456789
    assert header.partition_leader_epoch == 42


def test_a_flipped_payload_byte_fails_the_crc() -> None:
    batch = bytearray(build_batch(RECORDS))
    batch[-1] ^= 0x01
    with pytest.raises(CorruptBatchError, match="CRC mismatch"):
        check_batch(batch)


def test_a_truncated_batch_is_reported_as_truncated() -> None:
    batch = build_batch(RECORDS)
    with pytest.raises(CorruptBatchError, match="truncated"):
        check_batch(batch[:-3])
    with pytest.raises(CorruptBatchError, match="truncated"):
        check_batch(batch[:20])


def test_a_wrong_magic_is_rejected() -> None:
    batch = bytearray(build_batch(RECORDS))
    batch[16] = 1
    with pytest.raises(CorruptBatchError, match="magic 1"):
        check_batch(batch)


def test_a_length_shorter_than_a_header_is_rejected() -> None:
    batch = bytearray(build_batch(RECORDS))
    struct.pack_into(">i", batch, 8, 10)
    with pytest.raises(CorruptBatchError, match="shorter than a header"):
        check_batch(batch)


def test_split_batches_validates_each_batch_in_a_buffer() -> None:
    first = build_batch(RECORDS[:1], base_offset=0)
    second = build_batch(RECORDS[1:], base_offset=1)
    headers = split_batches(first + second)
    assert [h.base_offset for h in headers] == [0, 1]
    with pytest.raises(CorruptBatchError):
        split_batches(first + second[:-1])


def test_whole_batches_prefix_stops_at_a_batch_boundary() -> None:
    first = build_batch(RECORDS[:1])
    second = build_batch(RECORDS[1:], base_offset=1)
    data = first + second
    assert whole_batches_prefix(data, len(data)) == (len(data), 2)
    assert whole_batches_prefix(data, len(data) - 1) == (len(first), 1)
    assert whole_batches_prefix(data, 5) == (0, 0)


def test_xerial_framed_snappy_from_the_java_client_decompresses() -> None:
    import cramjam

    payload = b"hello kafka " * 50
    block = bytes(cramjam.snappy.compress_raw(payload))
    framed = b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1) + struct.pack(">i", len(block)) + block
    assert decompress(Compression.SNAPPY, framed) == payload
    assert decompress(Compression.SNAPPY, compress(Compression.SNAPPY, payload)) == payload


_blobs = st.one_of(st.none(), st.binary(max_size=64))
_records = st.lists(
    st.builds(
        Record,
        value=_blobs,
        key=_blobs,
        timestamp_ms=st.integers(0, 2**40),
        headers=st.lists(st.tuples(st.text(max_size=8), _blobs), max_size=3).map(tuple),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(records=_records, codec=st.sampled_from(list(Compression)), base=st.integers(0, 2**40))
def test_any_records_survive_encoding_and_decoding(
    records: list[Record], codec: Compression, base: int
) -> None:
    batch = build_batch(records, base_offset=base, compression=codec)
    header = parse_header(batch)
    assert header.records_count == len(records)
    decoded = decode_batch(batch)
    assert [(r.key, r.value, r.timestamp_ms, r.headers) for r in decoded] == [
        (r.key, r.value, r.timestamp_ms, r.headers) for r in records
    ]


@settings(max_examples=100, deadline=None)
@given(records=_records)
def test_record_framing_accepts_every_well_formed_uncompressed_batch(records: list[Record]) -> None:
    batch = build_batch(records)
    check_record_framing(batch, parse_header(batch))


def test_record_framing_rejects_garbage_records_behind_a_valid_crc() -> None:
    batch = bytearray(build_batch(RECORDS))
    batch[61:] = b"\xff" * (len(batch) - 61)
    with pytest.raises(CorruptBatchError, match=r"varint|records do not fill"):
        check_record_framing(batch, parse_header(batch))


def test_record_framing_rejects_a_record_count_that_does_not_match() -> None:
    batch = bytearray(build_batch(RECORDS))
    struct.pack_into(">i", batch, 57, 2)
    with pytest.raises(CorruptBatchError, match="2 of 2 records end at byte"):
        check_record_framing(batch, parse_header(batch))


@pytest.mark.parametrize(
    "codec",
    [
        pytest.param(codec, id=f"a {codec.name.lower()} payload that does not decompress")
        for codec in (Compression.GZIP, Compression.SNAPPY, Compression.LZ4, Compression.ZSTD)
    ],
)
def test_an_undecodable_compressed_payload_is_a_corrupt_batch(codec: Compression) -> None:
    raw = undecodable_batch(codec)
    check_batch(raw)  # what the produce path checks: it passes
    with pytest.raises(CorruptBatchError, match="does not decompress"):
        decode_batch(raw)


def test_a_torn_xerial_snappy_block_is_a_corrupt_payload() -> None:
    torn = b"\x82SNAPPY\x00" + bytes(8) + b"\x00\x00"  # a block length cut short
    with pytest.raises(CorruptBatchError):
        decompress(Compression.SNAPPY, torn)
