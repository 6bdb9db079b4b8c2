"""Which offsets-topic partition coordinates a group: exactly Kafka's rule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.metadata.offsets_topic import coordinator_partition, java_string_hash

# Values of String.hashCode() as a JVM computes them.
JAVA_HASHES = [
    pytest.param("", 0, id="the empty string hashes to zero"),
    pytest.param("a", 97, id="one character hashes to its code"),
    pytest.param("hello", 99162322, id="hello as in every java tutorial"),
    pytest.param("Hello World", -862545276, id="a longer string overflows to negative"),
    pytest.param("Aa", 2112, id="the classic collision aa"),
    pytest.param("BB", 2112, id="the classic collision bb"),
    pytest.param("polygenelubricants", -(2**31), id="a string hashing to integer min value"),
    pytest.param("é", 233, id="a latin-1 character hashes to its code point"),
    pytest.param("\U0001f600", 1772899, id="an emoji hashes as its two utf-16 surrogates"),
]


@pytest.mark.parametrize(("text", "expected"), JAVA_HASHES)
def test_the_hash_is_java_string_hash_code(text: str, expected: int) -> None:
    assert java_string_hash(text) == expected


def _reference(text: str) -> int:
    h = 0
    for unit in _utf16_units(text):
        h = (31 * h + unit) % 2**32
    return h - 2**32 if h >= 2**31 else h


def _utf16_units(text: str) -> list[int]:
    units = []
    for char in text:
        code = ord(char)
        if code >= 0x10000:
            code -= 0x10000
            units += [0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)]
        else:
            units.append(code)
    return units


@given(st.text())
def test_the_hash_matches_the_textbook_definition_on_any_text(text: str) -> None:
    assert java_string_hash(text) == _reference(text)


@pytest.mark.parametrize(
    ("group", "partitions", "expected"),
    [
        pytest.param("hello", 50, 99162322 % 50, id="a positive hash is taken modulo the count"),
        pytest.param(
            "Hello World", 50, 862545276 % 50, id="a negative hash is made positive first"
        ),
        pytest.param(
            "polygenelubricants", 50, 0, id="integer min value maps to partition zero as in kafka"
        ),
        pytest.param("anything", 1, 0, id="one partition takes every group"),
    ],
)
def test_a_group_maps_to_the_partition_kafka_would_choose(
    group: str, partitions: int, expected: int
) -> None:
    assert coordinator_partition(group, partitions) == expected


@given(st.text(), st.integers(1, 1000))
def test_every_group_maps_into_range(group: str, partitions: int) -> None:
    assert 0 <= coordinator_partition(group, partitions) < partitions


def test_zero_partitions_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one partition"):
        coordinator_partition("g", 0)
