"""``--engine kerastuner``: the same search space searched by KerasTuner instead of Optuna.

KerasTuner proposes and schedules (Hyperband, Bayesian optimisation or random search); the
models, the data pipeline and the training loop are ours, so a comparison of engines compares
search strategies only. Every finished KerasTuner trial is copied into the Optuna study as a
finished trial, so the leaderboard, ``retrain``, ``export`` and the dashboard work unchanged.

Imports KerasTuner and TensorFlow: load this module only when the engine runs.
"""

from __future__ import annotations

import math
import shutil
import time
import warnings
from collections.abc import Callable
from typing import Any

import keras_tuner as kt  # noqa: E402,I001  (after TensorFlow's quiet import)
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState

from sweep.choice.stats import score
from sweep.choice.trials import kerastuner_id, marks
from sweep.data.registry import Dataset
from sweep.models import train as training  # first: it loads TensorFlow quietly
from sweep.models.user_models import plan
from sweep.search.budget import DECAYING, SearchDeadline
from sweep.search.engines import Search
from sweep.search.study import max_epochs
from sweep.settings import SweepConfig
from sweep.space.distributions import contains
from sweep.space.spaces import SearchSpace

# Hyperband's reduction factor, KerasTuner's default and the one Hyperband's paper recommends.
HYPERBAND_FACTOR = 3


class _Stop(kt.errors.FatalError):
    """Raised when the search's deadline has passed: before a new trial, or during one (a
    fatal error to KerasTuner, which would otherwise record the trial as failed and go on)."""


def hyperparameters(space: SearchSpace, skip: tuple[str, ...] = ()) -> kt.HyperParameters:
    """The search space as KerasTuner hyperparameters, one per Optuna distribution."""
    hp = kt.HyperParameters()
    for name, dist in space.distributions.items():
        if name in skip:
            continue
        if isinstance(dist, CategoricalDistribution):
            hp.Choice(name, list(dist.choices), ordered=False)
        elif isinstance(dist, IntDistribution):
            hp.Int(
                name,
                dist.low,
                dist.high,
                step=None if dist.log else dist.step,
                sampling="log" if dist.log else "linear",
            )
        else:
            assert isinstance(dist, FloatDistribution)
            hp.Float(name, dist.low, dist.high, step=dist.step, sampling="log" if dist.log else "linear")
    return hp


