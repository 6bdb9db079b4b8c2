"""The open-loop arrival schedule: fixed times that follow the target rate, split
between workers without gaps or overlaps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadtest.schedule import ArrivalSchedule, Phase

phase = st.builds(
    Phase,
    duration_seconds=st.floats(min_value=0.5, max_value=30),
    rate_from=st.floats(min_value=0, max_value=2000),
    rate_to=st.floats(min_value=0, max_value=2000),
)


def test_a_constant_rate_sends_evenly_spaced_messages_from_time_zero() -> None:
    schedule = ArrivalSchedule([Phase(2.0, 100, 100)])
    assert schedule.total == 200
    assert np.allclose(schedule.times([0, 1, 99, 199]), [0.0, 0.01, 0.99, 1.99])


def test_a_linear_ramp_from_zero_follows_the_integral_of_the_rate() -> None:
    schedule = ArrivalSchedule([Phase(2.0, 0, 100), Phase(1.0, 100, 100)])
    assert schedule.total == 200  # 100 during the ramp (half of 2 s x 100/s), 100 after
    # N(t) = 100 t^2 / 4 during the ramp: arrival 25 at t = 1 s.
    assert schedule.times([25])[0] == pytest.approx(1.0)
    assert schedule.times([100])[0] == pytest.approx(2.0)
    assert schedule.rate_at(1.0) == pytest.approx(50.0)


def test_a_pause_phase_schedules_nothing_and_the_next_phase_starts_on_time() -> None:
    schedule = ArrivalSchedule([Phase(1.0, 10, 10), Phase(5.0, 0, 0), Phase(1.0, 10, 10)])
    times = schedule.times(np.arange(schedule.total))
    assert schedule.total == 20
    assert not np.any((times > 1.0) & (times < 6.0))
    assert times[10] == pytest.approx(6.0)


@given(phases=st.lists(phase, min_size=1, max_size=4))
def test_times_are_increasing_and_invert_the_expected_count(phases: list[Phase]) -> None:
    schedule = ArrivalSchedule(phases)
    indices = np.arange(schedule.total)
    times = schedule.times(indices)
    assert np.all(np.diff(times) >= -1e-9)
    assert np.all((times >= 0) & (times <= schedule.duration_seconds + 1e-6))
    assert np.allclose(schedule.expected_by(times), indices, atol=1e-6 * max(1, schedule.total))


@given(
    phases=st.lists(phase, min_size=1, max_size=3),
    workers=st.integers(min_value=1, max_value=7),
)
def test_workers_together_send_every_arrival_exactly_once(
    phases: list[Phase], workers: int
) -> None:
    schedule = ArrivalSchedule(phases)
    seen = np.concatenate(
        [schedule.worker_indices(k, workers, 0, schedule.total + 1) for k in range(workers)]
    )
    assert sorted(seen.tolist()) == list(range(schedule.total))
    assert sum(schedule.worker_total(k, workers) for k in range(workers)) == schedule.total


def test_worker_indices_continue_where_the_previous_chunk_ended() -> None:
    schedule = ArrivalSchedule([Phase(1.0, 100, 100)])
    first = schedule.worker_indices(1, 3, 0, 4)
    second = schedule.worker_indices(1, 3, 4, 4)
    assert first.tolist() == [1, 4, 7, 10]
    assert second.tolist() == [13, 16, 19, 22]


def test_an_index_outside_the_schedule_is_refused() -> None:
    schedule = ArrivalSchedule([Phase(1.0, 10, 10)])
    with pytest.raises(IndexError):
        schedule.times([10])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param((0.0, 1, 1), "longer than zero", id="a phase of zero seconds"),
        pytest.param((1.0, -1, 1), "negative", id="a negative rate"),
    ],
)
def test_invalid_phases_are_refused(args: tuple[float, float, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Phase(*args)
