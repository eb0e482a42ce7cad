"""Tests for sweep.choice.trials: the parameters a retrain runs, the best trial, and the finalists."""

from __future__ import annotations

import datetime

import optuna
import pytest
from optuna.distributions import IntDistribution
from optuna.trial import TrialState

from sweep.choice.trials import best_of, counts_towards_trials, final_params, finalists
from sweep.models.params import MNIST_BASELINE
from tests.fixtures import candidate_trial, timed_trial


def _trial(params: dict, best_epoch: int) -> optuna.trial.FrozenTrial:
    now = datetime.datetime.now()
    return optuna.trial.FrozenTrial(
        number=1,
        state=optuna.trial.TrialState.COMPLETE,
        value=0.9,
        values=None,
        datetime_start=now,
        datetime_complete=now,
        params={"epochs": params["epochs"]},
        distributions={"epochs": IntDistribution(1, 10)},
        user_attrs={"params": params, "best_epoch": best_epoch},
        system_attrs={},
        intermediate_values={},
        trial_id=1,
    )


@pytest.mark.parametrize(
    ("schedule", "stopped", "retrained_epochs"),
    [
        ("constant", False, 6),
        ("cosine", False, 6),  # all its epochs, whatever its best one
        ("constant", True, 3),  # cut by a deadline after 3 epochs, and complete: those 3
    ],
)
def test_the_retrain_runs_the_epochs_the_trial_ran(schedule: str, stopped: bool, retrained_epochs: int) -> None:
    params = {**MNIST_BASELINE, "epochs": 6, "lr_schedule": schedule}
    trial = _trial(params, best_epoch=4)
    if stopped:
        trial.user_attrs.update(stopped="timeout", epochs_run=3)
    assert final_params(trial)["epochs"] == retrained_epochs


def test_best_of_takes_completed_trials_only() -> None:
    assert best_of([]) is None
    assert best_of([timed_trial(0, None, state=TrialState.PRUNED)]) is None
    assert best_of([timed_trial(0, 0.9), timed_trial(1, 0.95), timed_trial(2, None, state=TrialState.FAIL)]).number == 1


BASE = candidate_trial(0, 0.90, baseline=True)


def test_finalists_are_the_best_distinct_trials_then_the_baseline() -> None:
    trials = [
        BASE,
        candidate_trial(1, 0.97),
        candidate_trial(2, 0.97, dense=64),
        candidate_trial(3, 0.98),
        candidate_trial(4, 0.99, dense=64),
        candidate_trial(5, None, state=TrialState.PRUNED),
    ]
    # Trial 4 first; trial 2 has its parameters (a later duplicate would too); then trial 3.
    assert [t.number for t in finalists(trials)] == [4, 3, 0]
    assert [t.number for t in finalists([BASE])] == [0]
    assert finalists([]) == []


@pytest.mark.parametrize(
    ("state", "attrs", "counted"),
    [
        (TrialState.COMPLETE, {"epochs_run": 5}, True),
        (TrialState.PRUNED, {"epochs_run": 2}, True),
        (TrialState.COMPLETE, {"epochs_run": 5, "infeasible": "latency ms 2 > 1"}, True),  # trained, then measured
        (TrialState.PRUNED, {"infeasible": "parameters 30,000 > 20,000"}, False),  # never trained
        (TrialState.FAIL, {}, False),
    ],
)
def test_trials_counts_the_trials_that_trained(state: TrialState, attrs: dict, counted: bool) -> None:
    trial = optuna.trial.create_trial(
        state=state, value=0.5 if state == TrialState.COMPLETE else None, user_attrs=attrs
    )
    assert counts_towards_trials(trial) is counted


def test_a_trials_training_speed_in_images_a_second_leaves_validation_out() -> None:
    from sweep.choice.trials import images_per_second

    timed = optuna.trial.create_trial(
        value=0.9, user_attrs={"train_images": 6_000, "epochs_run": 5, "train_seconds": 10.0, "epochs_seconds": 12.0}
    )
    assert images_per_second(timed) == pytest.approx(3_000.0)
    assert images_per_second(optuna.trial.create_trial(value=0.9)) is None  # an older version's trial
