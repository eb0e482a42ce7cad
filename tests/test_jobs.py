"""The baseline's retrain and its folds as a worker's jobs (sweep.search.jobs): who takes them and
what they tell the search, without training."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import optuna
import pytest

from sweep.search.jobs import (
    BASELINE_JOB,
    FOLDS_JOB,
    STALE_FACTOR,
    baseline_model_path,
    baseline_taken,
    claim,
    claim_baseline,
    finish,
    folds_taken,
    jobs_seconds,
    retrained_baseline,
)
from tests.fixtures import candidate_trial

PARAMS = {"epochs": 5, "batch_size": 32}


def test_one_worker_takes_the_baseline_job() -> None:
    study = optuna.create_study()
    assert not baseline_taken(study)
    assert claim_baseline(study, PARAMS, estimate=100.0, worker=0)
    assert not claim_baseline(study, PARAMS, estimate=100.0, worker=1)
    assert baseline_taken(study)
    assert study.user_attrs[BASELINE_JOB]["worker"] == 0


def test_a_job_running_far_past_its_estimate_counts_as_dead() -> None:
    study = optuna.create_study()
    claim_baseline(study, PARAMS, estimate=100.0, worker=0)
    started = study.user_attrs[BASELINE_JOB]["started"]
    assert baseline_taken(study, now=started + 100.0)
    assert not baseline_taken(study, now=started + STALE_FACTOR * 100.0 + 1)


def test_the_driver_tests_the_workers_model_only_when_it_is_there_and_the_same(tmp_path: Path) -> None:
    study = optuna.create_study()
    claim_baseline(study, PARAMS, estimate=None, worker=0)
    assert retrained_baseline(study, PARAMS, tmp_path) is None  # still running
    study.set_user_attr(BASELINE_JOB, {**study.user_attrs[BASELINE_JOB], "state": "done", "seconds": 1.0})
    assert retrained_baseline(study, PARAMS, tmp_path) is None  # no file
    path = baseline_model_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"model")
    assert retrained_baseline(study, PARAMS, tmp_path) == path
    assert retrained_baseline(study, {**PARAMS, "epochs": 6}, tmp_path) is None  # other parameters
    assert baseline_taken(study, now=time.time() + 1e9)  # done stays done


def test_the_baselines_folds_are_a_job_of_their_own() -> None:
    study = optuna.create_study()
    claim_baseline(study, PARAMS, estimate=100.0, worker=0)
    assert not folds_taken(study)  # the retrain's worker did not take the folds
    assert claim(study, FOLDS_JOB, {"estimate": 400.0, "worker": 1})
    assert not claim(study, FOLDS_JOB, {"estimate": 400.0, "worker": 0})
    started = study.user_attrs[FOLDS_JOB]["started"]
    assert folds_taken(study, now=started + 400.0)
    assert not folds_taken(study, now=started + STALE_FACTOR * 400.0 + 1)  # its worker died
    record = finish(study, FOLDS_JOB, started, accuracy=0.97)
    assert record["state"] == "done" and record["worker"] == 1 and record["accuracy"] == 0.97
    assert folds_taken(study, now=started + 1e9)
    assert study.user_attrs[BASELINE_JOB]["state"] == "running"  # the other job untouched
    assert jobs_seconds(study) == record["seconds"]  # busy time: finished jobs only


def test_a_worker_cross_validates_the_baseline_once_and_the_driver_only_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The folds without training: a model is its dense units, and gets right the images whose
    index it does not divide."""
    from sweep.data.registry import Dataset
    from sweep.models import train as training
    from sweep.progress import Display
    from sweep.search import rescore
    from sweep.search.jobs import Worker, run_folds_job
    from sweep.settings import DataConfig

    trained: list[int] = []
    monkeypatch.setattr(rescore, "plan", lambda params, model: params["dense_units"])
    monkeypatch.setattr(rescore, "recorded_space", lambda study: type("Space", (), {"model": None}))
    monkeypatch.setattr(training, "new_model", lambda arch, *args: arch)
    monkeypatch.setattr(training, "train", lambda model, *args, **kwargs: trained.append(model))
    monkeypatch.setattr(training, "correct", lambda model, x, y: x[:, 0, 0, 0] % (model + 2) != 0)
    monkeypatch.setattr(training, "release", lambda: None)
    images, labels = np.arange(40.0).reshape(40, 1, 1, 1), np.arange(40) % 2
    data = Dataset(
        "tiny", images[:32], labels[:32], images[32:], labels[32:], images[:4], labels[:4], ["a", "b"], "test"
    )
    study = optuna.create_study(direction="maximize")
    base, best = candidate_trial(0, 0.9, baseline=True, dense=0), candidate_trial(1, 0.95, dense=1)
    study.add_trial(base)
    study.add_trial(best)

    recipe = {"dense_units": 0, "epochs": 5}  # trial 0's
    other = {**recipe, "epochs": 6}
    assert not run_folds_job(Worker(study, other, None, data, DataConfig("tiny"), Display(), 1), 10.0)  # not trial 0's
    assert not trained and not folds_taken(study)
    assert run_folds_job(Worker(study, recipe, None, data, DataConfig("tiny"), Display(), 1), 10.0)
    assert trained == [0] * 4 and folds_taken(study)
    assert study.user_attrs[FOLDS_JOB]["accuracy"] == 0.5  # every odd index of 40
    assert not run_folds_job(Worker(study, recipe, None, data, DataConfig("tiny"), Display(), 0), 10.0)
    trained.clear()
    done = rescore.cross_validated(study, [best, base], data, 0, Display())
    assert trained == [1] * 4  # the baseline's folds were the worker's
    assert done[0].mean() == 0.5 and done[1].mean() == pytest.approx(26 / 40)  # not divisible by 3
