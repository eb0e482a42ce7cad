"""What one trial does: take parameters from the sampler, train the CNN they describe, score it.

Optuna proposes (the sampler, in :func:`suggest`), the objective trains (Keras): KerasTuner's
split between what proposes parameters and what trains models. The orchestration around it (how
many trials, which processes, when to stop) is :mod:`sweep.commands.sweep`'s.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from sweep.choice.stats import pack, score
from sweep.choice.trials import SHARE_OF_IMAGES, is_baseline, is_starting_point, record, runs_in_full, write
from sweep.data.registry import Dataset
from sweep.deploy.constraints import Limits
from sweep.models.params import Architecture, epochs_in_time, steps_per_epoch
from sweep.models.user_models import plan as plan_of
from sweep.progress import Display
from sweep.search.budget import DECAYING, SearchDeadline, duration, fastest_rate
from sweep.search.fidelity import exploring, share_that_fits
from sweep.search.kept import keep
from sweep.search.study import baseline_trial, progress_step
from sweep.space.distributions import contains
from sweep.space.portfolio import FITTED, PORTFOLIO
from sweep.space.spaces import SearchSpace

if TYPE_CHECKING:
    from sweep.models.train import EpochLog

# The pruner may stop a trial only in the first half of its training: after that a trial costs
# less to finish than it has already cost, and its score is worth having.
PRUNE_UNTIL = 50
# A sampled trial is not started when even the study's fastest rate would need this many times
# the time left: the rate of other architectures says little about this one's.
FITS_MARGIN = 1.5
# A starting point that gets fewer than this share of its epochs in its share of the time is
# not worth its time: on MNIST the VGG-style one got 3 of 15 epochs and reached 0.9931, where
# the small one reached 0.9962 in all of its 15.
MIN_EPOCH_SHARE = 0.5


def suggest(trial: optuna.Trial, space: SearchSpace, baseline: dict[str, Any]) -> dict[str, Any]:
    """The full parameter dict of a trial: the baseline, overridden by sampled values.

    ``filters_k`` is sampled only for blocks the trial builds (k ≤ its ``conv_blocks``), so the
    sampler never learns from values that changed nothing. The enqueued baseline trial suggests
    only the parameters whose baseline value lies inside the space; the others keep the
    baseline's value (Optuna would reject them).
    """
    params = dict(baseline)
    the_baseline = is_baseline(trial)
    # conv_blocks first: it decides which filters_k exist.
    for name, dist in sorted(space.distributions.items(), key=lambda item: item[0] != "conv_blocks"):
        if the_baseline and not contains(dist, baseline.get(name)):
            continue
        if space.model is None and name.startswith("filters_") and int(name[8:]) > params["conv_blocks"]:
            continue
        params[name] = suggest_value(trial, name, dist)
    return params


def suggest_value(trial: optuna.Trial, name: str, dist: BaseDistribution) -> Any:
    """Ask ``trial`` for parameter ``name`` from ``dist``: the one dispatch over the
    distribution types (Optuna's own ``_suggest`` is private)."""
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    assert isinstance(dist, FloatDistribution)
    return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)


