"""The best trials' models, kept so that the answer's retrain starts from its trial's weights.

Where trials explore on a share of the training images (:mod:`sweep.search.fidelity`: a slow
machine, a large split), the answer's retrain on all of them gets a few epochs, and its trial
had trained the same recipe for about as long again, on the share, before being thrown away.
Started from that trial's weights (a fresh optimizer and learning-rate schedule), the retrain
ends better: on MNIST training images none trained on, `small` trained 20 epochs on an eighth
of 50,000 images then 3 on all of them scored 0.9949, against 0.9940 from scratch, +0.0009 (SE
0.0002) over 12 seeds, 10 of them ahead (docs/benchmarks.md). Where trials train on every
image, the retrain gets many epochs and no such gain was measured (``BENCH=reuse``): nothing
is kept there.

So a search that explores on a share keeps the models of its KEPT best trials on validation
and of the portfolio's starting points, which the answer's rule may take where no trial is
clearly better (``results/<dataset>/trials/<study>-trial_<n>.keras``, recorded as the trial's
``kept_model``); a kept model whose trial falls out of them is deleted. No TensorFlow here:
the caller saves.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweep.choice.trials import is_baseline, is_starting_point, record
from sweep.files import atomic_write

# The answer is the best trial on validation, or one of the finalists cross-validation weighs
# (sweep.choice.trials.FINALISTS, 2, besides the baseline): three cover them.
KEPT = 3
FOLDER = "trials"


def kept_in(folder: Path, explored: int, train_images: int) -> Path | None:
    """Where a search keeps its best trials' models: the dataset's results ``folder`` where
    its trials explore on ``explored`` of ``train_images`` training images, a share; else None."""
    return folder if explored < train_images else None


def trial_model_path(folder: Path, study: str, number: int) -> Path:
    """Where trial ``number`` of study ``study`` keeps its model (``folder``: the dataset's
    results; studies of other names may share it)."""
    return folder / FOLDER / f"{study}-trial_{number}.keras"


def keep(
    study: optuna.Study, number: int, score: float, folder: Path, save: Callable[[Path], object], start: bool = False
) -> Path | None:
    """Save trial ``number``'s model with ``save(path)`` where it is a starting point (``start``)
    or its ``score`` ranks among the KEPT best of the study's completed trials (the baseline
    aside: it retrains as written), and delete kept models of finished trials that no longer
    do (starting points' stay); the path saved to, or None. Single-objective studies only (a
    Pareto front has no one best)."""
    if len(study.directions) != 1:
        return None
    finished = {t.number: t for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    scores = {
        t.number: float(t.values[0])
        for t in finished.values()
        if t.state == TrialState.COMPLETE and t.values and not is_baseline(t)
    }
    scores[number] = score
    sign = 1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1.0
    best = set(sorted(scores, key=lambda n: (-sign * scores[n], n))[:KEPT])
    starts = {n for n, t in finished.items() if is_starting_point(t)}
    name = study.study_name
    saved = atomic_write(trial_model_path(folder, name, number), save) if start or number in best else None
    for other in set(finished) - best - starts:
        trial_model_path(folder, name, other).unlink(missing_ok=True)
    return saved


def warm_start(trial: FrozenTrial, train_images: int) -> Path | None:
    """The model ``trial`` kept (``kept_model``) where the answer's retrain starts from it: the
    trial completed on a share of the ``train_images`` training images and is not the baseline
    (which retrains as written), and its file is still there; None otherwise."""
    attrs = record(trial)
    path = Path(attrs["kept_model"]) if attrs.get("kept_model") else None
    on_share = int(attrs.get("train_images") or train_images) < train_images
    if path is None or not path.is_file() or not on_share or is_baseline(trial):
        return None
    return path if trial.state == TrialState.COMPLETE else None
