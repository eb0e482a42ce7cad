"""Optuna studies: storage URLs, samplers and pruners, and the settings a study records.

No TensorFlow here: opening a study, reading its leaderboard or serving its dashboard is fast.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from sweep.choice.trials import best_of, counts_towards_trials, is_baseline, record, runs_in_full
from sweep.errors import UsageError
from sweep.machine.environment import Environment
from sweep.models.views import most_views
from sweep.search.masking import redact
from sweep.search.pareto_sampler import ParetoSampler
from sweep.settings import DataConfig, SweepConfig
from sweep.space.spaces import SearchSpace, parse_space

SETTINGS_ATTR = "sweep_settings"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
# Trials report their validation accuracy to the pruner at the share of their training done, in
# percent, not at their epoch number: a 20-epoch cosine run after 2 epochs still learns at its
# peak rate, a 5-epoch run after 2 epochs has already slowed down. Compared at the same epoch,
# the short runs look better and the long ones, which end better, were pruned ("slow starters");
# compared at the same share of their schedule, both stand where their schedule has them.
PROGRESS_STEPS = 100
# The pruner's first rung: a tenth of a trial's training.
PRUNER_MIN_STEP = 10


def progress_step(epoch: int, epochs: int) -> int:
    """The pruner's step after ``epoch`` of ``epochs``: the percentage of training done."""
    return round(PROGRESS_STEPS * epoch / epochs)


# Optuna logs every trial at INFO and failures with tracebacks; the sweep prints its own lines.
optuna.logging.set_verbosity(logging.ERROR)


def storage_url(data: DataConfig, settings: SweepConfig) -> str:
    """The storage URL given, or the embedded SQLite file of the dataset's results folder."""
    if settings.storage:
        return settings.storage
    return f"sqlite:///{(data.folder / 'study.db').resolve()}"


def study_name(data: DataConfig, settings: SweepConfig) -> str:
    """The name given, else the dataset's (with the engine's suffix for KerasTuner)."""
    if settings.study:
        return settings.study
    return data.name if settings.engine == "optuna" else f"{data.name}-{settings.engine}"


def check_storage(url: str) -> None:
    """Refuse a storage URL that cannot work, without connecting or creating anything: not a
    URL, a SQLite file in a missing folder, no such database kind or no driver for it."""
    import sqlalchemy.exc
    from sqlalchemy.engine import make_url

    if "://" not in url:
        raise UsageError(
            f"storage {redact(url)!r} is not a URL; use e.g. sqlite:///path/study.db or "
            "postgresql://user:password@host/database"
        )
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.parent.is_dir():
            raise UsageError(f"storage {redact(url)}: folder {path.parent} does not exist; create it first")
    try:
        make_url(url).get_dialect()
    except (ImportError, ModuleNotFoundError) as error:
        raise UsageError(
            f"storage {redact(url)}: no driver for it ({redact(str(error), url)}); install the driver"
        ) from None
    except (sqlalchemy.exc.ArgumentError, sqlalchemy.exc.NoSuchModuleError, ValueError):
        raise UsageError(f"storage {redact(url)!r} is not a valid database URL") from None


def _rdb_storage(url: str, beat: int) -> optuna.storages.RDBStorage:
    """Optuna's storage at ``url``, with heartbeats every ``beat`` seconds."""
    with warnings.catch_warnings():
        # Heartbeats (a crashed worker's RUNNING trial is failed and retried) are
        # "experimental" in Optuna, and have been since 2.9.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            url,
            heartbeat_interval=beat,
            grace_period=3 * beat,
            # A trial whose worker died is failed, and its parameters run again.
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3),
        )


# Attempts at opening a storage that another process is creating at the same moment.
CREATION_ATTEMPTS = 5


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """An Optuna RDB storage, with one-line errors for the ways a URL goes wrong."""
    import sqlalchemy.exc

    check_storage(url)
    beat = Environment.read().heartbeat_seconds  # after three missed beats a trial is retried
    try:
        for attempt in range(CREATION_ATTEMPTS - 1):
            try:
                return _rdb_storage(url, beat)
            except sqlalchemy.exc.IntegrityError:
                # Two sweeps creating the same new database at once: the other one's tables
                # (alembic_version) came first; the next attempt finds them made.
                time.sleep(0.2 * (attempt + 1))
        return _rdb_storage(url, beat)
    except (ImportError, ModuleNotFoundError) as error:
        raise UsageError(f"storage {redact(url)}: no driver for it ({error}); install the driver") from None
    except sqlalchemy.exc.ArgumentError:
        raise UsageError(f"storage {redact(url)!r} is not a valid database URL") from None
    except sqlalchemy.exc.DatabaseError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        raise UsageError(
            f"storage {redact(url)}: cannot open it as an Optuna study database ({redact(reason, url)})"
        ) from None


