"""Log-linear latency histograms: percentiles within the bucket precision of the exact
nearest-rank values, lossless merging and shipping between processes."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from loadtest.histogram import (
    BUCKETS,
    MAX_VALUE,
    SUB_BITS,
    Histogram,
    bucket_index,
    bucket_upper_bound,
)

values_us = st.lists(st.integers(min_value=0, max_value=10**10), min_size=1, max_size=400)
percents = st.floats(min_value=0, max_value=100, allow_nan=False)


def exact_percentile(values: list[int], percent: float) -> int:
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


@settings(max_examples=300, deadline=None)
@given(values=values_us, percent=percents)
def test_a_percentile_is_never_below_the_exact_one_and_at_most_one_bucket_above(
    values: list[int], percent: float
) -> None:
    h = Histogram()
    h.record(values)
    exact = exact_percentile(values, percent)
    reported = h.percentile(percent)
    assert reported >= exact
    assert reported <= max(exact * (1 + 2 ** -(SUB_BITS - 1)), exact + 1)


@given(values=values_us)
def test_min_max_and_count_are_exact(values: list[int]) -> None:
    h = Histogram()
    h.record(values)
    assert (h.min_value, h.max_value, h.total) == (min(values), max(values), len(values))
    assert h.percentile(100) == max(values)
    assert h.percentile(0) == min(values) or h.percentile(0) >= min(values)


@given(first=values_us, second=values_us)
def test_merging_two_histograms_equals_recording_everything_in_one(
    first: list[int], second: list[int]
) -> None:
    a, b, both = Histogram(), Histogram(), Histogram()
    a.record(first)
    b.record(second)
    both.record(first + second)
    a.merge(b)
    assert np.array_equal(a.counts, both.counts)
    assert (a.total, a.min_value, a.max_value) == (both.total, both.min_value, both.max_value)


@given(values=values_us)
def test_a_sparse_copy_rebuilds_the_same_histogram(values: list[int]) -> None:
    h = Histogram()
    h.record(values)
    again = Histogram.from_sparse(h.sparse())
    assert np.array_equal(again.counts, h.counts)
    assert (again.total, again.min_value, again.max_value) == (h.total, h.min_value, h.max_value)


@given(value=st.integers(min_value=0, max_value=MAX_VALUE))
def test_every_value_lies_within_its_bucket(value: int) -> None:
    index = int(bucket_index(np.array([value]))[0])
    upper = int(bucket_upper_bound(index))
    lower = int(bucket_upper_bound(index - 1)) + 1 if index else 0
    assert 0 <= index < BUCKETS
    assert lower <= value <= upper


def test_bucket_bounds_increase_and_tile_the_value_range() -> None:
    upper = bucket_upper_bound(np.arange(BUCKETS, dtype=np.int64))
    assert np.all(np.diff(upper) > 0)
    assert upper[-1] == MAX_VALUE
    assert np.array_equal(bucket_index(upper), np.arange(BUCKETS))


def test_values_beyond_the_range_are_clamped_into_the_top_bucket() -> None:
    h = Histogram()
    h.record([MAX_VALUE * 10, -5])
    assert h.counts[-1] == 1
    assert h.counts[0] == 1


@settings(max_examples=200, deadline=None)
@given(values=values_us, threshold=st.integers(min_value=0, max_value=10**10))
def test_count_at_or_below_is_a_prometheus_bucket_within_the_bucket_precision(
    values: list[int], threshold: int
) -> None:
    """Never counts a value above the bound; misses only values within 1/128 below it."""
    h = Histogram()
    h.record(values)
    counted = h.count_at_or_below(threshold)
    assert counted <= sum(v <= threshold for v in values)
    assert counted >= sum(v <= threshold * (1 - 2 ** -(SUB_BITS - 1)) - 1 for v in values)


def test_count_at_or_below_zero_or_less() -> None:
    h = Histogram()
    h.record([0, 5])
    assert h.count_at_or_below(-1) == 0
    assert h.count_at_or_below(0) == 1


def test_an_empty_histogram_reports_zeros() -> None:
    h = Histogram()
    assert h.percentiles([50, 99]) == [0, 0]
    assert h.mean() == 0.0
    assert h.sparse() == ([], [], 0, 0)