class Objective:
    """Trains one trial's CNN on the training split and returns its score (the mean validation
    accuracy of its last epochs, :func:`sweep.choice.stats.score`).

    ``deadline``: when the search ends (see :class:`sweep.search.budget.SearchDeadline`): a trial still
    training then stops within a few batches, unless in its last epoch (its ``stopped``
    attribute names the deadline: ``timeout`` or ``time_limit``). With a constant learning rate
    and an epoch done it is recorded complete: its epochs so far are exactly those of a shorter
    trial (same seed, same order, same rate). With a schedule, or without a whole epoch, it is
    pruned: its rates were a longer run's.

    The baseline and starting points always finish, neither pruned nor cut by a deadline: every
    other trial is compared with them, and they are there to be run in full.
    """

    def __init__(
        self,
        dataset: Dataset,
        space: SearchSpace,
        baseline: dict[str, Any],
        seed: int,
        display: Display,
        deadline: SearchDeadline | None = None,
        limits: Limits | None = None,
        keep_in: Path | None = None,
    ) -> None:
        self.dataset, self.space, self.baseline = dataset, space, baseline
        self.seed, self.display, self.deadline = seed, display, deadline
        self.limits = limits or Limits()
        self.keep_in = keep_in

    def __call__(self, trial: optuna.Trial) -> float:
        from sweep.models import train as training  # first: it loads TensorFlow quietly

        dataset = self.dataset
        params = suggest(trial, self.space, self.baseline)
        write(trial, "params", params)
        write(trial, "val_images", len(dataset.y_val))
        write(trial, "train_images", len(dataset.y_train))  # a share of them (sweep.search.fidelity)
        with self.display.task(f"  trial {trial.number} epochs", params["epochs"]) as task:
            log = training.EpochLog(task)
            try:
                arch, on_share = plan_of(params, self.space.model), False
                if isinstance(arch, Architecture):  # its size and cost are known before it is built
                    count = arch.param_count(dataset.input_shape, dataset.num_classes)
                    write(trial, "param_count", count)
                    # FLOPs of one epoch: the trials' speed, for telling what fits before training.
                    flops = arch.training_flops(dataset.input_shape, dataset.num_classes) * len(dataset.x_train)
                    write(trial, "train_flops", flops)
                    self.check_limits(trial)
                    images = self.check_it_fits(trial, flops, arch.epochs, len(dataset.x_train))
                    on_share = images < len(dataset.x_train)
                    if on_share:  # a cheaper job: the share of the images that fits
                        write(trial, "train_flops", flops * images / len(dataset.x_train))
                        dataset = exploring(dataset, images, self.seed + trial.number)
                        write(trial, "train_images", images)
                model = training.new_model(
                    arch, dataset.input_shape, dataset.num_classes, self.seed + trial.number, len(dataset.x_train)
                )
                if not isinstance(arch, Architecture):
                    write(trial, "param_count", model.count_params())
                    self.check_limits(trial)
                plan = training.EpochPlan(
                    self.planner(trial, params, time.time(), log),
                    arch.epochs,
                    steps_per_epoch(len(dataset.x_train), arch.batch_size),
                )
                callbacks: list[Any] = [
                    plan,
                    training.EpochEnd(lambda epoch, logs: report(trial, epoch + 1, plan.epochs, logs, not on_share)),
                ]
                if self.deadline is not None and not runs_in_full(trial):
                    callbacks.append(training.Deadline(self.deadline))
                training.train(
                    model,
                    arch,
                    dataset.x_train,
                    dataset.y_train,
                    seed=self.seed + trial.number,
                    validation=(dataset.x_val, dataset.y_val),
                    log=log,
                    callbacks=callbacks,
                )
                write(trial, "val_correct", pack(training.correct(model, dataset.x_val, dataset.y_val)))
                self.measure(trial, model)
                self.keep(trial, model, score(log.history["val_accuracy"], settles=arch.lr_schedule in DECAYING))
            except training.DeadlinePassed as stop:
                assert self.deadline is not None  # only its callback raises this
                write(trial, "stopped", self.deadline.cause())
                if arch.lr_schedule != "constant" or not log.history.get("val_accuracy"):
                    raise optuna.TrialPruned(str(stop)) from None
                self.measure(trial, model)
            finally:
                record_training(trial, log)
                training.release()
        return score(log.history["val_accuracy"], settles=arch.lr_schedule in DECAYING)

    def keep(self, trial: optuna.Trial, model: Any, value: float) -> None:
        """Keep the trained model where it ranks among the best trials' (:mod:`sweep.search.kept`):
        the answer's retrain may start from it. Not the baseline's: it retrains as written."""
        if self.keep_in is None or is_baseline(trial):
            return
        from sweep.models.build import portable

        try:
            kept = keep(trial.study, trial.number, value, self.keep_in, portable(model).save, is_starting_point(trial))
        except OSError as error:  # a full disk costs the answer its head start, not the trial
            self.display.log(f"trial {trial.number}: its model was not kept ({error})")
            return
        if kept is not None:
            write(trial, "kept_model", str(kept))

    def check_limits(self, trial: optuna.Trial) -> None:
        """Never train a model whose size alone breaks a deployment limit (the baseline too)."""
        broken = self.limits.broken(record(trial))
        if broken:
            write(trial, "infeasible", broken)
            self.constrain(trial)
            raise optuna.TrialPruned(f"over the deployment limits before training: {broken}")

    def measure(self, trial: optuna.Trial, model: Any) -> None:
        """Record a trained model's deployment figures; one over a limit is infeasible."""
        from sweep.deploy.deployment import figures as device_figures

        figures = device_figures(model, self.dataset.x_train)
        if "deploy_error" in figures and (self.limits.max_size_kb or self.limits.max_latency_ms):
            figures["infeasible"] = f"cannot be measured as TFLite ({figures['deploy_error']})"
        for name, value in figures.items():
            write(trial, name, value)
        broken = record(trial).get("infeasible") or self.limits.broken(record(trial))
        if broken:
            write(trial, "infeasible", broken)
        self.constrain(trial)

    def constrain(self, trial: optuna.Trial) -> None:
        """Tell the sampler how far the trial is from the limits (Optuna's constraints)."""
        for key, value in self.limits.values(record(trial)).items():
            trial.set_constraint(key, value)

    def check_it_fits(self, trial: optuna.Trial, epoch_flops: float, epochs: int, images: int) -> int:
        """How many of the ``images`` training images a sampled trial trains on: all of them, or
        none (it is pruned before it trains) when, even at the fastest rate any trial of the
        study reached, MIN_EPOCH_SHARE of its ``epochs`` (of ``epoch_flops`` each) would need
        well over the time left before the search's deadline, or one epoch of its retrain on
        all the images more than the time kept for the answer's. A worker's cheaper job on a
        share of the images (SHARE_OF_IMAGES) trains all its epochs on the share that fits."""
        ends = self.deadline() if self.deadline is not None and not runs_in_full(trial) else None
        rate = fastest_rate(trial.study.get_trials(deepcopy=False)) if ends is not None else None
        if ends is None or rate is None:
            return images
        assert self.deadline is not None
        limit = self.deadline.limit
        if limit is not None and limit.epochs_cap(epoch_flops / rate / FITS_MARGIN) == 0:
            write(trial, "stopped", "answer_share")
            raise optuna.TrialPruned(
                f"one epoch of its retrain on all the images would need more than the "
                f"{limit.answer_share:.0%} of the time limit kept for it"
            )
        needs, left = max(1, math.ceil(MIN_EPOCH_SHARE * epochs)) * epoch_flops / rate, ends - time.monotonic()
        if needs <= FITS_MARGIN * left:
            return images
        if record(trial).get("cheaper") == SHARE_OF_IMAGES:
            share = share_that_fits(images, FITS_MARGIN * epochs * epoch_flops / rate, left)
            if share:
                return share
        write(trial, "stopped", self.deadline.cause())
        raise optuna.TrialPruned(
            f"it would need at least {duration(needs)}, and the search ends in {duration(max(left, 0))}"
        )

    def planner(
        self, trial: optuna.Trial, params: dict[str, Any], started: float, log: EpochLog
    ) -> Callable[[float, float], int]:
        """How many epochs the trial may run, asked after each epoch once an epoch's time is
        known (:class:`sweep.models.train.EpochPlan`). Each rule below shortens a run to the
        version of its recipe that fits, or stops it where not even MIN_EPOCH_SHARE of it
        would; docs/design.md ("Cheaper versions, not pruned proposals") says why.
        """
        epochs: int = params["epochs"]
        deadline = self.deadline
        limit = deadline.limit if deadline is not None else None
        capped = fitted = False
        attrs = record(trial)
        cappable = limit is not None and not attrs.get("is_baseline") and not attrs.get("is_first_trial")

        def shorten(fit: int, why: str) -> None:
            nonlocal epochs
            write(trial, "params", {**params, "epochs": fit})
            write(trial, "epochs_planned", params["epochs"])
            write(trial, "shortened", why)
            epochs = fit

        def plan(epochs_done: float, epoch_seconds: float) -> int:
            nonlocal capped, fitted
            done = int(epochs_done)  # whole: a trial's plan is asked at its epochs' ends
            if cappable and not capped:  # no more epochs than its retrain fits in the answer's share
                capped = True
                assert limit is not None
                cap = limit.epochs_cap(
                    max(epoch_seconds - log.last_validation_seconds, 1e-3), attrs.get("train_images")
                )
                if cap is not None and cap < done:
                    write(trial, "stopped", "answer_share")
                    raise optuna.TrialPruned(
                        f"its retrain on all the images could run only {cap} epoch(s) in the "
                        f"{limit.answer_share:.0%} of the time limit kept for it"
                    )
                if cap is not None and cap < epochs:
                    shorten(cap, "answer")
            if attrs.get("portfolio") and limit is not None and not fitted:  # a starting point's share, once
                fitted = True
                base = baseline_trial(trial.study)
                reserved = (limit.retrain_seconds(base) or 0.0) if base is not None else 0.0
                seconds = limit.starting_point_seconds(started, reserved) - (time.time() - started)
                fit = int(epochs_in_time(epochs, done, epoch_seconds, seconds))  # whole epochs
                first = attrs["portfolio"].removesuffix(FITTED) == PORTFOLIO[0].name
                if fit < MIN_EPOCH_SHARE * epochs and not first:
                    write(trial, "stopped", "time_limit")
                    raise optuna.TrialPruned(
                        f"only {fit} of its {epochs} epochs fit in its share of the time limit on this machine"
                    )
                if fit < epochs:
                    shorten(fit, "time_limit")
                return epochs
            # A sampled trial that cannot end before the deadline runs the epochs that can.
            ends = deadline() if deadline is not None and not runs_in_full(trial) else None
            if ends is not None and (epochs - done) * epoch_seconds > ends - time.monotonic():
                assert deadline is not None  # it gave the end
                fit = int(epochs_in_time(epochs, done, epoch_seconds, ends - time.monotonic()))
                if fit > done and fit >= MIN_EPOCH_SHARE * epochs:
                    shorten(fit, deadline.cause())
                    return epochs
                write(trial, "stopped", deadline.cause())
                raise optuna.TrialPruned(f"{epochs - done} more epochs would not end before the search does")
            return epochs

        return plan


