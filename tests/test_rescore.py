"""Which trial becomes the answer (sweep.rescore.choose, sweep.trials.finalists), on made-up
trials and correctness vectors: no training."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from optuna.trial import FrozenTrial, TrialState, create_trial

from sweep.rescore import by_accuracy, choose
from sweep.trials import finalists


def trial(
    number: int,
    value: float | None,
    *,
    baseline: bool = False,
    dense: int = 128,
    state: TrialState = TrialState.COMPLETE,
) -> FrozenTrial:
    attrs: dict[str, Any] = {"params": {"dense_units": dense, "epochs": 5}}
    if baseline:
        attrs["is_baseline"] = True
    made = create_trial(state=state, value=value if state == TrialState.COMPLETE else None, user_attrs=attrs)
    made.number = number
    return made


def right(count: int, of: int = 1000) -> np.ndarray:
    """``count`` of ``of`` images right, the first ones."""
    return np.arange(of) < count


BASE = trial(0, 0.90, baseline=True)


@pytest.mark.parametrize(
    ("best_right", "answer", "says"),
    [
        # 960 against 900 of 1,000 images: clearly better.
        (960, 1, "trial 1, the best on validation (1000 images) (+0.0600, 95 % interval"),
        # 905 against 900: five images prove nothing; the baseline stays the answer.
        (905, 0, "the baseline: the best trial, 1, is not clearly better on validation"),
        # Worse on these images than the baseline, though ranked first by its score.
        (890, 0, "the baseline: no trial beat it on validation"),
    ],
)
def test_the_best_trial_must_be_clearly_better_than_the_baseline(best_right: int, answer: int, says: str) -> None:
    best = trial(1, 0.95)
    chosen, why = choose([best, BASE], BASE, {0: right(900), 1: right(best_right)}, "validation (1000 images)")
    assert chosen.number == answer and why.startswith(says)


def test_without_a_baseline_or_its_evidence_the_best_trial_is_the_answer() -> None:
    best = trial(1, 0.95)
    assert choose([best], None, {}, "validation")[0] is best  # KerasTuner: no baseline trial
    assert choose([best, BASE], BASE, {}, "validation")[0] is best  # an older study
    assert choose([BASE], BASE, {0: right(900)}, "validation")[0] is BASE  # nothing else ran


def test_cross_validated_finalists_are_ranked_by_their_accuracy_across_folds() -> None:
    first, second = trial(1, 0.99), trial(2, 0.98)
    correct = {0: right(900), 1: right(940), 2: right(970)}
    ranked = by_accuracy([first, second, BASE], correct)
    assert [t.number for t in ranked] == [2, 1, 0]
    chosen, why = choose(ranked, BASE, correct, "4-fold cross-validation (1000 images)")
    assert chosen.number == 2 and "cross-validation" in why


def test_finalists_are_the_best_distinct_trials_then_the_baseline() -> None:
    trials = [
        BASE,
        trial(1, 0.97),
        trial(2, 0.97, dense=64),
        trial(3, 0.98),
        trial(4, 0.99, dense=64),
        trial(5, None, state=TrialState.PRUNED),
    ]
    # Trial 4 first; trial 2 has its parameters (a later duplicate would too); then trial 3.
    assert [t.number for t in finalists(trials)] == [4, 3, 0]
    assert [t.number for t in finalists([BASE])] == [0]
    assert finalists([]) == []
