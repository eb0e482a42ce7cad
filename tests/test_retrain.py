"""Tests for sweep.commands.retrain's words about the final model (no training)."""

from __future__ import annotations

from typing import Any

import pytest

from sweep.commands.retrain import baseline_words
from tests.fixtures import timed_trial

GAIN = {"baseline_test_accuracy": 0.98, "test_gain": 0.012, "test_gain_ci95": [0.004, 0.02]}
SKIPPED = {"baseline_test_accuracy": None, "test_gain": None, "test_gain_ci95": None}


@pytest.mark.parametrize(
    ("metrics", "is_baseline", "words"),
    [
        (GAIN, False, "baseline retrained the same way: 0.9800, gain +0.0120 (95 % interval +0.0040 to +0.0200)"),
        (SKIPPED, False, "baseline not retrained"),  # the time limit left no room for it
        # The answer is the baseline: its "gain" over itself is 0 by construction, not a finding.
        ({"baseline_test_accuracy": 0.98, "test_gain": 0.0, "test_gain_ci95": [0.0, 0.0]}, True,
         "the baseline itself: no gain to measure"),
    ],
)  # fmt: skip
def test_the_final_model_against_the_baseline_in_words(metrics: dict[str, Any], is_baseline: bool, words: str) -> None:
    assert baseline_words(metrics, is_baseline) == words


@pytest.mark.parametrize(
    ("left", "seeds"),
    [
        (100.0, [[0, 1], [2, 3]]),  # 10 s a round with 100 s left: as many again, the next seeds
        (12.0, [[0, 1]]),  # under LEFTOVER_MARGIN rounds left: none
    ],
)
def test_models_that_reach_their_most_epochs_early_make_room_for_more(
    monkeypatch: pytest.MonkeyPatch, left: float, seeds: list[list[int]]
) -> None:
    import time

    import numpy as np

    from sweep.commands import ensemble
    from sweep.commands.retrain import AnswerPlan, train_answer
    from sweep.data.registry import Dataset
    from sweep.models import build
    from sweep.models.train import TrainResult
    from sweep.progress import Display
    from sweep.settings import DataConfig

    rounds: list[list[int]] = []

    def fit_members(*args: Any, **kwargs: Any) -> list[TrainResult]:
        seed, count = args[5], args[10]
        rounds.append([seed + index for index in range(count)])
        return [TrainResult(f"model {seed + index}", {"loss": [1.0]}, 10.0) for index in range(count)]  # type: ignore[arg-type]

    monkeypatch.setattr(ensemble, "fit_members", fit_members)
    monkeypatch.setattr(build, "average_of", lambda models: tuple(models))
    images = np.zeros((4, 8, 8, 1), dtype=np.float32)
    labels = np.arange(4) % 2
    data = Dataset("tiny", images, labels, images, labels, images, labels, ["a", "b"], "test")
    chosen = timed_trial(1, 0.9)
    plan = AnswerPlan(chosen, "", {"epochs": 3}, 3, None, {}, False, None, {}, 2, 0, time.time() + left, 6, None)
    result, members = train_answer(plan, data, DataConfig("tiny"), Display())
    assert rounds == seeds
    assert members is not None and result.model == tuple(f"model {s}" for r in seeds for s in r)
    assert result.fit_seconds == 10.0 * len(seeds)  # one round after the other


@pytest.mark.parametrize(
    ("epochs", "ran", "words"),
    [
        (5, 5, "5 epochs"),
        (1, 1, "1 epoch"),
        (1, 2, "1 epoch (shrunk from its trial's 2 to the time left)"),
        (8, 4, "8 epochs (grown from its trial's 4 to the time left)"),
    ],
)
def test_the_answers_epochs_in_words(epochs: int, ran: int, words: str) -> None:
    from sweep.commands.retrain import epochs_words

    assert epochs_words(epochs, ran) == words


@pytest.mark.parametrize(
    ("epochs", "words"), [(0.57, "0.6"), (2.0, "2"), (9.84, "9.8"), (10.0, "10"), (234.1, "234"), (480.6, "481")]
)
def test_planned_epochs_read_to_a_tenth_only_where_a_tenth_matters(epochs: float, words: str) -> None:
    from sweep.commands.retrain import tenths

    assert tenths(epochs) == words
