"""Message size and key distributions of a workload (pure; the random generator is
injected so that a seed reproduces a run's messages exactly).

Sizes are whole value bytes, never below the payload header (see
:mod:`loadtest.payload`). Keys are ranks ``0..count-1`` rendered as ``key-<rank>``;
the partitioner of the client maps them to partitions, so a hot key makes a hot
partition:

- ``none``: no key (the client spreads messages over partitions by itself);
- ``uniform``: every key equally likely;
- ``zipf``: key of rank ``r`` with probability proportional to ``1 / (r + 1) ** exponent``
  (bounded Zipf: a few hot keys and a long tail);
- ``hot``: one key (rank 0) gets ``hot_share`` of the messages, the rest are uniform.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "KEY_DISTRIBUTIONS",
    "SIZE_DISTRIBUTIONS",
    "KeyDistribution",
    "SizeDistribution",
    "key_bytes",
]

I64 = npt.NDArray[np.int64]
SizeKind = Literal["fixed", "uniform", "normal", "choice"]
KeyKind = Literal["none", "uniform", "zipf", "hot"]
SIZE_DISTRIBUTIONS: Final = ("fixed", "uniform", "normal", "choice")
KEY_DISTRIBUTIONS: Final = ("none", "uniform", "zipf", "hot")


@dataclass(frozen=True, slots=True)
class SizeDistribution:
    """Value sizes in bytes; ``minimum_bytes`` is the floor every drawn size respects."""

    kind: SizeKind = "fixed"
    bytes: int = 1024  # fixed, and the mean of normal
    min_bytes: int = 0  # uniform and normal lower bound
    max_bytes: int = 0  # uniform and normal upper bound
    stddev_bytes: float = 0.0  # normal
    values: tuple[int, ...] = ()  # choice
    weights: tuple[float, ...] = ()  # choice (default: equal)
    minimum_bytes: int = 0

    def draw(self, rng: np.random.Generator, n: int) -> I64:
        if self.kind == "fixed":
            sizes = np.full(n, self.bytes, dtype=np.int64)
        elif self.kind == "uniform":
            sizes = rng.integers(self.min_bytes, self.max_bytes, size=n, endpoint=True)
        elif self.kind == "normal":
            raw = rng.normal(self.bytes, self.stddev_bytes, size=n)
            sizes = np.clip(np.rint(raw), self.min_bytes, self.max_bytes).astype(np.int64)
        else:
            p = np.array(self.weights or [1.0] * len(self.values), dtype=np.float64)
            sizes = rng.choice(np.array(self.values, dtype=np.int64), size=n, p=p / p.sum())
        return np.maximum(sizes.astype(np.int64), self.minimum_bytes)

    @property
    def mean_bytes(self) -> float:
        if self.kind == "fixed":
            value = float(self.bytes)
        elif self.kind == "uniform":
            value = (self.min_bytes + self.max_bytes) / 2
        elif self.kind == "normal":
            value = float(self.bytes)
        else:
            p = np.array(self.weights or [1.0] * len(self.values), dtype=np.float64)
            value = float(np.dot(p / p.sum(), np.array(self.values, dtype=np.float64)))
        return max(value, float(self.minimum_bytes))

    @property
    def max_drawn_bytes(self) -> int:
        """The largest size :meth:`draw` can return."""
        if self.kind == "fixed":
            top = self.bytes
        elif self.kind in ("uniform", "normal"):
            top = self.max_bytes
        else:
            top = max(self.values)
        return max(top, self.minimum_bytes)


@dataclass(frozen=True, slots=True)
class KeyDistribution:
    kind: KeyKind = "none"
    count: int = 1000
    exponent: float = 1.1  # zipf
    hot_share: float = 0.9  # hot

    def draw(self, rng: np.random.Generator, n: int) -> I64 | None:
        """Key ranks for ``n`` messages, or None when messages carry no key."""
        if self.kind == "none":
            return None
        if self.kind == "uniform":
            return rng.integers(0, self.count, size=n, dtype=np.int64)
        if self.kind == "zipf":
            cdf = self._zipf_cdf()
            return np.searchsorted(cdf, rng.random(n), side="right").astype(np.int64)
        hot = rng.random(n) < self.hot_share
        others = rng.integers(0, self.count, size=n, dtype=np.int64)
        return np.where(hot, 0, others).astype(np.int64)

    def _zipf_cdf(self) -> npt.NDArray[np.float64]:
        weights = 1.0 / np.arange(1, self.count + 1, dtype=np.float64) ** self.exponent
        cdf = np.cumsum(weights)
        cdf /= cdf[-1]
        cdf[-1] = 1.0  # so that searchsorted never returns count
        return cdf

    def share_of_top_key(self) -> float:
        """Expected share of messages carrying the most frequent key."""
        if self.kind == "none":
            return 0.0
        if self.kind == "uniform":
            return 1.0 / self.count
        if self.kind == "zipf":
            return float(self._zipf_cdf()[0])
        return self.hot_share + (1 - self.hot_share) / self.count


def key_bytes(rank: int) -> bytes:
    return b"key-%d" % rank
