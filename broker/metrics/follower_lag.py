"""Follower lag as a partition's leader sees it: records, bytes and seconds. Pure.

A follower has every record below its *position*, the offset of its last fetch
(``FollowerProgress.log_end_offset``). What it lacks is measured the way consumer lag is
(``contracts.lag.model.lag_figures``, the one lag model, with the follower's position in
place of a committed offset and the leader's log end in place of the high watermark):

- records: leader log end - position, never negative;
- seconds: now - timestamp of the first record the follower does not have (the record
  at its position, or at the log start when retention already deleted it), from the
  stored record timestamps; 0 when caught up, and never negative (a record stamped in
  the future counts as 0);
- bytes: size of the whole record batches from the one holding that first record to
  the log end (``Log.bytes_from``): exact at batch granularity, so a follower in the
  middle of a batch counts that batch fully.

A position is unknown until the follower's first fetch in this leadership (a new
leader starts every follower at -1): an in-sync follower is then taken to be at the high
watermark (it was in sync when the leadership began), any other at the log start (it
may have nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from broker.replication.progress import UNKNOWN_OFFSET
from contracts.lag.model import lag_figures

__all__ = ["FollowerLag", "follower_lag", "follower_position"]


@dataclass(frozen=True, slots=True)
class FollowerLag:
    records: int
    bytes: int
    seconds: float

    @property
    def caught_up(self) -> bool:
        return self.records == 0


CAUGHT_UP = FollowerLag(0, 0, 0.0)


def follower_position(
    fetch_offset: int, *, in_isr: bool, high_watermark: int, log_start_offset: int
) -> int:
    """The offset below which the follower has every record (see the module docstring
    for an unknown ``fetch_offset``)."""
    if fetch_offset != UNKNOWN_OFFSET:
        return fetch_offset
    return high_watermark if in_isr else log_start_offset


def follower_lag(
    position: int,
    *,
    log_end_offset: int,
    log_start_offset: int,
    record_timestamp_ms: Callable[[int], int | None],
    bytes_from: Callable[[int], int],
    now_ms: int,
) -> FollowerLag:
    """Lag of a follower at ``position`` behind a leader log ending at
    ``log_end_offset``. ``record_timestamp_ms(offset)``: the stored timestamp of the
    record at ``offset`` (None when unknown); ``bytes_from(offset)``: bytes of the
    batches from the one holding ``offset`` to the log end. Neither is called when the
    follower is caught up."""
    if position >= log_end_offset:
        return CAUGHT_UP
    first_missing = max(position, log_start_offset)
    records, seconds = lag_figures(
        position, log_end_offset, record_timestamp_ms(first_missing), now_ms
    )
    return FollowerLag(records, bytes_from(first_missing), seconds)
