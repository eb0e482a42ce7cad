"""Tests for test-time views (sweep.models.views: which; sweep.models.build.with_views: the
model that averages them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sweep.models.views import SHIFTS, most_views, views_for
from tests.fixtures import TINY

NO_LIMITS = {"max_params": None, "max_size_kb": None, "max_latency_ms": None}
ONE = SHIFTS[:1]


@pytest.mark.parametrize(
    ("limits", "objective", "own", "asked", "expected"),
    [
        (NO_LIMITS, "accuracy", False, None, 5),  # every view
        ({}, "accuracy", False, None, 5),
        (NO_LIMITS, "accuracy", False, 3, 3),  # SWEEP_VIEWS=3
        (NO_LIMITS, "accuracy", False, 1, 1),
        (NO_LIMITS, "accuracy", False, 9, 5),  # there are five
        ({**NO_LIMITS, "max_latency_ms": 0.5}, "accuracy", False, None, 1),  # limits are one pass's
        ({**NO_LIMITS, "max_params": 50_000}, "accuracy", False, None, 1),
        (NO_LIMITS, "latency", False, None, 1),  # a Pareto search trades cost: one pass
        (NO_LIMITS, "accuracy", True, None, 1),  # a user's model: sweep does not know its training
    ],
)
def test_views_where_nothing_asks_for_one_pass(
    limits: dict[str, Any], objective: str, own: bool, asked: int | None, expected: int
) -> None:
    assert most_views(limits, objective, own, asked) == expected


@pytest.mark.parametrize(
    ("params", "shape", "most", "expected"),
    [
        ({"augment": 0.05}, (28, 28, 1), 5, SHIFTS),  # shifts of up to 1.4 pixels in training
        ({"augment": 0.05}, (32, 32, 3), 5, SHIFTS),
        ({"augment": 0.1}, (10, 12, 1), 5, SHIFTS),  # 1.0 pixel
        ({"augment": 0.05}, (28, 28, 1), 3, SHIFTS[:3]),
        ({"augment": 0.05}, (28, 28, 1), 1, ONE),
        ({"augment": 0.05}, (8, 8, 1), 5, ONE),  # 0.4 pixels: never seen moved by one
        ({"augment": 0.0}, (28, 28, 1), 5, ONE),  # the baseline
        ({}, (28, 28, 1), 5, ONE),  # no augment parameter
        ({"augment": 0.5}, (2, 40, 1), 5, ONE),  # too thin to move
    ],
)
def test_views_where_the_model_trained_on_shifts_of_a_pixel(
    params: dict[str, Any], shape: tuple[int, int, int], most: int, expected: tuple[tuple[int, int], ...]
) -> None:
    assert views_for(params, shape, most) == expected


def test_the_views_are_the_image_and_its_four_one_pixel_neighbours() -> None:
    assert SHIFTS[0] == (0, 0)
    assert sorted(SHIFTS[1:]) == [(-1, 0), (0, -1), (0, 1), (1, 0)]


def _moved(images: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``images`` moved down ``rows`` and right ``cols`` pixels (negative: up, left), 0 filled."""
    out = np.zeros_like(images)
    height, width = images.shape[1:3]
    source_rows, target_rows = slice(max(-rows, 0), height - max(rows, 0)), slice(max(rows, 0), height - max(-rows, 0))
    source_cols, target_cols = slice(max(-cols, 0), width - max(cols, 0)), slice(max(cols, 0), width - max(-cols, 0))
    out[:, target_rows, target_cols] = images[:, source_rows, source_cols]
    return out


@pytest.mark.slow
@pytest.mark.parametrize("logits", [False, True])
def test_the_model_over_views_outputs_the_mean_of_the_moved_images_probabilities(tmp_path: Path, logits: bool) -> None:
    import keras

    from sweep.models.build import average_of, portable, with_views
    from sweep.models.params import Architecture
    from sweep.models.train import new_model, probabilities

    model = new_model(Architecture.from_params({**TINY, "logits": logits}), (28, 28, 1), 10, 0, 100)
    images = np.random.default_rng(0).random((5, 28, 28, 1), dtype=np.float32)
    viewed = with_views(model, SHIFTS)
    single = portable(model)
    expected = np.mean([probabilities(single, _moved(images, *shift)) for shift in SHIFTS], axis=0)
    got = probabilities(viewed, images)
    assert got == pytest.approx(expected, abs=1e-5)
    assert got.sum(axis=1) == pytest.approx(np.ones(5), abs=1e-5)
    assert portable(viewed) is viewed
    viewed.save(tmp_path / "model.keras")
    assert keras.saving.load_model(tmp_path / "model.keras").predict(images, verbose=0) == pytest.approx(got, abs=1e-6)
    # Over an averaged pair, the same: the views of the pair's mean.
    pair = average_of([model, model])
    assert probabilities(with_views(pair, SHIFTS), images) == pytest.approx(got, abs=1e-5)
    # One view that does not move: the model itself, as saved.
    assert probabilities(with_views(model, ONE), images) == pytest.approx(probabilities(single, images), abs=1e-6)


def test_the_moved_images_helper_moves_down_and_right() -> None:
    image = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    assert _moved(image, 1, 0)[0, :, :, 0].tolist() == [[0, 0, 0], [0, 1, 2], [3, 4, 5]]
    assert _moved(image, 0, -1)[0, :, :, 0].tolist() == [[1, 2, 0], [4, 5, 0], [7, 8, 0]]
