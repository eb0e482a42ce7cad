"""Which trial to retrain as the answer, on evidence that survives noise.

The search ranks trials by their validation score, and the best of many noisy scores overstates
the winner. So the answer is the best trial only where it is clearly better than the baseline:
where the 95 % interval of their paired difference, on the same images, stays above 0.

Where it is not, a rule fixed in advance decides: the best starting point of the portfolio,
unless the baseline is clearly better than it; else the baseline. The starting points were
chosen on validation data where each beat the baseline on every dataset, by 0.010 to 0.064
(docs/portfolio.md), while a search on a slow machine compares them with it after a few epochs
on a share of the images, which cannot tell them apart (MNIST on the slowest kind: `small` after
3 epochs on 11 % of the images, +0.0022, -0.0020 to +0.0063). Where the trials explored on such
a share, the baseline's lead there does not keep it either: the share holds a tenth of the
retrain's steps, and the baseline, 4 times as many steps an epoch (batch 32), learns fastest in
few of them (MNIST at the slowest kind's emulated speed: `small` 0.9655 against its 0.9712 after
2 epochs on 12 % of the images; retrained on every image, `small` scores 0.9950-0.9958 on
held-out training images, the baseline 0.9897-0.9901).

A small validation split cannot tell: scikit-learn's digits keep 144 validation images, on which
one image is 0.7 points. There the finalists (the best trials and the baseline) are scored again
by k-fold cross-validation on train + validation together, every image predicted once by a model
that did not train on it, when the time limit has room for it (planned for by
:meth:`sweep.search.budget.TimeLimit.search_ends_at`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from sweep.choice.stats import pack, paired_difference, unpack, with_interval
from sweep.choice.trials import feasible, final_params, is_baseline, packed_correct, record
from sweep.data.registry import Dataset
from sweep.models.user_models import plan
from sweep.progress import Display
from sweep.search.study import recorded_space

# Cross-validate when the validation split has fewer images than this: with 2,000 images a
# gain of one point between models that disagree on 3 % of them is 2.6 standard errors.
RESCORE_BELOW = 2_000
FOLDS = 4
CV_ATTR = "cross_validation"


def choose(
    candidates: list[FrozenTrial],
    base: FrozenTrial | None,
    correct: Mapping[int, np.ndarray],
    where: str,
    shared: bool = False,
) -> tuple[FrozenTrial, str]:
    """The trial to retrain as the answer, and why.

    ``candidates``: completed trials, best first; ``correct``: which images each one got right
    (by trial number; on the validation split or across folds, as ``where`` says). The best
    candidate is the answer where it is clearly better than the baseline on those images;
    otherwise the best starting point among the candidates where the baseline is not clearly
    better than it, or whatever it scored where the trials explored on a share of the training
    images (``shared``; :func:`starting_point_instead`); otherwise the baseline.
    """
    best = next((t for t in candidates if base is None or t.number != base.number), None)
    if base is not None and best is not None and not feasible(base):
        return best, f"trial {best.number}, the best on {where} within the deployment limits (the baseline breaks them)"
    if base is None or base.state != TrialState.COMPLETE:
        assert best is not None
        return best, f"trial {best.number}, the best on {where}"
    if best is not None and (best.number not in correct or base.number not in correct):
        return best, f"trial {best.number}, the best on {where}"  # a study of an older version
    if best is None or correct[base.number].mean() >= correct[best.number].mean():
        why, detail = f"no trial beat it on {where}", ""
    else:
        gain, low, high = paired_difference(correct[best.number], correct[base.number])
        interval = with_interval(gain, low, high, signed=True)
        if low > 0:
            return best, f"trial {best.number}, the best on {where}: {interval} over the baseline"
        why = f"the best trial, {best.number}, is not clearly better on {where}: {interval}"
        detail = f" (the best, trial {best.number}: {interval})"
    instead = starting_point_instead(candidates, base, correct, shared)
    if instead is None:
        return base, f"the baseline: {why}"
    return instead, (
        f"trial {instead.number} ({record(instead)['portfolio']}), the best starting point: no trial is clearly "
        f"better than the baseline on {where}{detail}, and then the rule takes it"
        + (" (trials explored on a share of the images: docs/portfolio.md)" if shared else " (docs/portfolio.md)")
    )


def starting_point_instead(
    candidates: list[FrozenTrial], base: FrozenTrial, correct: Mapping[int, np.ndarray], shared: bool = False
) -> FrozenTrial | None:
    """The first starting point of the portfolio among ``candidates`` (best first) with evidence,
    within the deployment limits; None where there is none, or the baseline is clearly better
    than it on the images of ``correct`` and the trials explored on all the training images
    (not ``shared``)."""
    for trial in candidates:
        if record(trial).get("portfolio") and trial.number in correct and feasible(trial):
            if shared:
                return trial
            _, low, _ = paired_difference(correct[base.number], correct[trial.number])
            return trial if low <= 0 else None
    return None


def by_accuracy(trials: list[FrozenTrial], correct: Mapping[int, np.ndarray]) -> list[FrozenTrial]:
    """``trials`` ranked by their accuracy on the images of ``correct`` (ties: lower number)."""
    return sorted(trials, key=lambda t: (-correct[t.number].mean(), t.number))


def validation_correct(trials: list[FrozenTrial]) -> dict[int, np.ndarray]:
    """Which validation images each trial's model got right, where the study recorded it."""
    return {t.number: unpack(packed) for t in trials if (packed := packed_correct(t)) is not None}


