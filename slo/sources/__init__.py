"""Where SLI values come from: Tidewatch's own endpoints, any Prometheus, recorded files.

A source answers :class:`~slo.sampling.Query` objects either for one instant (live
evaluation) or as a range of steps (backtests). ``None`` means "no data" (a gap).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from slo.sampling import Query

__all__ = ["RangeData", "Source"]

# For each query: values at each step of the range (NaN = no data).
RangeData = dict[Query, npt.NDArray[np.float64]]


class Source(Protocol):
    async def read(self, queries: Sequence[Query], t: int) -> dict[Query, float | None]: ...
