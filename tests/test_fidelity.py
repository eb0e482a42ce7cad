"""Multi-fidelity exploration (sweep.search.fidelity): how many images trials explore on, and which."""

from __future__ import annotations

import numpy as np
import pytest

from sweep.data.registry import Dataset
from sweep.search.fidelity import (
    EXPLORE_BUDGET,
    FEWEST_SHARE,
    MIN_EXPLORE_IMAGES,
    explore_images,
    exploring,
    share_that_fits,
    subset,
)


@pytest.mark.parametrize(
    ("train_images", "rate", "epochs", "limit", "expected"),
    [
        # No time limit, or no speed measured: every image.
        (54_000, 1_000.0, 5, None, 54_000),
        (54_000, None, 5, 1140.0, 54_000),
        # A small split: every image, whatever the speed.
        (MIN_EXPLORE_IMAGES, 10.0, 5, 1140.0, MIN_EXPLORE_IMAGES),
        # The fastest machine kind (MNIST's baseline at ~13,500 images/s): every image.
        (54_000, 13_500.0, 5, 1140.0, 54_000),
        # The slowest kind (~1,000 images/s): what 3 % of 19 minutes holds of 5 epochs.
        (54_000, 1_000.0, 5, 1140.0, int(EXPLORE_BUDGET * 1140 * 1_000 / 5)),
        # Slower still, or a short limit: never under the floor.
        (54_000, 100.0, 5, 1140.0, MIN_EXPLORE_IMAGES),
        (54_000, 1_000.0, 5, 60.0, MIN_EXPLORE_IMAGES),
        # Most of the split affordable: all of it (a subset would save too little).
        (54_000, 6_000.0, 5, 1140.0, 54_000),
        (100_000, 6_000.0, 5, 1140.0, int(EXPLORE_BUDGET * 1140 * 6_000 / 5)),
    ],
)
def test_trials_explore_on_what_the_baselines_share_of_the_limit_holds(
    train_images: int, rate: float | None, epochs: int, limit: float | None, expected: int
) -> None:
    assert explore_images(train_images, rate, epochs, limit) == expected


@pytest.mark.parametrize(
    ("seconds", "left", "expected"),
    [
        (100.0, 200.0, 10_000),  # it fits on all of them
        (100.0, 100.0, 10_000),
        (400.0, 100.0, 2_500),  # a quarter of the time: a quarter of the images
        (100.0 / FEWEST_SHARE, 100.0, int(FEWEST_SHARE * 10_000)),  # the smallest share worth a run
        (1_000.0, 100.0, 0),  # under it: none
        (100.0, -5.0, 0),  # the deadline passed
    ],
)
def test_a_cheaper_job_trains_on_the_share_of_images_that_fits(seconds: float, left: float, expected: int) -> None:
    assert share_that_fits(10_000, seconds, left) == expected


def test_the_subset_is_stratified_seeded_and_sorted() -> None:
    labels = np.repeat(np.arange(4), [500, 300, 150, 50])
    chosen = subset(labels, 100, seed=3)
    assert len(chosen) == 100 and len(set(chosen.tolist())) == 100
    assert np.all(np.diff(chosen) > 0)
    assert np.bincount(labels[chosen]).tolist() == [50, 30, 15, 5]
    assert np.array_equal(chosen, subset(labels, 100, seed=3))  # every worker draws the same
    assert not np.array_equal(chosen, subset(labels, 100, seed=4))
    # Remainders go to the classes with the largest fractions; the count is exact.
    assert len(subset(labels, 7, seed=0)) == 7
    assert np.array_equal(subset(labels, 5_000, seed=0), np.arange(1_000))


def test_exploring_cuts_the_training_split_only() -> None:
    images = np.zeros((230, 8, 8, 1), dtype="float32")
    labels = np.arange(230) % 10
    data = Dataset(
        "tiny",
        images[:200],
        labels[:200],
        images[200:220],
        labels[200:220],
        images[220:],
        labels[220:],
        [str(k) for k in range(10)],
        "made here",
    )
    explored = exploring(data, 50, seed=0)
    assert len(explored.x_train) == len(explored.y_train) == 50
    assert explored.x_val is data.x_val and explored.x_test is data.x_test
    assert exploring(data, 200, seed=0) is data


@pytest.mark.slow
def test_a_new_study_times_the_baseline_and_explores_on_what_the_limit_holds() -> None:
    from sweep.commands.sweep import exploration_images
    from sweep.models.params import MNIST_BASELINE
    from sweep.progress import Display
    from sweep.settings import SweepConfig
    from sweep.space.spaces import parse_space

    rng = np.random.default_rng(0)
    images, labels = rng.random((8_200, 8, 8, 1), dtype=np.float32), np.arange(8_200) % 10
    names = [str(k) for k in range(10)]
    data = Dataset("tiny", images[:8_000], labels[:8_000], images[8_000:8_100], labels[8_000:8_100],
                   images[8_100:], labels[8_100:], names, "made here")  # fmt: skip
    baseline = {**MNIST_BASELINE, "padding": "same"}
    space = parse_space({"params": {"dropout": {"type": "float", "low": 0.0, "high": 0.5}}}, "test")
    # A limit of a second holds few images at any speed: the floor. No limit: every image, unmeasured.
    explore, rate = exploration_images(data, space, baseline, SweepConfig(time_limit=1.0), Display())
    assert explore == MIN_EXPLORE_IMAGES and rate is not None and 0 < rate < float("inf")
    assert exploration_images(data, space, baseline, SweepConfig(time_limit=None, trials=3), Display()) == (8_000, None)
    # KerasTuner explores on every image, but has no baseline trial: its speed plans that retrain.
    explore, rate = exploration_images(
        data, space, baseline, SweepConfig(time_limit=1.0, engine="kerastuner"), Display()
    )
    assert explore == 8_000 and rate is not None and rate > 0
