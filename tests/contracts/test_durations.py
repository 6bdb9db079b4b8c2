"""The one duration grammar: what it accepts, what it refuses and how it is spelled back."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.durations import format_duration, parse_duration_seconds, parse_whole_seconds

# Seconds per unit, largest first (the order parts are written in).
UNITS = (("y", 31_536_000), ("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        pytest.param("250ms", 0.25, id="milliseconds"),
        pytest.param("1s", 1.0, id="seconds"),
        pytest.param("1.5s", 1.5, id="decimal seconds"),
        pytest.param("1m30s", 90.0, id="minutes and seconds"),
        pytest.param("2h", 7200.0, id="hours"),
        pytest.param("1h30m", 5400.0, id="hours and minutes"),
        pytest.param("30d", 2_592_000.0, id="days"),
        pytest.param("1w", 604_800.0, id="a week is seven days"),
        pytest.param("1y", 31_536_000.0, id="a year is 365 days as in Prometheus"),
        pytest.param("0.1h", 360.0, id="a decimal of a larger unit is exact"),
        pytest.param("1d2h3m4s5ms", 93_784.005, id="every unit once in falling order"),
        pytest.param(" 5m ", 300.0, id="surrounding spaces are ignored"),
        pytest.param("30ms", 0.03, id="ms is milliseconds, not minutes and seconds"),
    ],
)
def test_a_duration_string_reads_as_seconds(text: str, seconds: float) -> None:
    assert parse_duration_seconds(text) == pytest.approx(seconds, abs=1e-9)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("30 days", id="a word for a unit"),
        pytest.param("1s1m", id="units out of order"),
        pytest.param("1m1m", id="a unit twice"),
        pytest.param("5", id="a number without a unit in a string"),
        pytest.param("", id="an empty string"),
        pytest.param("m", id="a unit without a number"),
        pytest.param("1.s", id="a decimal point without digits"),
        pytest.param("-5s", id="a negative duration"),
        pytest.param("5 m", id="a space inside"),
        pytest.param("1M", id="a calendar month is not a duration"),
    ],
)
def test_a_string_outside_the_grammar_is_refused_with_examples(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a duration like 250ms, 1\.5s, 1m30s or 2h$"):
        parse_duration_seconds(text)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(True, id="a boolean"),
        pytest.param(None, id="nothing"),
        pytest.param([1], id="a list"),
    ],
)
def test_a_value_that_is_neither_string_nor_number_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration_seconds(value, bare_numbers=True)


def test_a_yaml_number_is_seconds_only_where_the_field_allows_it() -> None:
    assert parse_duration_seconds(3, bare_numbers=True) == 3.0
    assert parse_duration_seconds(0.1, bare_numbers=True) == 0.1
    with pytest.raises(ValueError, match=r"is not a duration like .*2h$"):
        parse_duration_seconds(3)


def test_the_hint_mentions_numbers_where_they_are_allowed() -> None:
    with pytest.raises(ValueError, match=r"or 2h, or a number of seconds$"):
        parse_duration_seconds("soon", bare_numbers=True)


@pytest.mark.parametrize(
    "value",
    [pytest.param(math.inf, id="infinity"), pytest.param(math.nan, id="not a number")],
)
def test_a_number_that_is_not_finite_is_refused(value: float) -> None:
    with pytest.raises(ValueError, match="not a finite number of seconds"):
        parse_duration_seconds(value, bare_numbers=True)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("0s", id="zero as a string"),
        pytest.param(0, id="zero as a number"),
        pytest.param(-1, id="a negative number"),
    ],
)
def test_zero_and_less_are_refused_unless_zero_is_allowed(value: object) -> None:
    with pytest.raises(ValueError, match="must be longer than zero"):
        parse_duration_seconds(value, bare_numbers=True)


def test_zero_is_accepted_where_allowed_but_negative_never() -> None:
    assert parse_duration_seconds("0s", allow_zero=True) == 0.0
    assert parse_duration_seconds(0, bare_numbers=True, allow_zero=True) == 0.0
    with pytest.raises(ValueError, match="must be longer than zero"):
        parse_duration_seconds(-1, bare_numbers=True, allow_zero=True)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        pytest.param("30d", 2_592_000, id="an SLO period"),
        pytest.param("1h30m", 5400, id="a compound window"),
        pytest.param("1.5m", 90, id="a decimal that makes whole seconds"),
        pytest.param("2000ms", 2, id="milliseconds that make whole seconds"),
    ],
)
def test_whole_seconds_are_an_int(text: str, seconds: int) -> None:
    parsed = parse_whole_seconds(text)
    assert parsed == seconds
    assert isinstance(parsed, int)


@pytest.mark.parametrize("text", ["1500ms", "0.5s", "1.001s"])
def test_whole_seconds_refuse_a_fraction_of_a_second_saying_so(text: str) -> None:
    with pytest.raises(ValueError, match="is not a whole number of seconds"):
        parse_whole_seconds(text)


def test_whole_seconds_give_examples_in_whole_units() -> None:
    with pytest.raises(ValueError, match=r"^'30 days' is not a duration like 5m, 1h30m or 30d$"):
        parse_whole_seconds("30 days")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        pytest.param(300, "5m", id="minutes"),
        pytest.param(86_400, "1d", id="a day"),
        pytest.param(5400, "1h30m", id="hours and minutes"),
        pytest.param(604_800, "7d", id="a week is written in days"),
        pytest.param(2_419_200, "28d", id="four weeks are written in days"),
        pytest.param(31_536_000, "365d", id="a year is written in days"),
        pytest.param(0.25, "250ms", id="a quarter second"),
        pytest.param(1.5, "1s500ms", id="seconds and milliseconds"),
        pytest.param(90_061.001, "1d1h1m1s1ms", id="every unit"),
    ],
)
def test_format_duration_writes_the_shortest_spelling(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [0, -1, -0.5, 0.0004])
def test_format_duration_refuses_what_does_not_round_to_a_millisecond(seconds: float) -> None:
    with pytest.raises(ValueError, match="not a positive duration"):
        format_duration(seconds)


@given(st.integers(min_value=1, max_value=10 * 31_536_000))
def test_whole_seconds_survive_a_round_trip_through_their_spelling(seconds: int) -> None:
    assert parse_whole_seconds(format_duration(seconds)) == seconds


@given(st.integers(min_value=1, max_value=10**12))
def test_milliseconds_survive_a_round_trip_through_their_spelling(milliseconds: int) -> None:
    text = format_duration(milliseconds / 1000)
    assert round(parse_duration_seconds(text) * 1000) == milliseconds


@given(
    st.lists(
        st.integers(min_value=0, max_value=999), min_size=len(UNITS) + 1, max_size=len(UNITS) + 1
    )
)
def test_any_parts_in_falling_order_sum_to_their_seconds(amounts: list[int]) -> None:
    units = (*UNITS, ("ms", 0.001))
    text = "".join(f"{n}{unit}" for n, (unit, _) in zip(amounts, units, strict=True) if n)
    expected = sum(n * size for n, (_, size) in zip(amounts, units, strict=True))
    if not text:
        return
    assert parse_duration_seconds(text, allow_zero=True) == pytest.approx(expected, rel=1e-12)


@given(st.integers(min_value=1, max_value=10**12))
def test_a_spelling_never_carries_a_part_past_its_next_unit(milliseconds: int) -> None:
    """A canonical spelling: 90 s is 1m30s, never 90s; so equal durations read equal."""
    text = format_duration(milliseconds / 1000)
    limits = {"h": 24, "m": 60, "s": 60, "ms": 1000}
    for amount, unit in _parts(text):
        if unit in limits:
            assert amount < limits[unit], text


def _parts(text: str) -> list[tuple[int, str]]:
    return [(int(n), u) for n, u in re.findall(r"(\d+)(ms|d|h|m|s)", text)]