def load_study(data: DataConfig, settings: SweepConfig) -> optuna.Study:
    """An existing study, for commands that read one (retrain, leaderboard, dashboard)."""
    url = storage_url(data, settings)
    path = Path(url.removeprefix("sqlite:///"))
    if url.startswith("sqlite:///") and not path.is_file():
        raise UsageError(
            f"no study for {data.name} yet ({path} does not exist); run: make sweep DATASET={data.dataset}"
        )
    if url.startswith("sqlite:///") and path.stat().st_size == 0:  # opening it would make it a database
        raise UsageError(
            f"{path} is an empty file, not a study; remove it, then run: make sweep DATASET={data.dataset}"
        )
    return load_study_at(url, study_name(data, settings))


def load_study_at(url: str, name: str) -> optuna.Study:
    """The study ``name`` in the storage at ``url`` (it must exist)."""
    try:
        return optuna.load_study(study_name=name, storage=open_storage(url))
    except KeyError:
        raise UsageError(
            f"storage {redact(url)} has no study named {name!r}; run a sweep first or pass --study"
        ) from None


def make_sampler(name: str, space: SearchSpace, seed: int, objective: str = "accuracy") -> optuna.samplers.BaseSampler:
    """The sampler of SAMPLER; the seed should differ per run so a resume does not repeat.
    TPE learns from the trials' constraints (deployment limits, :mod:`sweep.deploy.constraints`); for
    a Pareto search (OBJECTIVE=latency or size) it is multi-objective TPE over accuracy and the
    cost (:mod:`sweep.search.pareto_sampler`)."""
    if objective != "accuracy" and name in PARETO_SAMPLERS:
        return PARETO_SAMPLERS[name](objective, seed)
    if name not in SAMPLER_FACTORIES:
        raise UsageError(f"unknown sampler {name!r}; use {', '.join(SAMPLER_FACTORIES)}")
    return SAMPLER_FACTORIES[name](space, seed)


