"""Intervals, paired differences and trial scores (sweep.choice.stats): pure arithmetic, no training."""

from __future__ import annotations

import numpy as np
import pytest

from sweep.choice.stats import accuracy_interval, pack, paired_difference, score, unpack, wilson


@pytest.mark.parametrize(
    ("correct", "total", "low", "high"),
    [
        (970, 1000, 0.9575, 0.9789),  # textbook Wilson interval
        (5460, 6000, 0.9025, 0.9170),  # 91 % of 6,000 validation images: ±0.37 points
        (100, 100, 0.9630, 1.0),  # all right: the interval still has width, and stays ≤ 1
        (0, 50, 0.0, 0.0713),
    ],
)
def test_wilson_interval(correct: int, total: int, low: float, high: float) -> None:
    assert wilson(correct, total) == pytest.approx((low, high), abs=1e-4)


def test_accuracy_interval_rounds_to_whole_images() -> None:
    assert accuracy_interval(0.97, 1000) == wilson(970, 1000)
    with pytest.raises(ValueError, match="at least one image"):
        wilson(0, 0)


def test_paired_difference_counts_only_the_images_the_models_disagree_on() -> None:
    a = np.array([True] * 90 + [True] * 6 + [False] * 4)
    b = np.array([True] * 90 + [False] * 6 + [True] * 4)
    gain, low, high = paired_difference(a, b)
    assert gain == pytest.approx(0.02)
    # Ten disagreements out of 100, 6 against 4: ±1.96·√(10 − 2²/100)/100, and one image more.
    half = 1.959964 * (10 - 0.04) ** 0.5 / 100 + 0.01
    assert (low, high) == pytest.approx((0.02 - half, 0.02 + half))
    assert low < 0 < high  # 6 against 4 proves nothing
    assert paired_difference(a, a) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="equally long"):
        paired_difference(a, b[:5])


@pytest.mark.parametrize(
    ("wins", "losses", "significant"),
    [
        (5, 0, False),  # an exact sign test: p = 0.06
        (9, 0, True),  # p = 0.004
        (40, 20, True),  # p = 0.01
        (30, 20, False),  # p = 0.2
    ],
)
def test_a_few_disagreements_are_not_taken_for_certainty(wins: int, losses: int, significant: bool) -> None:
    a = np.r_[np.ones(wins, bool), np.zeros(losses, bool), np.ones(1000, bool)]
    b = np.r_[np.zeros(wins, bool), np.ones(losses, bool), np.ones(1000, bool)]
    assert (paired_difference(a, b)[1] > 0) is significant


@pytest.mark.parametrize(
    ("curve", "expected"),
    [
        ([0.5], 0.5),
        ([0.5, 0.9, 0.8], 0.85),  # the last two epochs, not the best one
        ([0.1, 0.2, 0.96, 0.98], 0.97),
    ],
)
def test_a_trial_scores_its_last_epochs(curve: list[float], expected: float) -> None:
    assert score(curve) == pytest.approx(expected)


def test_a_trial_whose_rate_decays_to_zero_scores_its_settled_last_epoch() -> None:
    # A one-cycle recipe after 3 epochs on a share of MNIST: its epoch before the last is far below.
    assert score([0.891, 0.9575, 0.9752], settles=True) == pytest.approx(0.9752)
    assert score([0.891, 0.9575, 0.9752]) == pytest.approx((0.9575 + 0.9752) / 2)


def test_correctness_packs_into_short_text_and_back() -> None:
    correct = np.random.default_rng(0).random(6001) < 0.9
    text = pack(correct)
    assert len(text) < 1100 and text.startswith("6001:")
    np.testing.assert_array_equal(unpack(text), correct)
