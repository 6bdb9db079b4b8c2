"""The header every generated value starts with."""

from __future__ import annotations

from loadtest.payload import HEADER_BYTES, Header, decode_header, encode_header


def test_a_header_round_trips_and_filler_is_ignored() -> None:
    value = encode_header(
        3, 0xDEADBEEF, 12345, 1_700_000_000_000_000_000, 1_700_000_000_000_100_000
    )
    assert len(value) == HEADER_BYTES
    assert decode_header(value + b"x" * 100) == Header(
        3, 0xDEADBEEF, 12345, 1_700_000_000_000_000_000, 1_700_000_000_000_100_000
    )


def test_values_that_are_not_ours_decode_to_none() -> None:
    assert decode_header(None) is None
    assert decode_header(b"short") is None
    assert decode_header(b"XX" + bytes(HEADER_BYTES)) is None