class _HyperModel(kt.HyperModel):
    """Builds our CNN from a trial's values and trains it with our pipeline."""

    def __init__(
        self,
        dataset: Dataset,
        space: SearchSpace,
        baseline: dict[str, Any],
        seed: int,
        deadline: Callable[[], float | None] | None = None,
    ) -> None:
        super().__init__()
        self.dataset, self.space, self.baseline, self.seed = dataset, space, baseline, seed
        # Stops the running trial too, as sweep's own trials stop: a Hyperband trial of the
        # most epochs took 89 s at the slowest kind's speed, and carried the sweep past its limit.
        self.deadline = deadline
        # The last fit's epochs, numbered from the model's first epoch (Hyperband resumes
        # models): KerasTuner itself keeps only the best epoch's metrics.
        self.log: training.EpochLog | None = None
        self.initial_epoch = 0
        self.param_count: int | None = None  # the last fit's model's
        self.device: dict[str, Any] = {}  # the last fit's model's deployment figures

    def params(self, values: dict[str, Any]) -> dict[str, Any]:
        """The full parameter dict: the baseline overridden by the trial's values."""
        params = dict(self.baseline)
        for name, value in values.items():
            dist = self.space.distributions.get(name)
            if isinstance(dist, CategoricalDistribution):
                # KerasTuner hands back booleans as 0 and 1: take the space's own choice.
                value = next(choice for choice in dist.choices if choice == value)
            elif isinstance(value, float):
                value = round(value, 12)  # KerasTuner steps floats by repeated addition
            if dist is not None:
                params[name] = value
        if "tuner/epochs" in values:  # Hyperband decides the epochs
            params["epochs"] = int(values["tuner/epochs"])
        return params

    def build(self, hp: kt.HyperParameters) -> Any:
        self.log, self.param_count, self.device = None, None, {}  # this trial's, not the last one's
        arch = plan(self.params(hp.values), self.space.model)
        data = self.dataset
        return training.new_model(arch, data.input_shape, data.num_classes, self.seed, len(data.x_train))

    def fit(
        self,
        hp: kt.HyperParameters,
        model: Any,
        *args: Any,
        epochs: int | None = None,
        initial_epoch: int = 0,
        callbacks: list[Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        data = self.dataset
        arch = plan(self.params(hp.values), self.space.model)
        self.log, self.initial_epoch = training.EpochLog(None), initial_epoch
        self.param_count = model.count_params()
        callbacks = list(callbacks or ())
        if self.deadline is not None:
            callbacks.append(training.Deadline(self.deadline))
        try:
            training.train(
                model,
                arch,
                data.x_train,
                data.y_train,
                seed=self.seed,
                validation=(data.x_val, data.y_val),
                epochs=epochs,
                log=self.log,
                initial_epoch=initial_epoch,
                callbacks=callbacks,
            )
        except training.DeadlinePassed as stop:
            raise _Stop(f"the running trial was stopped ({stop})") from None
        # Measured as sweep's own trials are, so both engines' leaderboards and reports compare.
        from sweep.deploy.deployment import figures

        self.device = figures(model, data.x_train)
        return model.history


def make_tuner(
    name: str,
    hypermodel: _HyperModel,
    space: SearchSpace,
    settings: SweepConfig,
    folder: str,
    seed: int,
    record: Callable[[Any, float], None],
    deadline: SearchDeadline | None,
) -> kt.Tuner:
    """A KerasTuner tuner over ``space`` that calls ``record(trial, start time)`` after each,
    and starts no trial after ``deadline`` (the sweep's timeout and time limit)."""

    class Recording:
        """Mixed into the tuner: the deadline, and a copy of every trial into Optuna."""

        def pre_create_trial(self) -> None:
            ends = deadline() if deadline is not None else None
            if ends is not None and time.monotonic() > ends:
                raise _Stop("no more trials started")

        def on_trial_begin(self, trial: Any) -> None:
            super().on_trial_begin(trial)  # type: ignore[misc]
            trial.sweep_started = time.time()
            hypermodel.log, hypermodel.device = None, {}

        def on_trial_end(self, trial: Any) -> None:
            super().on_trial_end(trial)  # type: ignore[misc]
            record(trial, trial.sweep_started)
            training.release()

    common: dict[str, Any] = dict(
        objective="val_accuracy",
        seed=seed,
        directory=folder,
        project_name="kerastuner",
        overwrite=False,
        max_consecutive_failed_trials=5,
    )
    if name == "hyperband":
        hp = hyperparameters(space, skip=("epochs",))
        base: type = kt.Hyperband
        common.update(
            max_epochs=max_epochs(space, hypermodel.baseline), factor=HYPERBAND_FACTOR, hyperband_iterations=1
        )
    else:
        hp = hyperparameters(space)
        base = kt.BayesianOptimization if name == "bayesian" else kt.RandomSearch
        # No cap of its own: the deadline ends them (KerasTuner needs a number).
        common.update(max_trials=settings.trials or 10**6)
    tuner_class = type(f"Recording{base.__name__}", (Recording, base), {})
    return tuner_class(hypermodel, hyperparameters=hp, tune_new_entries=False, **common)


def search(run: Search, on_trial: Callable[[optuna.Study, optuna.trial.FrozenTrial], None]) -> bool:
    """Run KerasTuner's search on all the training images, copying each trial into the
    study; True on Ctrl-C."""
    study, dataset, space, baseline, data = run.study, run.dataset, run.space, run.baseline, run.data
    settings, display, deadline = run.settings, run.display, run.deadline
    folder = data.folder / "kerastuner"
    if not study.trials:
        shutil.rmtree(folder, ignore_errors=True)  # a new study: no stale KerasTuner state
    hypermodel = _HyperModel(dataset, space, baseline, data.seed, deadline)
    known = {kerastuner_id(t) for t in study.get_trials(deepcopy=False)}

    def record(trial: Any, started: float) -> None:
        if trial.trial_id in known:
            return
        known.add(trial.trial_id)
        frozen = frozen_trial(trial, hypermodel, space, started)
        study.add_trial(frozen)
        on_trial(study, study.trials[-1])

    tuner = make_tuner(settings.tuner, hypermodel, space, settings, str(folder), data.seed, record, deadline)
    display.log(f"KerasTuner {settings.tuner} on the search space {space.source}")
    try:
        with warnings.catch_warnings():
            # Hyperband continues a promoted trial from its last round's weights, in a model
            # compiled with a fresh optimizer; Keras then skips the saved optimizer state with
            # a warning per trial, which is KerasTuner's behaviour and nothing a user can act on.
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            tuner.search(verbose=0)
    except _Stop as stop:
        assert deadline is not None  # only the deadline raises it
        display.log(f"The search's {deadline.cause().replace('_', ' ')} was reached; {stop}.")
    except KeyboardInterrupt:
        return True
    return False


def frozen_trial(trial: Any, hypermodel: _HyperModel, space: SearchSpace, started: float) -> optuna.trial.FrozenTrial:
    """A finished KerasTuner trial as an Optuna trial with the attributes the leaderboard shows."""
    from datetime import datetime

    params = hypermodel.params(trial.hyperparameters.values)
    history = hypermodel.log.history if hypermodel.log is not None else {}
    first = hypermodel.initial_epoch
    scores = {first + i + 1: value for i, value in enumerate(history.get("val_accuracy", []))}
    distributions: dict[str, BaseDistribution] = {
        name: dist
        for name, dist in space.distributions.items()
        if name in trial.hyperparameters.values and contains(dist, params[name])
    }
    data = hypermodel.dataset
    attrs: dict[str, Any] = {
        "params": params,
        "kerastuner_id": trial.trial_id,
        "param_count": hypermodel.param_count,
        "fit_seconds": round(hypermodel.log.seconds if hypermodel.log else 0.0, 2),
        "val_images": len(data.y_val),
        **hypermodel.device,
    }
    ok = trial.status == "COMPLETED" and bool(scores) and all(map(math.isfinite, scores.values()))
    if scores:
        best = max(scores, key=lambda epoch: (scores[epoch], -epoch))
        attrs.update(best_epoch=best, epochs_run=len(scores), val_loss=history["val_loss"][-1])
    if not ok:
        attrs["error"] = (getattr(trial, "message", None) or f"KerasTuner status {trial.status}")[:500]
    frozen = optuna.trial.create_trial(
        state=TrialState.COMPLETE if ok else TrialState.FAIL,
        value=score(list(scores.values()), settles=params.get("lr_schedule") in DECAYING) if ok else None,
        params={name: params[name] for name in distributions},
        distributions=distributions,
        user_attrs=marks(**attrs),
        intermediate_values=scores,
    )
    frozen.datetime_start = datetime.fromtimestamp(started)
    return frozen
