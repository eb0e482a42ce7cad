"""Which trial to retrain as the answer, on evidence that survives noise.

The search ranks trials by their validation score, and the best of many noisy scores overstates
the winner. So the answer is the best trial only where it is clearly better than the baseline:
where the 95 % interval of their paired difference, on the same images, stays above 0.

Where it is not, a rule fixed in advance decides: the best starting point of the portfolio,
unless the baseline is clearly better than it; else the baseline. The starting points were
chosen on validation data where each beat the baseline on every dataset, by 0.010 to 0.064
(docs/portfolio.md), while a search on a slow machine compares them with it after a few epochs
on a share of the images, which cannot tell them apart (MNIST on the slowest kind: `small` after
3 epochs on 11 % of the images, +0.0022, -0.0020 to +0.0063).

Where the trials explored on such a share, a lead there is evidence only between runs of as
many optimizer steps. The share holds a tenth of the retrain's steps, and in so few the recipes
that learn fastest lead, not those that end best: the baseline (batch 32, four times the steps
an epoch of `small`'s batch 128), and sampled recipes without batch norm or shifts that run
more epochs in the same seconds. So there the portfolio's first starting point, the cheapest, is
the answer unless a trial (another starting point included) is clearly better than it in no more
steps (:func:`on_a_share`). MNIST at the slowest kind's
emulated speed: `small`, 2 epochs on 11 % of the images (94 steps), 0.9622 on validation, the
best sampled trial 0.9823 in 477 steps and the baseline 0.9725 in 950; each retrained from its
trial's weights for the same 60 s on the training split, `small` scored 0.9947-0.9968 on the
validation images and the sampled trials 0.9922-0.9932 (docs/benchmarks.md).

A small validation split cannot tell: scikit-learn's digits keep 144 validation images, on which
one image is 0.7 points. There the finalists (the best trials and the baseline) are scored again
by k-fold cross-validation on train + validation together, every image predicted once by a model
that did not train on it, when the time limit has room for it (planned for by
:meth:`sweep.search.budget.TimeLimit.search_ends_at`). Where it has not, a lead over the
baseline on those few images says little about which of the trials ahead of it is best, so the
best starting point is the answer unless a trial is clearly better than it (:func:`on_a_small_split`).
MNIST 1k (100 validation images): the sampled trials that won them, each retrained as the sweep
did, scored 0.9824 and 0.9832 on the other 59,000 training images, `small` 0.9829-0.9841.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from sweep.choice.stats import pack, paired_difference, unpack, with_interval
from sweep.choice.trials import (
    feasible,
    final_params,
    is_baseline,
    is_starting_point,
    packed_correct,
    portfolio_first,
    record,
    training_steps,
)
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
    small: bool = False,
) -> tuple[FrozenTrial, str]:
    """The trial to retrain as the answer, and why.

    ``candidates``: completed trials, best first; ``correct``: which images each one got right
    (by trial number; on the validation split or across folds, as ``where`` says). The best
    candidate is the answer where it is clearly better than the baseline on those images;
    otherwise the best starting point among the candidates where the baseline is not clearly
    better than it; otherwise the baseline. Where the trials explored on a share of the training
    images (``shared``), the portfolio's first starting point is the answer unless a trial is
    clearly better than it in no more optimizer steps (:func:`on_a_share`). Where ``where`` is a
    validation split too small to choose on (``small``), the best starting point is, unless the
    baseline is clearly better than it or a trial clearly better than it (:func:`on_a_small_split`).
    """
    best = next((t for t in candidates if base is None or t.number != base.number), None)
    if base is not None and best is not None and not feasible(base):
        return best, f"trial {best.number}, the best on {where} within the deployment limits (the baseline breaks them)"
    if base is None or base.state != TrialState.COMPLETE:
        assert best is not None
        return best, f"trial {best.number}, the best on {where}"
    if best is not None and (best.number not in correct or base.number not in correct):
        return best, f"trial {best.number}, the best on {where}"  # a study of an older version
    if shared and (first := first_starting_point(candidates, correct)) is not None:
        return on_a_share(candidates, first, correct, where)
    point = best_starting_point(candidates, correct)
    if small and point is not None and not clearly_ahead(base, point, correct):
        return on_a_small_split(candidates, point, correct, where)
    if best is None or correct[base.number].mean() >= correct[best.number].mean():
        why, detail = f"no trial beat it on {where}", ""
    else:
        gain, low, high = paired_difference(correct[best.number], correct[base.number])
        interval = with_interval(gain, low, high, signed=True)
        if low > 0:
            return best, f"trial {best.number}, the best on {where}: {interval} over the baseline"
        why = f"the best trial, {best.number}, is not clearly better on {where}: {interval}"
        detail = f" (the best, trial {best.number}: {interval})"
    if point is None or clearly_ahead(base, point, correct):
        return base, f"the baseline: {why}"
    return point, (
        f"trial {point.number} ({record(point)['portfolio']}), the best starting point: no trial is clearly "
        f"better than the baseline on {where}{detail}, and then the rule takes it (docs/portfolio.md)"
    )


def clearly_ahead(trial: FrozenTrial, other: FrozenTrial, correct: Mapping[int, np.ndarray]) -> bool:
    """Whether ``trial`` is clearly better than ``other`` on the images of ``correct``: the 95 %
    interval of their paired difference above 0."""
    return paired_difference(correct[trial.number], correct[other.number])[1] > 0


def best_starting_point(candidates: list[FrozenTrial], correct: Mapping[int, np.ndarray]) -> FrozenTrial | None:
    """The best starting point among ``candidates`` (best first): see :func:`starting_points_in`."""
    return next(iter(starting_points_in(candidates, correct)), None)


def first_starting_point(candidates: list[FrozenTrial], correct: Mapping[int, np.ndarray]) -> FrozenTrial | None:
    """The portfolio's first starting point among ``candidates`` (see :func:`starting_points_in`)."""
    return portfolio_first(starting_points_in(candidates, correct))


