"""A trial's record, and queries over a study's trials. Pure functions of Optuna's FrozenTrial
records; no TensorFlow.

What sweep records on a trial (``user_attrs``), written by :mod:`sweep.search.objective` and
:mod:`sweep.commands.sweep` and read through the functions here:

- where it came from: ``is_baseline``, ``is_first_trial``, ``portfolio`` (a starting point's
  name), ``kerastuner_id`` (copied from KerasTuner);
- what it trained: ``params`` (every parameter, epochs as run), ``epochs_planned`` (before it
  was shortened), ``shortened`` (why: ``answer``, its retrain's share of the limit, or the
  deadline that came), ``param_count``, ``train_flops`` (per epoch), ``train_images`` (a share
  of the training split, :mod:`sweep.search.fidelity`);
- how it went: ``epochs_run``, ``best_epoch``, ``val_loss`` (last epoch), ``val_images``,
  ``val_correct`` (which validation images its model got right, :func:`sweep.choice.stats.pack`),
  ``fit_seconds``, ``epochs_seconds`` (whole epochs only), ``train_seconds`` (of those, without
  validation), ``stopped`` (what cut it short: a key of STOPPED), ``error``;
- what it costs on a device (:mod:`sweep.deploy.deployment`): ``tflite_kb``, ``int8_kb``, ``latency_ms``,
  ``deploy_error``, and ``infeasible`` (the deployment limits it breaks, :mod:`sweep.deploy.constraints`).

This module owns that schema (KEYS): other modules write a record with :func:`write` or
:func:`marks` and read it through the queries here (``is_baseline``, ``stopped_by``, ...) or
:func:`record`; a key outside KEYS is a ``KeyError`` there, not a silent typo.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from optuna.trial import FrozenTrial, Trial, TrialState

from sweep.choice.stats import accuracy_interval

# A trial's ``stopped`` attribute: what cut it short, as log lines name it. Deadlines (the
# search's timeout, the time limit), or the time limit's share kept for the answer's retrain,
# which a recipe's retrain on all the images would not fit in (:meth:`sweep.search.budget.TimeLimit.epochs_cap`).
STOPPED = {"timeout": "timeout", "time_limit": "time limit", "answer_share": "answer's share of the time limit"}
# The best trials besides the baseline that are scored again where validation cannot tell them
# apart (sweep.search.rescore).
FINALISTS = 2
# A trial's ``cheaper`` attribute: the cheaper job a worker asked for when nothing the sampler
# proposed fitted the time left (sweep.search.worker.cheaper_job): the space's fewest epochs,
# then those on the share of the training images that fits (older studies hold True: epochs).
FEWEST_EPOCHS = "epochs"
SHARE_OF_IMAGES = "images"
# How the retrain's line and the report put a final model that is the baseline itself.
BASELINE_ITSELF = "the baseline itself: no gain to measure"


KEYS = frozenset(
    {
        *("is_baseline", "is_first_trial", "portfolio", "kerastuner_id", "cheaper"),
        *("params", "epochs_planned", "shortened", "param_count", "train_flops", "train_images"),
        *("epochs_run", "best_epoch", "val_loss", "val_images", "val_correct"),
        *("fit_seconds", "epochs_seconds", "train_seconds", "stopped", "error"),
        *("tflite_kb", "int8_kb", "latency_ms", "deploy_error", "infeasible", "kept_model"),
    }
)


def _known(key: str) -> str:
    if key not in KEYS:
        raise KeyError(f"{key!r} is not a key of a trial's record (sweep.choice.trials.KEYS)")
    return key


def write(trial: Trial, key: str, value: Any) -> None:
    """Record ``value`` under ``key`` (one of KEYS) on a running trial."""
    trial.set_user_attr(_known(key), value)


def marks(**attrs: Any) -> dict[str, Any]:
    """A record to enqueue or create a trial with (``user_attrs=``), its keys checked."""
    return {_known(key): value for key, value in attrs.items()}


class _Record(Mapping[str, Any]):
    """A trial's record, read-only, refusing keys outside KEYS."""

    def __init__(self, attrs: Mapping[str, Any]) -> None:
        self._attrs = attrs

    def __getitem__(self, key: str) -> Any:
        return self._attrs[_known(key)]

    def get(self, key: str, default: Any = None) -> Any:
        return self._attrs.get(_known(key), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and _known(key) in self._attrs

    def __iter__(self) -> Iterator[str]:
        return iter(self._attrs)

    def __len__(self) -> int:
        return len(self._attrs)


def record(trial: FrozenTrial | Trial) -> Mapping[str, Any]:
    """What sweep recorded on a trial (its ``user_attrs``), read-only; unknown keys raise."""
    return _Record(trial.user_attrs)


def is_baseline(trial: FrozenTrial | Trial) -> bool:
    """Whether a trial is the baseline (trial 0 of a sweep, the notebook's CNN)."""
    return bool(trial.user_attrs.get("is_baseline"))


def is_starting_point(trial: FrozenTrial | Trial) -> bool:
    """Whether a trial is one of the portfolio's starting points (:mod:`sweep.space.portfolio`)."""
    return bool(trial.user_attrs.get("portfolio"))


def stopped_by(trial: FrozenTrial) -> str | None:
    """What cut a trial short (a key of STOPPED), or None."""
    stopped = trial.user_attrs.get("stopped")
    return str(stopped) if stopped else None


def error_of(trial: FrozenTrial) -> str:
    """The error a trial recorded ('' for none)."""
    return str(trial.user_attrs.get("error") or "")


def validation_images(trial: FrozenTrial) -> int | None:
    """How many validation images scored a trial (None for trials of older versions)."""
    images = trial.user_attrs.get("val_images")
    return int(images) if images else None


def packed_correct(trial: FrozenTrial) -> str | None:
    """Which validation images a trial's model got right, packed (:func:`sweep.choice.stats.pack`)."""
    packed = trial.user_attrs.get("val_correct")
    return str(packed) if packed is not None else None


def training_rate(trial: FrozenTrial) -> float | None:
    """Training FLOPs per second a trial reached over its whole epochs (None before one ended)."""
    attrs = trial.user_attrs
    if not (attrs.get("train_flops") and attrs.get("epochs_run") and attrs.get("epochs_seconds")):
        return None
    return float(attrs["train_flops"] * attrs["epochs_run"] / attrs["epochs_seconds"])


def images_per_second(trial: FrozenTrial) -> float | None:
    """Training images a second a trial reached over its whole epochs, validation left out
    (None without that timing; its first epoch's graph tracing counts, so it is a little low)."""
    attrs = record(trial)
    images, epochs, seconds = attrs.get("train_images"), attrs.get("epochs_run"), attrs.get("train_seconds")
    if not (images and epochs and seconds):
        return None
    return float(images * epochs / seconds)


def training_steps(trial: FrozenTrial) -> int | None:
    """The optimizer steps a trial took: its epochs run over its training images in batches of
    its batch size (None where its record lacks one of them)."""
    attrs = record(trial)
    images, epochs, batch = attrs.get("train_images"), attrs.get("epochs_run"), params_of(trial).get("batch_size")
    if not (images and epochs and batch):
        return None
    return round(float(epochs) * math.ceil(int(images) / int(batch)))


def kerastuner_id(trial: FrozenTrial) -> str | None:
    """The KerasTuner trial a trial was copied from (:mod:`sweep.search.kerastuner_engine`), or None."""
    found = trial.user_attrs.get("kerastuner_id")
    return str(found) if found is not None else None


def params_of(trial: FrozenTrial) -> dict[str, Any]:
    """Every parameter a trial trained with (the sampled ones alone for trials of older
    versions, which did not record the rest)."""
    return dict(trial.user_attrs.get("params", trial.params))


def final_params(trial: FrozenTrial) -> dict[str, Any]:
    """The parameters a trial is retrained with: its own, for the epochs it ran (fewer than it
    asked for when a deadline cut it with a constant learning rate, see
    :class:`sweep.search.objective.Objective`)."""
    params = params_of(trial)
    if stopped_by(trial) and trial.user_attrs.get("epochs_run"):
        params["epochs"] = int(trial.user_attrs["epochs_run"])
    return params


def runs_in_full(trial: FrozenTrial | Trial) -> bool:
    """Whether a trial is the baseline, one of the space's first trials or a starting point:
    never stopped by the pruner, and never a bar for it (:class:`sweep.search.study.FairPruner`)."""
    attrs = trial.user_attrs
    return bool(attrs.get("is_baseline") or attrs.get("is_first_trial") or attrs.get("portfolio"))


def feasible(trial: FrozenTrial) -> bool:
    """Whether a trial meets the sweep's deployment limits (:mod:`sweep.deploy.constraints`)."""
    return not trial.user_attrs.get("infeasible")


def did_not_fit(trial: FrozenTrial) -> bool:
    """Whether a trial was stopped by the time it had (a deadline, or the answer's share of the
    time limit) before its first epoch ended."""
    return bool(trial.user_attrs.get("stopped")) and not trial.user_attrs.get("epochs_run")


def no_time_left(trial: FrozenTrial) -> bool:
    """Whether a trial did not fit because the search's deadline was too near (not because its
    recipe is too slow for the time limit at all): a cheaper one may still fit."""
    return did_not_fit(trial) and stopped_by(trial) in ("timeout", "time_limit")


def over_limits(trial: FrozenTrial) -> bool:
    """Whether a trial was stopped before training because its size broke a deployment limit."""
    return bool(trial.user_attrs.get("infeasible")) and not trial.user_attrs.get("epochs_run")


def counts_towards_trials(trial: FrozenTrial) -> bool:
    """Whether TRIALS counts a trial: completed or pruned, but not failed, and not stopped
    before training for its size (under a tight MAX_PARAMS most of the sampler's first, random
    proposals are; TRIALS counts the trials that train)."""
    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED) and not over_limits(trial)


