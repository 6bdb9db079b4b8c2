"""Message size and key distributions, drawn from a seeded generator."""

from __future__ import annotations

import numpy as np
import pytest

from loadtest.distributions import KeyDistribution, SizeDistribution, key_bytes


def rng() -> np.random.Generator:
    return np.random.default_rng(42)


def test_a_hot_key_gets_its_share_of_the_messages() -> None:
    keys = KeyDistribution("hot", count=1000, hot_share=0.9).draw(rng(), 20_000)
    assert keys is not None
    assert np.mean(keys == 0) == pytest.approx(0.9, abs=0.01)


def test_zipf_keys_make_a_few_keys_hot_and_match_the_expected_top_share() -> None:
    d = KeyDistribution("zipf", count=1000, exponent=1.2)
    keys = d.draw(rng(), 50_000)
    assert keys is not None
    counts = np.bincount(keys, minlength=1000)
    assert counts[0] == counts.max()
    assert counts[0] / keys.size == pytest.approx(d.share_of_top_key(), abs=0.01)
    assert keys.max() < 1000


def test_uniform_keys_cover_the_key_space_evenly() -> None:
    keys = KeyDistribution("uniform", count=10).draw(rng(), 50_000)
    assert keys is not None
    assert np.bincount(keys).min() > 4500


def test_no_key_distribution_draws_no_keys() -> None:
    assert KeyDistribution("none").draw(rng(), 10) is None
    assert key_bytes(7) == b"key-7"


@pytest.mark.parametrize(
    ("dist", "low", "high"),
    [
        pytest.param(SizeDistribution("fixed", bytes=100, minimum_bytes=32), 100, 100, id="fixed"),
        pytest.param(
            SizeDistribution("uniform", min_bytes=50, max_bytes=80, minimum_bytes=32),
            50,
            80,
            id="uniform",
        ),
        pytest.param(
            SizeDistribution(
                "normal",
                bytes=500,
                stddev_bytes=300,
                min_bytes=100,
                max_bytes=700,
                minimum_bytes=32,
            ),
            100,
            700,
            id="normal clipped to its bounds",
        ),
        pytest.param(
            SizeDistribution("choice", values=(10, 4000), weights=(1, 1), minimum_bytes=32),
            32,
            4000,
            id="choice never below the header",
        ),
    ],
)
def test_sizes_stay_within_their_bounds(dist: SizeDistribution, low: int, high: int) -> None:
    sizes = dist.draw(rng(), 5000)
    assert sizes.min() >= low
    assert sizes.max() <= high
    assert sizes.max() <= dist.max_drawn_bytes


def test_choice_sizes_follow_their_weights() -> None:
    sizes = SizeDistribution("choice", values=(100, 200), weights=(3, 1)).draw(rng(), 40_000)
    assert np.mean(sizes == 100) == pytest.approx(0.75, abs=0.01)