def needs_cross_validation(dataset: Dataset) -> bool:
    """Whether the validation split is too small to choose the answer on."""
    return len(dataset.y_val) < RESCORE_BELOW


def cross_validated(
    study: optuna.Study,
    trials: list[FrozenTrial],
    dataset: Dataset,
    seed: int,
    display: Display,
    until: float | None = None,
    fold_seconds: Mapping[int, float] | None = None,
) -> dict[int, np.ndarray]:
    """Which images of train + validation each of ``trials`` gets right when each fold of FOLDS
    is predicted by a model trained on the others; remembered in the study, so a second retrain
    does not cross-validate again (nor the driver a baseline a worker did: :mod:`sweep.search.jobs`).

    The baseline goes first (a choice needs it), then the others in the order given. With
    ``until`` (a :func:`time.time` value), a fold that would end after it does not start, so
    the answer's retrain keeps its time: a fold is expected to take as long as the trial's last
    one, or its ``fold_seconds`` (by trial number) before any. Only trials cross-validated in
    full are returned.
    """
    results = remembered(study)
    images = joined(dataset)
    for trial in sorted(trials, key=lambda t: not is_baseline(t)):
        if trial.number in results:
            continue
        params, model = final_params(trial), recorded_space(study).model
        expected = (fold_seconds or {}).get(trial.number, 0.0)
        correct = across_folds(params, model, images, dataset, seed, display, f"trial {trial.number}", until, expected)
        if correct is None:
            break
        results[trial.number] = correct
        remember(study, trial.number, correct)
    return {t.number: results[t.number] for t in trials if t.number in results}


def joined(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Train + validation, the images the folds split."""
    return np.concatenate([dataset.x_train, dataset.x_val]), np.concatenate([dataset.y_train, dataset.y_val])


def across_folds(
    params: dict[str, Any],
    model: str | None,
    images: tuple[np.ndarray, np.ndarray],
    dataset: Dataset,
    seed: int,
    display: Display,
    label: str,
    until: float | None = None,
    expected: float = 0.0,
) -> np.ndarray | None:
    """Which of ``images`` (train + validation) a model of ``params`` gets right, each fold of
    FOLDS (split by ``seed``) predicted by one trained on the others; None where a fold
    (``expected`` seconds, then as long as the last) would end after ``until``."""
    from sklearn.model_selection import StratifiedKFold

    from sweep.models import train as training

    x, y = images
    arch = plan(params, model)
    correct = np.zeros(len(y), dtype=bool)
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(x, y)
    with display.session(), display.task(f"cross-validate {label} folds", FOLDS) as task:
        for fold, (train_index, test_index) in enumerate(folds):
            began = time.time()
            if until is not None and began + expected > until:
                return None
            built = training.new_model(arch, dataset.input_shape, dataset.num_classes, seed + fold, len(train_index))
            training.train(built, arch, x[train_index], y[train_index], seed=seed + fold)
            correct[test_index] = training.correct(built, x[test_index], y[test_index])
            training.release()
            expected = time.time() - began
            task.advance(f"fold accuracy {correct[test_index].mean():.4f}")
    return correct


def remembered(study: optuna.Study) -> dict[int, np.ndarray]:
    """The cross-validation results the study holds, by trial number."""
    stored: dict[str, Any] = study.user_attrs.get(CV_ATTR, {})
    return {int(number): unpack(text) for number, text in stored.items()}


def remember(study: optuna.Study, number: int, correct: np.ndarray) -> None:
    """Keep trial ``number``'s cross-validation result in the study."""
    study.set_user_attr(CV_ATTR, {**study.user_attrs.get(CV_ATTR, {}), str(number): pack(correct)})
