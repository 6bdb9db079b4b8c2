"""Latency histograms with log-linear buckets (the HdrHistogram layout) in numpy.

Format. Values are non-negative integers in microseconds. The first ``2**SUB_BITS``
values (0..255) have a bucket each; above that every power of two is split into
``2**(SUB_BITS - 1)`` equal buckets (128). A bucket therefore spans at most
``1 / 128`` of its lower bound: every value is known to better than 0.8 % relative
precision from 1 µs up to ``2**MAX_BITS`` µs (about 50 days); larger values are clamped
into the top bucket. That is 4,608 buckets of int64 counts (36 KiB), whatever the number
of values recorded, and two histograms merge by adding their counts.

A percentile is the *highest value equivalent* to the bucket holding the value of that
rank (nearest-rank definition: the smallest value with at least ``p`` percent of the
values at or below it), clamped to the exact recorded maximum. So a reported percentile
is never below the exact one and at most 1/128 above it. ``min`` and ``max`` are exact.

Sans-I/O and single-threaded: one owner records; worker processes ship
:meth:`Histogram.sparse` deltas to a collector that :meth:`Histogram.add_sparse` s them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["MAX_BITS", "SUB_BITS", "Histogram", "bucket_index", "bucket_upper_bound"]

I64 = npt.NDArray[np.int64]
SUB_BITS: Final = 8
MAX_BITS: Final = 42
_LINEAR: Final = 1 << SUB_BITS  # values with their own bucket
_HALF: Final = _LINEAR >> 1  # buckets per power of two above that
BUCKETS: Final = _LINEAR + (MAX_BITS - SUB_BITS) * _HALF
MAX_VALUE: Final = (1 << MAX_BITS) - 1


def bucket_index(values: npt.ArrayLike) -> I64:
    """Bucket of each value (µs, clamped to ``[0, MAX_VALUE]``)."""
    v = np.clip(np.asarray(values, dtype=np.int64), 0, MAX_VALUE)
    # bit_length via frexp: exact for integers below 2**53.
    bits = np.frexp(v.astype(np.float64))[1].astype(np.int64)
    shift = np.maximum(bits - SUB_BITS, 0)
    mantissa = v >> shift  # in [128, 256) when shift > 0
    index = np.where(shift > 0, _LINEAR + (shift - 1) * _HALF + (mantissa - _HALF), v)
    return index.astype(np.int64)


def bucket_upper_bound(index: I64 | int) -> I64:
    """Highest value that falls into each bucket (the value percentiles report)."""
    i = np.asarray(index, dtype=np.int64)
    shift = np.where(i >= _LINEAR, (i - _LINEAR) // _HALF + 1, 0)
    mantissa = np.where(i >= _LINEAR, (i - _LINEAR) % _HALF + _HALF, i)
    upper: I64 = (((mantissa + 1) << shift) - 1).astype(np.int64)
    return upper


class Histogram:
    """Counts of latency values (µs) in log-linear buckets (see module docstring)."""

    __slots__ = ("counts", "max_value", "min_value", "total")

    def __init__(self) -> None:
        self.counts: I64 = np.zeros(BUCKETS, dtype=np.int64)
        self.total = 0
        self.max_value = 0
        self.min_value = 0

    def record(self, values: npt.ArrayLike) -> None:
        """Record many values at once (µs; negative values count as 0)."""
        v = np.asarray(values, dtype=np.int64).reshape(-1)
        if v.size == 0:
            return
        v = np.clip(v, 0, MAX_VALUE)
        self.counts += np.bincount(bucket_index(v), minlength=BUCKETS)
        low, high = int(v.min()), int(v.max())
        self.min_value = low if self.total == 0 else min(self.min_value, low)
        self.max_value = max(self.max_value, high)
        self.total += int(v.size)

    def merge(self, other: Histogram) -> None:
        if other.total == 0:
            return
        self.counts += other.counts
        self.min_value = (
            other.min_value if self.total == 0 else min(self.min_value, other.min_value)
        )
        self.max_value = max(self.max_value, other.max_value)
        self.total += other.total

    def copy(self) -> Histogram:
        out = Histogram()
        out.merge(self)
        return out

    # --- percentiles -------------------------------------------------------------------
    def percentile(self, percent: float) -> int:
        """Value at ``percent`` (0-100) by nearest rank; 0 for an empty histogram."""
        return self.percentiles([percent])[0]

    def percentiles(self, percents: Sequence[float]) -> list[int]:
        if self.total == 0:
            return [0 for _ in percents]
        cumulative = np.cumsum(self.counts)
        out = []
        for p in percents:
            if not 0 <= p <= 100:
                raise ValueError(f"percentile {p} is not within 0-100")
            rank = max(1, math.ceil(p / 100 * self.total))
            index = int(np.searchsorted(cumulative, rank, side="left"))
            value = int(bucket_upper_bound(index))
            out.append(max(min(value, self.max_value), self.min_value))
        return out

    def count_at_or_below(self, value: int) -> int:
        """Values recorded in buckets whose every value is at most ``value`` (µs): the
        cumulative count of a Prometheus bucket ``le`` (exact to the bucket precision)."""
        if value < 0:
            return 0
        index = int(bucket_index(np.array([value]))[0])
        if int(bucket_upper_bound(index)) > value:
            index -= 1  # the bucket holding ``value`` also holds larger values
        return int(self.counts[: index + 1].sum())

    def mean(self) -> float:
        """Mean of the bucket midpoints (exact to the bucket precision)."""
        if self.total == 0:
            return 0.0
        upper = bucket_upper_bound(np.arange(BUCKETS, dtype=np.int64)).astype(np.float64)
        lower = np.concatenate(([0.0], upper[:-1] + 1))
        return float(np.dot(self.counts, (lower + upper) / 2) / self.total)

    # --- shipping between processes ----------------------------------------------------
    def sparse(self) -> tuple[list[int], list[int], int, int]:
        """(bucket indices, counts, min, max) of the non-empty buckets: small to pickle."""
        nz = np.flatnonzero(self.counts)
        return nz.tolist(), self.counts[nz].tolist(), self.min_value, self.max_value

    def add_sparse(self, data: tuple[Iterable[int], Iterable[int], int, int]) -> None:
        indices, counts, low, high = data
        idx = np.fromiter(indices, dtype=np.int64)
        cnt = np.fromiter(counts, dtype=np.int64)
        if idx.size == 0:
            return
        np.add.at(self.counts, idx, cnt)
        added = int(cnt.sum())
        self.min_value = low if self.total == 0 else min(self.min_value, low)
        self.max_value = max(self.max_value, high)
        self.total += added

    @classmethod
    def from_sparse(cls, data: tuple[Iterable[int], Iterable[int], int, int]) -> Histogram:
        out = cls()
        out.add_sparse(data)
        return out