def report(trial: optuna.Trial, epoch: int, epochs: int, logs: dict[str, float] | None, asks: bool = True) -> None:
    """Report epoch ``epoch`` of ``epochs`` (its curve, for the leaderboard and the report);
    ask the pruner (unless ``asks`` is False), and stop the trial where it says so.

    The baseline and starting points do not ask: the pruner records a trial's score at a rung
    only when asked and compares later trials with those, and their curves (the baseline's
    batch 32 at a constant rate learns fast early, and ends lower) would set a bar that the
    sampled trials' slower starters are stopped against. Nor does a worker's cheaper job on a
    share of the images: at each step it has seen fewer images than the others had, so its
    curve lies under theirs, and it would be stopped against them, and lower their bars.
    """
    step = progress_step(epoch, epochs)
    if epoch < epochs and step == progress_step(epoch + 1, epochs):
        return  # over 100 epochs, two epochs can round to one percent: the later one reports
    trial.report(float((logs or {})["val_accuracy"]), step)
    if asks and not runs_in_full(trial) and step <= PRUNE_UNTIL and trial.should_prune():
        raise optuna.TrialPruned(f"pruned after epoch {epoch} of {epochs}")


def record_training(trial: optuna.Trial, log: EpochLog) -> None:
    """Store what the leaderboard shows about a trial's training, also when it was cut short."""
    scores = log.history.get("val_accuracy", [])
    if scores:
        write(trial, "best_epoch", log.best_epoch)
        write(trial, "epochs_run", len(scores))
        write(trial, "val_loss", log.history["val_loss"][-1])
        write(trial, "epochs_seconds", round(log.epochs_seconds, 2))  # whole epochs only
        write(trial, "train_seconds", round(log.epochs_seconds - log.validation_seconds, 2))
    write(trial, "fit_seconds", round(log.seconds, 2))
