"""The one clock: wall-clock time in ns and ms, monotonic seconds, and a manual twin."""

from __future__ import annotations

import pytest

from contracts.clock import Clock, ManualClock, SystemClock


def test_a_manual_clock_starts_at_a_fixed_instant() -> None:
    clock = ManualClock()
    assert clock.time_ns() == 1_700_000_000_000_000_000
    assert clock.time_ms() == 1_700_000_000_000
    assert clock.monotonic() == 0.0


def test_a_manual_clock_can_start_anywhere_on_the_wall_clock() -> None:
    clock = ManualClock(time_ns=5_000_000_123)
    assert (clock.time_ns(), clock.time_ms()) == (5_000_000_123, 5_000)


def test_advancing_moves_wall_clock_and_monotonic_time_together() -> None:
    clock = ManualClock()
    clock.advance(1.5)
    assert clock.time_ns() == 1_700_000_001_500_000_000
    assert clock.time_ms() == 1_700_000_001_500
    assert clock.monotonic() == 1.5


def test_milliseconds_follow_nanoseconds_so_small_steps_add_up() -> None:
    clock = ManualClock()
    clock.advance(0.0006)
    clock.advance(0.0006)
    assert clock.time_ms() == 1_700_000_000_001
    assert clock.time_ns() == 1_700_000_000_001_200_000


def test_a_manual_clock_never_goes_back() -> None:
    with pytest.raises(ValueError, match="cannot go back"):
        ManualClock().advance(-1)


def test_the_system_clock_gives_milliseconds_of_the_same_wall_clock() -> None:
    clock = SystemClock()
    # Read around each other; only an absurd gap (a minute) could break this.
    ns = clock.time_ns()
    ms = clock.time_ms()
    assert abs(ms - ns // 1_000_000) < 60_000


def test_the_system_monotonic_clock_never_goes_back() -> None:
    clock = SystemClock()
    first = clock.monotonic()
    assert clock.monotonic() >= first


def test_both_clocks_are_clocks() -> None:
    clocks: list[Clock] = [SystemClock(), ManualClock()]
    assert all(isinstance(c.time_ns(), int) and isinstance(c.time_ms(), int) for c in clocks)