def tpe(seed: int, constant_liar: bool = True) -> optuna.samplers.TPESampler:
    """Sweep's TPE. Five random start-up trials instead of ten: sweeps here are tens of trials,
    not hundreds, and TPE should take over early. Multivariate TPE models interactions (e.g.
    batch size with learning rate); grouped, it models the parameters that exist only for some
    trials (filters_3 with three conv blocks) with the trials that have them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=5, multivariate=True, group=True, constant_liar=constant_liar
        )


def grid(space: SearchSpace) -> dict[str, list[Any]]:
    """The values GridSampler should try; every parameter must be stepped or categorical."""
    grid: dict[str, list[Any]] = {}
    for name, dist in space.distributions.items():
        if isinstance(dist, CategoricalDistribution):
            grid[name] = list(dist.choices)
        elif isinstance(dist, IntDistribution):
            grid[name] = list(range(dist.low, dist.high + 1, dist.step))
        elif isinstance(dist, FloatDistribution) and dist.step is not None:
            count = int(round((dist.high - dist.low) / dist.step)) + 1
            grid[name] = [round(dist.low + i * dist.step, 12) for i in range(count)]
        else:
            raise UsageError(
                f"{space.source}: parameter '{name}': the grid sampler needs a step or "
                "choices for every parameter; add step: or use another SAMPLER"
            )
    return grid


# SAMPLER's choices (sweep.settings.SAMPLERS), each a factory of the space and the seed: one
# entry here adds a sampler.
SAMPLER_FACTORIES: dict[str, Callable[[SearchSpace, int], optuna.samplers.BaseSampler]] = {
    "tpe": lambda space, seed: tpe(seed),
    "random": lambda space, seed: optuna.samplers.RandomSampler(seed=seed),
    "cmaes": lambda space, seed: optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False),
    "grid": lambda space, seed: optuna.samplers.GridSampler(grid(space), seed=seed),
}


# A pruner stops a trial at a step only once this many other trials it may stop have reached
# that step: on fewer, one lucky early curve sets the bar (Optuna's successive halving decides
# with a single competing value).
MIN_RUNG_VALUES = 3


class FairPruner(optuna.pruners.BasePruner):
    """``inner``'s decision, kept only where at least MIN_RUNG_VALUES other sampled trials (not
    the baseline, first trials or starting points, :func:`sweep.choice.trials.runs_in_full`) on
    as many training images (not a worker's cheaper job on a share of them) have reported at
    the trial's step or beyond. ``inner`` is always asked: it records the trial's value at its
    rung for the trials after it."""

    def __init__(self, inner: optuna.pruners.BasePruner) -> None:
        self.inner = inner

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        if not self.inner.prune(study, trial):
            return False
        step = trial.last_step
        peers = sum(
            1
            for other in study.get_trials(deepcopy=False)
            if other.number != trial.number
            and not runs_in_full(other)
            and record(other).get("train_images") == record(trial).get("train_images")
            and other.last_step is not None
            and step is not None
            and other.last_step >= step
        )
        return peers >= MIN_RUNG_VALUES


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    """The pruner of PRUNER. Trials report validation accuracy after every epoch at the share
    of their training done (1-100, see :mod:`sweep.search.objective`), and are stopped only in their
    first half, and only against enough others (:class:`FairPruner`)."""
    if name not in PRUNER_FACTORIES:
        raise UsageError(f"unknown pruner {name!r}; use {', '.join(PRUNER_FACTORIES)}")
    return PRUNER_FACTORIES[name]()


# The samplers that search a Pareto front (OBJECTIVE=latency or size) their own way; any other
# samples as in an accuracy-only search. No constant liar: it writes to the storage of the
# trial it samples for, which is the real study's, not the copy's; ParetoSampler mirrors
# running trials instead.
PARETO_SAMPLERS: dict[str, Callable[[str, int], optuna.samplers.BaseSampler]] = {
    "tpe": lambda objective, seed: ParetoSampler(objective, tpe(seed, constant_liar=False)),
}


# PRUNER's choices (sweep.settings.PRUNERS), each a factory: one entry here adds a pruner.
PRUNER_FACTORIES: dict[str, Callable[[], optuna.pruners.BasePruner]] = {
    "hyperband": lambda: FairPruner(
        optuna.pruners.HyperbandPruner(min_resource=PRUNER_MIN_STEP, max_resource=PROGRESS_STEPS, reduction_factor=3)
    ),
    "halving": lambda: FairPruner(
        optuna.pruners.SuccessiveHalvingPruner(min_resource=PRUNER_MIN_STEP, reduction_factor=3)
    ),
    "median": lambda: FairPruner(optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=PRUNER_MIN_STEP)),
    "none": optuna.pruners.NopPruner,
}


def max_epochs(space: SearchSpace, baseline: Mapping[str, Any]) -> int:
    """The most epochs any trial can run: the pruner's maximum resource."""
    dist = space.distributions.get("epochs")
    if dist is None:
        return int(baseline["epochs"])
    if isinstance(dist, CategoricalDistribution):
        return max(int(choice) for choice in dist.choices if isinstance(choice, int))
    assert isinstance(dist, IntDistribution)
    return dist.high


def settings_record(
    data: DataConfig,
    settings: SweepConfig,
    space: SearchSpace,
    fingerprint: str = "",
    explore_images: int | None = None,
    images_per_second: float | None = None,
    side_by_side: bool = False,
) -> dict[str, Any]:
    """What a study stores about itself, so any worker can join it with the URL and name only
    (``fingerprint``: of the data it searches, :func:`sweep.data.registry.fingerprint`;
    ``explore_images``: the training images its trials train on, :mod:`sweep.search.fidelity`;
    ``images_per_second``: the baseline's training speed measured when it was created;
    ``side_by_side``: whether the answer may train as models side by side, which the time
    limit keeps time for, :class:`sweep.search.budget.TimeLimit`)."""
    return {
        "data": data.to_json(),
        "fingerprint": fingerprint,
        "space": space.data,
        "space_source": space.source,
        "sampler": settings.sampler,
        "pruner": settings.pruner,
        "trials": settings.trials,
        "time_limit": settings.time_limit,
        "engine": settings.engine,
        "workers": settings.workers,
        "limits": settings.limits.to_json(),
        "objective": settings.objective,
        "explore_images": explore_images,
        "images_per_second": images_per_second,
        "side_by_side": side_by_side,
    }


def claim_study(study: optuna.Study, record: Mapping[str, Any]) -> None:
    """Record this run's settings in the study (workers read them), after checking that a
    resumed study sweeps the same dataset with the same search space."""
    stored = study.user_attrs.get(SETTINGS_ATTR)
    if stored is None and study.trials:
        raise UsageError(f"study {study.study_name!r} was not created by sweep; pick another --study name")
    if stored is not None:
        check_same_study(stored, record, study.study_name)
    study.set_user_attr(SETTINGS_ATTR, dict(record))


# The data settings that decide the validation split and the images: trials scored with other
# ones are not comparable (and may have trained on the new validation images).
SPLIT_FLAGS = {
    "seed": "--seed",
    "val_fraction": "--val-fraction",
    "color_mode": "--color-mode",
    "image_size": "--image-size",
}


def check_same_study(stored: Mapping[str, Any], record: Mapping[str, Any], name: str) -> None:
    """Refuse to resume a study with another dataset, data split or search space than it was
    created with."""
    if stored["data"]["dataset"] != record["data"]["dataset"]:
        raise UsageError(
            f"study {name!r} sweeps {stored['data']['dataset']}, not "
            f"{record['data']['dataset']}; pass another --study name"
        )
    if stored.get("fingerprint") and record.get("fingerprint") and stored["fingerprint"] != record["fingerprint"]:
        raise UsageError(
            f"study {name!r} searched other data of this name (fingerprint "
            f"{stored['fingerprint']}, now {record['fingerprint']}): its trials were scored on "
            "those images; pass a new --study name"
        )
    was, now = DataConfig.from_json(stored["data"]), DataConfig.from_json(record["data"])

    def shown(value: Any) -> str:  # as typed on the command line: 32x48, not (32, 48)
        return "x".join(map(str, value)) if isinstance(value, tuple) else str(value)

    for field, flag in SPLIT_FLAGS.items():
        if getattr(was, field) != getattr(now, field):
            value = shown(getattr(was, field))
            raise UsageError(
                f"study {name!r} was created with {flag} {value}, not {shown(getattr(now, field))}: "
                f"its trials were scored on that split; pass {flag} {value} again, or a new "
                "--study name"
            )
    engine = stored.get("engine", "optuna")
    if engine != record.get("engine", "optuna"):
        raise UsageError(
            f"study {name!r} was searched by {engine}, not {record.get('engine', 'optuna')}; pass another --study name"
        )
    if stored["space"] != record["space"]:
        raise UsageError(
            f"study {name!r} was created with another search space "
            f"({stored['space_source']}); use that file again, or a new --study name"
        )
    # Feasibility and the starting points were decided as trials ran: they hold for these only.
    for key, what in (("limits", "deployment limits"), ("objective", "objective")):
        old, new = stored.get(key, record.get(key)), record.get(key)
        if old != new:
            raise UsageError(
                f"study {name!r} was searched with other {what} ({old}, now {new}); "
                "pass the same ones again, or a new --study name"
            )


def recorded_data(record: Mapping[str, Any], data_dir: str | None, results: str | None) -> DataConfig:
    """The data settings a study was created with (dataset, split, image size), with this
    machine's data folder and results folder where given."""
    data = DataConfig.from_json(record["data"])
    return replace(data, data_dir=data_dir or data.data_dir, results=results or data.results)


def recorded_settings(study: optuna.Study) -> dict[str, Any]:
    """The settings a study was created with; a study not made by sweep is an error."""
    record = study.user_attrs.get(SETTINGS_ATTR)
    if record is None:
        raise UsageError(
            f"study {study.study_name!r} was not created by sweep; start it with "
            "`python -m sweep sweep --storage URL --study NAME` first"
        )
    return dict(record)


def recorded_views(study: optuna.Study) -> int:
    """How many test-time views the study's answer may average (:func:`sweep.models.views.most_views`):
    one under its recorded deployment limits or Pareto objective, or for the user's model;
    else SWEEP_VIEWS, or every view."""
    record = recorded_settings(study)
    own_model = recorded_space(study).model is not None
    limits, objective = record.get("limits") or {}, record.get("objective", "accuracy")
    return most_views(limits, objective, own_model, Environment.read().views)


def recorded_objective(study: optuna.Study) -> str:
    """What the study trades accuracy against (``accuracy`` for studies without a record)."""
    return str(study.user_attrs.get(SETTINGS_ATTR, {}).get("objective", "accuracy"))


def recorded_explore_images(study: optuna.Study) -> int | None:
    """The training images a study's trials train on (None: all of them, :mod:`sweep.search.fidelity`)."""
    images = study.user_attrs.get(SETTINGS_ATTR, {}).get("explore_images")
    return int(images) if images else None


def recorded_speed(study: optuna.Study) -> float | None:
    """The baseline's training images a second, measured when the study was created (None: not
    measured, :func:`sweep.commands.sweep.exploration_images`)."""
    rate = study.user_attrs.get(SETTINGS_ATTR, {}).get("images_per_second")
    return float(rate) if rate else None


def recorded_space(study: optuna.Study) -> SearchSpace:
    """The search space a study was created with (its model function, if any, included)."""
    record = recorded_settings(study)
    return parse_space(record["space"], record["space_source"])


def finished_count(study: optuna.Study) -> int:
    """Trials that count towards TRIALS (:func:`sweep.choice.trials.counts_towards_trials`)."""
    return sum(counts_towards_trials(t) for t in study.get_trials(deepcopy=False))


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The completed trial with the highest validation accuracy (None before the first)."""
    return best_of(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def baseline_trial(study: optuna.Study) -> FrozenTrial | None:
    """The enqueued baseline trial, once it has run: its completed run where there is one (a
    run killed with its worker is failed, and its parameters run again as a new trial)."""
    runs = [t for t in study.get_trials(deepcopy=False) if is_baseline(t)]
    return best_of(runs) or (runs[0] if runs else None)
