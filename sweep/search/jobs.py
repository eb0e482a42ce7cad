"""Jobs besides trials that a sweep's workers take while the search runs: the baseline's retrain,
and its cross-validation.

The baseline's retrain on train + validation depends on nothing the search finds, so it need
not wait for it: the first worker that the driver starts takes it (under the study's lock, so
one worker does), trains it on its own core while the others search, and saves the model
beside the baseline's (``results/<dataset>/baseline/retrained.keras``). The study records the
job (a study user attribute), so the search's deadline stops keeping time back for it, and the
driver's retrain (:mod:`sweep.commands.retrain`) tests that model instead of training it again. A job
whose worker died is taken up by the driver at the end, as before.

Where the finalists are cross-validated (a small validation split), the baseline is always one
of them: a worker cross-validates it during the search the same way (its folds kept in the
study, :func:`sweep.search.rescore.remember`), so the driver's cross-validation after the search,
on one process, has only the best trials left to do.

No TensorFlow here until a job trains.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna

from sweep.choice.trials import final_params
from sweep.files import atomic_write
from sweep.search.rescore import FOLDS, across_folds, joined, remember, remembered
from sweep.search.study import baseline_trial
from sweep.search.worker import study_lock

if TYPE_CHECKING:
    from sweep.data.registry import Dataset
    from sweep.progress import Display
    from sweep.settings import DataConfig

BASELINE_JOB = "baseline_retrain"
FOLDS_JOB = "baseline_folds"
# A running job whose worker has not finished it in this many times its estimate is taken to
# have died with it: the driver's retrain plans for the baseline again.
STALE_FACTOR = 2.0


def baseline_model_path(folder: Path) -> Path:
    """Where the baseline's retrained model is kept (``folder``: the dataset's results)."""
    return folder / "baseline" / "retrained.keras"


def baseline_job(study: optuna.Study) -> dict[str, Any]:
    """The baseline's retrain job as the study records it (empty: nobody took it)."""
    return job(study, BASELINE_JOB)


def job(study: optuna.Study, name: str) -> dict[str, Any]:
    """Job ``name`` as the study records it (empty: nobody took it)."""
    return dict(study.user_attrs.get(name) or {})


def baseline_taken(study: optuna.Study, now: float | None = None) -> bool:
    """Whether a worker did, or is doing, the baseline's retrain (then the search keeps no time
    back for it); a job running far past its estimate is not counted."""
    return taken(study, BASELINE_JOB, now)


def folds_taken(study: optuna.Study, now: float | None = None) -> bool:
    """Whether a worker cross-validated, or is cross-validating, the baseline (as
    :func:`baseline_taken`)."""
    return taken(study, FOLDS_JOB, now)


def taken(study: optuna.Study, name: str, now: float | None = None) -> bool:
    """Whether job ``name`` is done, or running and not far past its estimate."""
    record = job(study, name)
    if record.get("state") == "done":
        return True
    if record.get("state") != "running":
        return False
    estimate = record.get("estimate") or 0.0
    return not estimate or (now or time.time()) < record["started"] + STALE_FACTOR * estimate


def claim_baseline(study: optuna.Study, params: dict[str, Any], estimate: float | None, worker: int) -> bool:
    """Take the baseline's retrain job for ``worker`` unless another did; True: it is ours."""
    return claim(study, BASELINE_JOB, {"params": params, "estimate": estimate, "worker": worker})


def claim(study: optuna.Study, name: str, attrs: dict[str, Any]) -> bool:
    """Take job ``name`` (recorded with ``attrs``) unless a worker did; True: it is ours."""
    with study_lock(study):
        if job(study, name):
            return False
        study.set_user_attr(name, {"state": "running", "started": time.time(), **attrs})
        return True


def jobs_seconds(study: optuna.Study) -> float:
    """How long workers spent on the jobs they finished: busy time, beside their trials'."""
    return sum(float(job(study, name).get("seconds") or 0.0) for name in (BASELINE_JOB, FOLDS_JOB))


def finish(study: optuna.Study, name: str, started: float, **attrs: Any) -> dict[str, Any]:
    """Record job ``name`` as done, ``started`` (a :func:`time.time` value) and ``attrs`` with it."""
    record = {**job(study, name), "state": "done", "seconds": round(time.time() - started, 2), **attrs}
    study.set_user_attr(name, record)
    return record


@dataclass(frozen=True)
class Worker:
    """What a worker's jobs on the baseline need: its study, the baseline's ``params``, the
    user's ``model`` function (None: sweep's CNN), the data, where to report, and its number."""

    study: optuna.Study
    params: dict[str, Any]
    model: str | None
    dataset: Dataset
    data: DataConfig
    display: Display
    index: int


def run_baseline_job(worker: Worker, estimate: float | None) -> bool:
    """Retrain the baseline on train + validation in this worker if nobody has, and save it;
    True where this worker did."""
    study, display, data = worker.study, worker.display, worker.data
    if not claim_baseline(study, worker.params, estimate, worker.index):
        return False
    from sweep.models.build import portable
    from sweep.models.train import fit_full

    display.log(f"[worker {worker.index}] retraining the baseline on train + validation while the search runs")
    started = time.time()
    result = fit_full(worker.params, worker.model, worker.dataset, data.seed, display, "baseline")
    path = atomic_write(baseline_model_path(data.folder), portable(result.model).save)
    # The history: the answer's plots, where the baseline is the answer.
    done = finish(study, BASELINE_JOB, started, path=str(path), history=result.history)
    display.log(f"[worker {worker.index}] the baseline is retrained ({done['seconds']:.0f} s); back to the search")
    return True


def run_folds_job(worker: Worker, estimate: float | None) -> bool:
    """Cross-validate the baseline (the study's trial 0) in this worker if nobody has, as the
    driver would (:func:`sweep.search.rescore.cross_validated`, the same folds); True where
    this worker did."""
    study, display, params, dataset = worker.study, worker.display, worker.params, worker.dataset
    base = baseline_trial(study)
    # Its folds stand for trial 0's in the driver's choice: only where they are of its recipe.
    if base is None or base.number in remembered(study) or final_params(base) != params:
        return False
    if not claim(study, FOLDS_JOB, {"estimate": estimate, "worker": worker.index, "trial": base.number}):
        return False
    display.log(f"[worker {worker.index}] cross-validating the baseline ({FOLDS} folds) while the search runs")
    started = time.time()
    correct = across_folds(params, worker.model, joined(dataset), dataset, worker.data.seed, display, "the baseline")
    assert correct is not None  # no deadline: every fold ran
    remember(study, base.number, correct)
    done = finish(study, FOLDS_JOB, started, accuracy=round(float(correct.mean()), 4))
    display.log(
        f"[worker {worker.index}] the baseline is cross-validated "
        f"({done['accuracy']:.4f}, {done['seconds']:.0f} s); back to the search"
    )
    return True


def retrained_baseline(study: optuna.Study, params: dict[str, Any], folder: Path) -> Path | None:
    """The baseline model a worker retrained for this study with ``params``, if it is there."""
    record = baseline_job(study)
    path = baseline_model_path(folder)
    if record.get("state") != "done" or record.get("params") != params or not path.is_file():
        return None
    return path
