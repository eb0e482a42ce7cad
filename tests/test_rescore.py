"""Which trial becomes the answer (sweep.search.rescore.choose), on made-up trials and correctness vectors: no
training."""

from __future__ import annotations

import numpy as np
import pytest

from sweep.search.rescore import by_accuracy, choose
from tests.fixtures import candidate_trial


def right(count: int, of: int = 1000) -> np.ndarray:
    """``count`` of ``of`` images right, the first ones."""
    return np.arange(of) < count


BASE = candidate_trial(0, 0.90, baseline=True)


@pytest.mark.parametrize(
    ("best_right", "answer", "says"),
    [
        # 960 against 900 of 1,000 images: clearly better.
        (960, 1, "trial 1, the best on validation (1000 images): +0.0600 (95 % interval +0.0443 to +0.0757)"),
        # 905 against 900: five images prove nothing; the baseline stays the answer.
        (905, 0, "the baseline: the best trial, 1, is not clearly better on validation"),
        # Worse on these images than the baseline, though ranked first by its score.
        (890, 0, "the baseline: no trial beat it on validation"),
    ],
)
def test_the_best_trial_must_be_clearly_better_than_the_baseline(best_right: int, answer: int, says: str) -> None:
    best = candidate_trial(1, 0.95)
    chosen, why = choose([best, BASE], BASE, {0: right(900), 1: right(best_right)}, "validation (1000 images)")
    assert chosen.number == answer and why.startswith(says)


def test_without_a_baseline_or_its_evidence_the_best_trial_is_the_answer() -> None:
    best = candidate_trial(1, 0.95)
    assert choose([best], None, {}, "validation")[0] is best  # KerasTuner: no baseline trial
    assert choose([best, BASE], BASE, {}, "validation")[0] is best  # an older study
    assert choose([BASE], BASE, {0: right(900)}, "validation")[0] is BASE  # nothing else ran


def test_cross_validated_finalists_are_ranked_by_their_accuracy_across_folds() -> None:
    first, second = candidate_trial(1, 0.99), candidate_trial(2, 0.98)
    correct = {0: right(900), 1: right(940), 2: right(970)}
    ranked = by_accuracy([first, second, BASE], correct)
    assert [t.number for t in ranked] == [2, 1, 0]
    chosen, why = choose(ranked, BASE, correct, "4-fold cross-validation (1000 images)")
    assert chosen.number == 2 and "cross-validation" in why
