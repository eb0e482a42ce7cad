"""What one trial does: take parameters from the sampler, train the CNN they describe, score it.

Optuna proposes (the sampler, in :func:`suggest`), the objective trains (Keras): KerasTuner's
split between what proposes parameters and what trains models. The orchestration around it (how
many trials, which processes, when to stop) is :mod:`sweep.search`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import optuna

from sweep.budget import SearchDeadline
from sweep.datasets import Dataset
from sweep.params import Architecture
from sweep.progress import Display
from sweep.spaces import SearchSpace, contains, suggest_value
from sweep.stats import pack, score

if TYPE_CHECKING:
    from sweep.train import EpochLog

# Trials report their validation accuracy to the pruner at the share of their training done, in
# percent, not at their epoch number: a 20-epoch cosine run after 2 epochs still learns at its
# peak rate, a 5-epoch run after 2 epochs has already slowed down. Compared at the same epoch,
# the short runs look better and the long ones, which end better, were pruned ("slow starters");
# compared at the same share of their schedule, both stand where their schedule has them.
PROGRESS_STEPS = 100
# The pruner may stop a trial only in the first half of its training: after that a trial costs
# less to finish than it has already cost, and its score is worth having.
PRUNE_UNTIL = 50


def suggest(trial: optuna.Trial, space: SearchSpace, baseline: dict[str, Any]) -> dict[str, Any]:
    """The full parameter dict of a trial: the baseline, overridden by sampled values.

    ``filters_k`` is sampled only for blocks the trial builds (k ≤ its ``conv_blocks``), so the
    sampler never learns from values that changed nothing. The enqueued baseline trial suggests
    only the parameters whose baseline value lies inside the space; the others keep the
    baseline's value (Optuna would reject them).
    """
    params = dict(baseline)
    is_baseline = trial.user_attrs.get("is_baseline", False)
    # conv_blocks first: it decides which filters_k exist.
    for name, dist in sorted(space.distributions.items(), key=lambda item: item[0] != "conv_blocks"):
        if is_baseline and not contains(dist, baseline.get(name)):
            continue
        if name.startswith("filters_") and int(name.removeprefix("filters_")) > params["conv_blocks"]:
            continue
        params[name] = suggest_value(trial, name, dist)
    return params


def progress_step(epoch: int, epochs: int) -> int:
    """The pruner's step after ``epoch`` of ``epochs``: the percentage of training done."""
    return round(PROGRESS_STEPS * epoch / epochs)


def runs_in_full(trial: optuna.Trial) -> bool:
    """Whether a trial is the baseline or a starting point (never stopped early)."""
    attrs = trial.user_attrs
    return bool(attrs.get("is_baseline") or attrs.get("is_first_trial") or attrs.get("portfolio"))


class Objective:
    """Trains one trial's CNN on the training split and returns its score (the mean validation
    accuracy of its last epochs, :func:`sweep.stats.score`).

    ``deadline``: when the search ends (see :class:`sweep.budget.SearchDeadline`): a trial still
    training then stops within a few batches, unless in its last epoch (its ``stopped``
    attribute names the deadline: ``timeout`` or ``time_limit``). With a constant learning rate
    and an epoch done it is recorded complete: its epochs so far are exactly those of a shorter
    trial (same seed, same order, same rate). With a schedule, or without a whole epoch, it is
    pruned: its rates were a longer run's.

    The baseline and starting points always finish, neither pruned nor cut by a deadline: every
    other trial is compared with them, and they are there to be run in full.
    """

    def __init__(self, dataset: Dataset, space: SearchSpace, baseline: dict[str, Any],
                 seed: int, display: Display,
                 deadline: SearchDeadline | None = None) -> None:
        self.dataset, self.space, self.baseline = dataset, space, baseline
        self.seed, self.display, self.deadline = seed, display, deadline

    def __call__(self, trial: optuna.Trial) -> float:
        from sweep import train as training  # first: it loads TensorFlow quietly

        dataset = self.dataset
        params = suggest(trial, self.space, self.baseline)
        trial.set_user_attr("params", params)
        trial.set_user_attr("val_images", len(dataset.y_val))
        with self.display.task(f"  trial {trial.number} epochs", params["epochs"]) as task:
            log = training.EpochLog(task)
            try:
                arch = Architecture.from_params(params)
                count = arch.param_count(dataset.input_shape, dataset.num_classes)
                trial.set_user_attr("param_count", count)
                model = training.new_model(arch, dataset.input_shape, dataset.num_classes,
                                           self.seed + trial.number, len(dataset.x_train))
                callbacks: list[Any] = [training.keras.callbacks.LambdaCallback(
                    on_epoch_end=lambda epoch, logs: report(trial, epoch + 1, arch.epochs, logs))]
                if self.deadline is not None and not runs_in_full(trial):
                    callbacks.append(training.Deadline(self.deadline))
                training.train(
                    model, arch, dataset.x_train, dataset.y_train, seed=self.seed + trial.number,
                    validation=(dataset.x_val, dataset.y_val), log=log, callbacks=callbacks,
                )
                trial.set_user_attr("val_correct", pack(training.correct(model, dataset.x_val,
                                                                         dataset.y_val)))
            except training.DeadlinePassed as stop:
                assert self.deadline is not None  # only its callback raises this
                trial.set_user_attr("stopped", self.deadline.cause())
                if arch.lr_schedule != "constant" or not log.history.get("val_accuracy"):
                    raise optuna.TrialPruned(str(stop)) from None
            finally:
                record(trial, log)
                training.release()
        return score(log.history["val_accuracy"])


def report(trial: optuna.Trial, epoch: int, epochs: int, logs: dict[str, float] | None) -> None:
    """Report epoch ``epoch`` of ``epochs`` to the pruner; stop the trial where it says so.

    Every trial asks, the baseline and starting points too: the pruner records each trial's
    score at each rung only when asked, and compares later trials with those.
    """
    trial.report(float((logs or {})["val_accuracy"]), progress_step(epoch, epochs))
    prune = trial.should_prune()
    if prune and not runs_in_full(trial) and progress_step(epoch, epochs) <= PRUNE_UNTIL:
        raise optuna.TrialPruned(f"pruned after epoch {epoch} of {epochs}")


def record(trial: optuna.Trial, log: EpochLog) -> None:
    """Store what the leaderboard shows about a trial's training, also when it was cut short."""
    scores = log.history.get("val_accuracy", [])
    if scores:
        trial.set_user_attr("best_epoch", log.best_epoch)
        trial.set_user_attr("epochs_run", len(scores))
        trial.set_user_attr("val_loss", log.history["val_loss"][-1])
        trial.set_user_attr("epochs_seconds", round(log.epochs_seconds, 2))  # whole epochs only
    trial.set_user_attr("fit_seconds", round(log.seconds, 2))
