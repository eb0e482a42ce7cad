"""The baseline's retrain as a worker's job (sweep.search.jobs): who takes it and what it tells the
search, without training."""

from __future__ import annotations

import time
from pathlib import Path

import optuna

from sweep.search.jobs import (
    BASELINE_JOB,
    STALE_FACTOR,
    baseline_model_path,
    baseline_taken,
    claim_baseline,
    retrained_baseline,
)

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
