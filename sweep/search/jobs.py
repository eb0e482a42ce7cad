"""Jobs besides trials that a sweep's workers take while the search runs: the baseline's retrain.

The baseline's retrain on train + validation depends on nothing the search finds, so it need
not wait for it: the first worker that the driver starts takes it (under the study's lock, so
one worker does), trains it on its own core while the others search, and saves the model
beside the baseline's (``results/<dataset>/baseline/retrained.keras``). The study records the
job (a study user attribute), so the search's deadline stops keeping time back for it, and the
driver's retrain (:mod:`sweep.commands.retrain`) tests that model instead of training it again. A job
whose worker died is taken up by the driver at the end, as before.

No TensorFlow here until a job trains.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna

from sweep.files import atomic_write
from sweep.search.worker import study_lock

if TYPE_CHECKING:
    from sweep.data.registry import Dataset
    from sweep.progress import Display
    from sweep.settings import DataConfig

BASELINE_JOB = "baseline_retrain"
# A running job whose worker has not finished it in this many times its estimate is taken to
# have died with it: the driver's retrain plans for the baseline again.
STALE_FACTOR = 2.0


def baseline_model_path(folder: Path) -> Path:
    """Where the baseline's retrained model is kept (``folder``: the dataset's results)."""
    return folder / "baseline" / "retrained.keras"


def baseline_job(study: optuna.Study) -> dict[str, Any]:
    """The baseline's retrain job as the study records it (empty: nobody took it)."""
    return dict(study.user_attrs.get(BASELINE_JOB) or {})


def baseline_taken(study: optuna.Study, now: float | None = None) -> bool:
    """Whether a worker did, or is doing, the baseline's retrain (then the search keeps no time
    back for it); a job running far past its estimate is not counted."""
    job = baseline_job(study)
    if job.get("state") == "done":
        return True
    if job.get("state") != "running":
        return False
    estimate = job.get("estimate") or 0.0
    return not estimate or (now or time.time()) < job["started"] + STALE_FACTOR * estimate


def claim_baseline(study: optuna.Study, params: dict[str, Any], estimate: float | None, worker: int) -> bool:
    """Take the baseline's retrain job for ``worker`` unless another did; True: it is ours."""
    with study_lock(study):
        if baseline_job(study):
            return False
        study.set_user_attr(
            BASELINE_JOB,
            {"state": "running", "params": params, "estimate": estimate, "started": time.time(), "worker": worker},
        )
        return True


def run_baseline_job(
    study: optuna.Study,
    params: dict[str, Any],
    model: str | None,
    dataset: Dataset,
    data: DataConfig,
    display: Display,
    worker: int,
    estimate: float | None,
) -> bool:
    """Retrain the baseline (``params``) on train + validation in this worker if nobody has,
    and save it; True where this worker did."""
    if not claim_baseline(study, params, estimate, worker):
        return False
    from sweep.models.build import portable
    from sweep.models.train import fit_full

    display.log(f"[worker {worker}] retraining the baseline on train + validation while the search runs")
    started = time.time()
    result = fit_full(params, model, dataset, data.seed, display, "baseline")
    path = atomic_write(baseline_model_path(data.folder), portable(result.model).save)
    job = {
        **baseline_job(study),
        "state": "done",
        "seconds": round(time.time() - started, 2),
        "path": str(path),
        "history": result.history,  # the answer's plots, where the baseline is the answer
    }
    study.set_user_attr(BASELINE_JOB, job)
    display.log(f"[worker {worker}] the baseline is retrained ({job['seconds']:.0f} s); back to the search")
    return True


def retrained_baseline(study: optuna.Study, params: dict[str, Any], folder: Path) -> Path | None:
    """The baseline model a worker retrained for this study with ``params``, if it is there."""
    job = baseline_job(study)
    path = baseline_model_path(folder)
    if job.get("state") != "done" or job.get("params") != params or not path.is_file():
        return None
    return path
