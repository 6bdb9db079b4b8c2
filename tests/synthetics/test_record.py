"""The probe record format: round trip, checksum, padding, traceparent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from synthetics.record import (
    CorruptRecordError,
    ProbeRecord,
    decode_value,
    encode_value,
    format_traceparent,
    parse_traceparent,
)

RECORD = ProbeRecord("0123456789abcdef", 3, 41, 1_764_153_600_123_456_789)


def test_value_is_one_readable_line_with_every_field() -> None:
    value = encode_value(RECORD)
    assert value.startswith(b"TWP1 crc32c=")
    assert b"probe=0123456789abcdef partition=3 seq=41 sent_ns=1764153600123456789" in value
    assert b"\n" not in value


@pytest.mark.parametrize("payload_bytes", [0, 1, 35, 36, 37, 1000], ids=lambda n: f"{n} bytes")
def test_encoded_record_decodes_to_itself_with_any_padding(payload_bytes: int) -> None:
    record = ProbeRecord("ffffffffffffffff", 0, 7, 1, payload_bytes)
    assert decode_value(encode_value(record)) == record


def test_padding_grows_the_value_by_exactly_the_configured_bytes() -> None:
    plain = encode_value(RECORD)
    padded = encode_value(replace(RECORD, payload_bytes=100))
    assert len(padded) - len(plain) == len(b" pad=") + 100


def _flip(value: bytes, index: int) -> bytes:
    return value[:index] + bytes([value[index] ^ 0x01]) + value[index + 1 :]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        pytest.param(
            lambda v: v.replace(b"seq=41", b"seq=40"), "checksum", id="a changed sequence number"
        ),
        pytest.param(lambda v: _flip(v, len(v) - 3), "checksum", id="a flipped bit in the padding"),
        pytest.param(
            lambda v: v.replace(v[12:20], b"00000000"), "checksum", id="a wrong checksum field"
        ),
        pytest.param(lambda v: v[:30], "malformed", id="a truncated value"),
        pytest.param(lambda v: b"hello world", "not a probe record", id="a foreign value"),
        pytest.param(lambda v: b"", "not a probe record", id="an empty value"),
    ],
)
def test_damaged_values_are_rejected_with_a_reason(
    mutate: Callable[[bytes], bytes], reason: str
) -> None:
    value = mutate(encode_value(ProbeRecord("0123456789abcdef", 3, 41, 5, 20)))
    with pytest.raises(CorruptRecordError, match=reason):
        decode_value(value)


def test_a_missing_value_is_corrupt() -> None:
    with pytest.raises(CorruptRecordError, match="no value"):
        decode_value(None)


def test_traceparent_is_w3c_version_00_and_parses_back() -> None:
    header = format_traceparent(0xABC, 0x12)
    assert header == "00-00000000000000000000000000000abc-0000000000000012-01"
    assert parse_traceparent(header.encode()) == (
        "00000000000000000000000000000abc",
        "0000000000000012",
    )


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"",
        b"garbage",
        "00-" + "0" * 32 + "-" + "1" * 16 + "-01",
        "01-" + "a" * 32 + "-" + "b" * 16,
    ],
    ids=["absent", "empty", "garbage", "all-zero trace id", "truncated"],
)
def test_malformed_traceparents_give_no_trace_id(value: bytes | str | None) -> None:
    assert parse_traceparent(value) is None