def starting_points_in(candidates: list[FrozenTrial], correct: Mapping[int, np.ndarray]) -> list[FrozenTrial]:
    """The portfolio's starting points among ``candidates``, in their order, with evidence in
    ``correct`` and within the deployment limits."""
    return [t for t in candidates if is_starting_point(t) and t.number in correct and feasible(t)]


def rivals(candidates: list[FrozenTrial], point: FrozenTrial, correct: Mapping[int, np.ndarray]) -> list[FrozenTrial]:
    """``candidates`` other than ``point``, in their order, with evidence in ``correct`` and
    within the deployment limits: those that may displace it."""
    return [t for t in candidates if t is not point and t.number in correct and feasible(t)]


def clearly_better(
    candidates: list[FrozenTrial], point: FrozenTrial, correct: Mapping[int, np.ndarray], most_steps: int | None
) -> tuple[FrozenTrial, str] | None:
    """The first of ``candidates`` (best first) clearly better than ``point`` on the images of
    ``correct`` (the 95 % interval of their paired difference above 0) in no more than
    ``most_steps`` optimizer steps (None: any), and that interval in words; None if none is."""
    for trial in rivals(candidates, point, correct):
        gain, low, high = paired_difference(correct[trial.number], correct[point.number])
        taken = training_steps(trial)
        if low > 0 and (most_steps is None or (taken is not None and taken <= most_steps)):
            return trial, with_interval(gain, low, high, signed=True)
    return None


def leader(
    candidates: list[FrozenTrial], point: FrozenTrial, correct: Mapping[int, np.ndarray], steps: bool = False
) -> str:
    """``; trial N led by +x (interval)`` (and ``in S`` optimizer steps with ``steps``) where the
    best of ``candidates`` other than ``point`` scored above it on the images of ``correct``, not
    clearly; else an empty string."""
    others = rivals(candidates, point, correct)
    if not others or correct[others[0].number].mean() <= correct[point.number].mean():
        return ""
    led = with_interval(*paired_difference(correct[others[0].number], correct[point.number]), signed=True)
    return f"; trial {others[0].number} led by {led}" + (f" in {training_steps(others[0]) or 0:,}" if steps else "")


def on_a_share(
    candidates: list[FrozenTrial], point: FrozenTrial, correct: Mapping[int, np.ndarray], where: str
) -> tuple[FrozenTrial, str]:
    """The answer where the trials explored on a share of the training images: the first of
    ``candidates`` (best first) that is clearly better than the portfolio's first starting point
    ``point`` on the images of ``correct`` and took no more optimizer steps than it did; else
    ``point``.

    A lead taken in more steps is not evidence there: the share holds a fraction of the
    retrain's steps, and in few steps the recipes that learn fastest lead, not those that end
    best (module docstring). Nor is a lead within noise, another starting point's included:
    `double` costs about 3.5 times `small`'s seconds an epoch, so in the answer's time it trains
    a fraction of `small`'s epochs (MNIST at the slowest speed, 65 % share: `double` led `small`
    by 0.0012 on validation, was taken, fitted 0.57 epochs and tested 0.9900 on held-out images
    where `small`'s answers reached 0.9958; docs/benchmarks.md)."""
    steps, name = training_steps(point) or 0, record(point)["portfolio"]
    found = clearly_better(candidates, point, correct, steps)
    if found is not None:
        trial, interval = found
        return trial, (
            f"trial {trial.number}, the best on {where} in no more optimizer steps than the portfolio's first "
            f"starting point, trial {point.number} ({name}): {interval} over it"
        )
    return point, (
        f"trial {point.number} ({name}), the portfolio's first starting point: trials explored on a share of the "
        f"images, and no trial is clearly better than it on {where} in as few optimizer steps "
        f"({steps:,} steps{leader(candidates, point, correct, steps=True)}; docs/portfolio.md)"
    )


def on_a_small_split(
    candidates: list[FrozenTrial], point: FrozenTrial, correct: Mapping[int, np.ndarray], where: str
) -> tuple[FrozenTrial, str]:
    """The answer where it is chosen on a validation split too small to choose on (no time was
    left to cross-validate): the first of ``candidates`` (best first) clearly better than the
    best starting point ``point`` on it; else ``point`` (module docstring)."""
    found = clearly_better(candidates, point, correct, None)
    name = record(point)["portfolio"]
    if found is not None:
        trial, interval = found
        return trial, f"trial {trial.number}, the best on {where}: {interval} over the best starting point"
    return point, (
        f"trial {point.number} ({name}), the best starting point: on {where}, too few to choose on, no trial is "
        f"clearly better than it{leader(candidates, point, correct)} (docs/portfolio.md)"
    )


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