def best_of(trials: Sequence[FrozenTrial]) -> FrozenTrial | None:
    """The feasible completed trial with the highest validation accuracy (lower number on ties)."""
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.values and feasible(t)]
    return max(done, key=lambda t: (t.values[0], -t.number)) if done else None


def finalists(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The FINALISTS best feasible completed trials other than the baseline (by score; the
    first of trials with the same parameters), then the baseline, where it completed."""
    done = sorted(
        (t for t in trials if t.state == TrialState.COMPLETE and t.values), key=lambda t: (-t.values[0], t.number)
    )
    chosen: list[FrozenTrial] = []
    for trial in done:
        if is_baseline(trial) or len(chosen) == FINALISTS or not feasible(trial):
            continue
        if all(final_params(trial) != final_params(other) for other in chosen):
            chosen.append(trial)
    base = next((t for t in done if is_baseline(t)), None)
    return chosen + ([base] if base is not None else [])


def starting_points(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The portfolio's completed, feasible starting points, best first (by score)."""
    done = (t for t in trials if t.state == TrialState.COMPLETE and t.values and feasible(t))
    return sorted((t for t in done if is_starting_point(t)), key=lambda t: (-t.values[0], t.number))


def portfolio_first(points: Iterable[FrozenTrial]) -> FrozenTrial | None:
    """The portfolio's first of ``points`` (its starting points): they are enqueued in its
    order, the cheapest first, so the one of the lowest number; None where there is none."""
    return min(points, key=lambda t: t.number, default=None)


def failure(trial: FrozenTrial) -> str:
    """Why a failed trial failed ('' for one that did not): the error it recorded, or, with
    none, that its worker died during it (Optuna failed it when its heartbeat stopped)."""
    if trial.state != TrialState.FAIL:
        return ""
    return (
        error_of(trial)
        or "its worker stopped during the trial (killed, or out of memory); its parameters were run again"
    )


def trial_score(trial: FrozenTrial) -> float | None:
    """Validation accuracy of a trial: its score, or the best epoch reported before pruning."""
    if trial.state == TrialState.COMPLETE and trial.values:
        return float(trial.values[0])
    if trial.intermediate_values:
        return float(max(trial.intermediate_values.values()))
    return None


def origin(trial: FrozenTrial) -> str:
    """Where a trial's parameters came from: the baseline, the space's first trials, a
    starting point of the portfolio, or the sampler (held to the fewest epochs, and to a share
    of the images, when nothing else fitted the time left)."""
    attrs = trial.user_attrs
    if is_baseline(trial):
        return "baseline"
    if attrs.get("is_first_trial"):
        return "first trial"
    if attrs.get("portfolio"):
        return f"portfolio: {attrs['portfolio']}"
    if attrs.get("cheaper") == SHARE_OF_IMAGES:
        return "sampler, fewest epochs on a share of the images"
    return "sampler, fewest epochs" if attrs.get("cheaper") else "sampler"


def score_interval(trial: FrozenTrial) -> tuple[float | None, float | None]:
    """The 95 % interval of a trial's validation accuracy (None where unknown)."""
    score, images = trial_score(trial), validation_images(trial)
    if score is None or not images:
        return None, None
    return accuracy_interval(score, images)
