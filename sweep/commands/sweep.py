"""``sweep sweep``: from the command line's settings to the final model, one step each.

Open the study (the baseline, the space's first trials and the portfolio's starting points go
first), search until the time is used or TRIALS trials are done (in worker processes,
:mod:`sweep.search.pool`, or in this one; :mod:`sweep.search.objective` trains each trial), say how it went
(:mod:`sweep.search.console`), then choose, retrain, test and export the answer (:mod:`sweep.commands.retrain`).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import optuna

from sweep.choice.leaderboard import read_summary
from sweep.choice.trials import error_of, marks
from sweep.commands.ensemble import side_by_side_possible
from sweep.data.registry import Dataset, builtin_input_shape, check_exists
from sweep.errors import UsageError
from sweep.files import ensure_writable, results_lock
from sweep.models.user_models import check_findable, plan
from sweep.progress import Display
from sweep.search.budget import Clock, TimeLimit, busy_seconds, search_deadline
from sweep.search.console import summary, write_leaderboard
from sweep.search.engines import Search, engine_of
from sweep.search.fidelity import CALIBRATION_IMAGES, MIN_EXPLORE_IMAGES, explore_images, exploring
from sweep.search.jobs import jobs_seconds
from sweep.search.masking import redact
from sweep.search.pool import SearchFailed, baseline_retrain_estimate
from sweep.search.study import (
    baseline_trial,
    best_trial,
    check_storage,
    claim_study,
    finished_count,
    grid,
    make_pruner,
    make_sampler,
    open_storage,
    recorded_explore_images,
    recorded_settings,
    recorded_speed,
    recorded_views,
    settings_record,
    storage_url,
    study_name,
)
from sweep.settings import DataConfig, SweepConfig, load_checked
from sweep.space.distributions import contains
from sweep.space.portfolio import mirror_symmetric, starting_points
from sweep.space.spaces import SearchSpace, default_space_path, load_space


def resolve_space(data: DataConfig, settings: SweepConfig) -> SearchSpace:
    """Load the search space and check it against the dataset's baseline and image size.

    Runs before any data is loaded and before TensorFlow starts, for built-in datasets.
    """
    if settings.model is not None and settings.space is None:
        raise UsageError(
            f"--model {settings.model} needs its own search space, over the function's parameters: "
            "pass --space my_space.yaml (make SPACE=); see the README's 'Your own model'"
        )
    space = load_space(settings.space or default_space_path(data.kind), settings.model)
    if space.model is not None:
        check_findable(space.model)
    shape = builtin_input_shape(data.dataset)
    if shape is not None:
        baseline = space.baseline_for(data.kind, shape)
        space.check_fits(baseline, shape)
        # Every built-in dataset has 10 classes; other data is checked once it has loaded.
        settings.limits.check_reachable(space.smallest_params(baseline, shape, 10))
    if settings.sampler == "grid":
        grid(space)  # exits 2 now, not after the data has loaded
    return space


def open_study(
    storage: optuna.storages.BaseStorage,
    data: DataConfig,
    settings: SweepConfig,
    space: SearchSpace,
    baseline: dict[str, Any],
    dataset: Dataset,
    display: Display | None = None,
) -> optuna.Study:
    """Create or resume the study; enqueue the baseline, then the space's first trials, then
    the portfolio (where the space asks for it). A new study measures how many training images
    its trials explore on (:func:`exploration_images`)."""
    name = study_name(data, settings)
    try:
        existing = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        existing = None
    # A resumed study keeps the images its trials explored on; one of an older version, all.
    explore, rate = (
        (recorded_explore_images(existing) or len(dataset.x_train), recorded_speed(existing))
        if existing is not None and existing.trials
        else exploration_images(dataset, space, baseline, settings, display or Display())
    )
    if existing is not None and existing.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise UsageError(
            f"study {name!r} in {redact(storage_url(data, settings))} minimizes its objective; "
            "sweep maximizes validation accuracy: pass another --study name"
        )
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        direction="maximize",
        load_if_exists=True,
        # Seed + trials so far: a resumed run continues the search instead of replaying it.
        sampler=make_sampler(
            settings.sampler, space, data.seed + len(existing.trials if existing else []), settings.objective
        ),
        pruner=make_pruner(settings.pruner),
    )
    pairs = side_by_side_possible(settings.workers, settings.limits.to_json(), settings.objective)
    claim_study(study, settings_record(data, settings, space, dataset.fingerprint, explore, rate, pairs))
    # KerasTuner cannot be handed a first trial; its leaderboard has no baseline row.
    if engine_of(settings).seeds_the_study and baseline_trial(study) is None:
        fixed = {n: baseline[n] for n, d in space.distributions.items() if contains(d, baseline.get(n))}
        study.enqueue_trial(fixed, user_attrs=marks(is_baseline=True))
        for point in space.first_trials:
            study.enqueue_trial(point, user_attrs=marks(is_first_trial=True))
        if space.portfolio:
            symmetric = mirror_symmetric(dataset.x_train, dataset.y_train)
            # Cheaper starting points first for a Pareto front. Not for limits alone: on MNIST under
            # MAX_PARAMS=20000 the weak tiny CNN drew TPE to its region (best val 0.9717, 0.9898
            # without it; one core each, docs/benchmarks.md).
            ladder = settings.objective != "accuracy"
            # Under a parameter limit the starting points are narrowed to fit it, not dropped.
            limit = settings.limits.max_count()
            fit_to = (baseline, limit) if limit is not None else None
            for start, point in starting_points(
                space, dataset.input_shape, dataset.num_classes, len(dataset.x_train), symmetric, ladder, fit_to
            ):
                study.enqueue_trial(point, user_attrs=marks(portfolio=start))
    return study


def run_sweep(data: DataConfig, settings: SweepConfig, retrain: bool = True) -> int:
    """Search until the time limit (less the retrains) is used, or the study holds
    ``settings.trials`` finished trials, then retrain the best."""
    clock = Clock()  # --time-limit counts from here
    check_exists(data.dataset)  # a mistyped name leaves nothing behind, and imports no model code
    space = resolve_space(data, settings)
    read_summary(ensure_writable(Path(data.results)) / "leaderboard.csv")  # written at the end
    ensure_writable(data.folder)
    with results_lock(data.folder, "sweep"):  # one driver a results folder: one retrain, one export
        return _sweep_locked(data, settings, retrain, clock, space)


def _sweep_locked(data: DataConfig, settings: SweepConfig, retrain: bool, clock: Clock, space: SearchSpace) -> int:
    """:func:`run_sweep` once the results folder is this command's."""
    url = storage_url(data, settings)
    if settings.workers > 1 and engine_of(settings).runs_workers and url in ("sqlite://", "sqlite:///:memory:"):
        raise UsageError(
            f"storage {url} lives in this process's memory, where worker processes "
            "cannot reach it: pass a file (sqlite:///path/study.db) or --workers 1"
        )
    # A bad URL fails before data loads; a SQLite file is created only once the data is
    # known to be good (a refused dataset leaves no empty study behind).
    check_storage(url)
    storage = None if url.startswith("sqlite") else open_storage(url)
    display = Display()
    dataset = load_checked(data, display)
    storage = storage or open_storage(url)
    baseline = space.baseline_for(data.kind, dataset.input_shape)
    space.check_fits(baseline, dataset.input_shape)  # image folders: known only now
    settings.limits.check_reachable(space.smallest_params(baseline, dataset.input_shape, dataset.num_classes))
    space = space.for_data(len(dataset.x_train))
    study = open_study(storage, data, settings, space, baseline, dataset, display)
    explored = exploring(dataset, recorded_explore_images(study) or len(dataset.x_train), data.seed)
    pairs = bool(recorded_settings(study).get("side_by_side"))  # as open_study recorded it
    # Where no trial is the baseline (KerasTuner's), its retrain is planned from its measured speed.
    untimed = 0.0
    if not engine_of(settings).seeds_the_study:
        full = len(dataset.x_train) + len(dataset.x_val)
        untimed = baseline_retrain_estimate(baseline, full, recorded_speed(study)) or 0.0
    views = recorded_views(study)
    limit, timeout = search_bounds(
        settings, dataset, clock.started, retrain, len(explored.x_train), pairs, untimed, views
    )
    clock.lap("loading")
    started = time.monotonic()
    finished = finished_count(study)
    engine = engine_of(settings)
    searched = not (engine.counts_study_trials and settings.trials is not None and finished >= settings.trials)
    ends = search_deadline(study, timeout, started, limit)
    if not searched:
        # A rerun of a finished sweep: starting workers would load TensorFlow and the data
        # only to find nothing to do.
        display.log(
            f"Study {study.study_name!r} already holds {finished} finished "
            f"trials (--trials {settings.trials}): nothing to search; raise --trials "
            "(make TRIALS=) to search on."
        )
        interrupted = False
    else:
        run = Search(study, dataset, explored, space, baseline, data, settings, display, ends, limit, timeout)
        try:
            interrupted = engine.search(run)
        except SearchFailed as failure:
            write_leaderboard(study, space, data.folder)
            print(f"sweep: {failure}", file=sys.stderr)
            return 1
    search_seconds = clock.lap("search")
    write_leaderboard(study, space, data.folder)
    why = engine.why_it_ended(study, settings, ends, limit) if searched and not interrupted else None
    if why:
        display.log(why)
    display.log(summary(study, data, search_seconds if searched else None))
    if interrupted:
        display.log("Interrupted: finished trials are kept; run the same command to resume.")
        return 130
    if best_trial(study) is None and (retrain or finished_count(study) == 0):
        write_report_of(study, data, display)
        errors = {error_of(t) or None for t in study.trials}
        all_failed = all(t.state == optuna.trial.TrialState.FAIL for t in study.trials)
        why = (
            f" (every trial failed with {errors.pop()})"
            if all_failed and len(errors) == 1 and None not in errors
            else ""
        )
        if settings.limits and any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
            why = " within the deployment limits (see the infeasible column)"
        print(
            f"sweep: no trial {'completed' if retrain else 'finished'}{why}, so there is nothing to "
            f"retrain; see the error column of {data.folder / 'leaderboard.csv'}",
            file=sys.stderr,
        )
        return 1
    if retrain:
        from sweep.commands.retrain import retrain_best

        retrain_best(study, dataset, data, display, limit, clock)
    write_report_of(study, data, display)
    display.log(
        clock.summary(
            settings.time_limit,
            workers=settings.workers if searched else 0,
            # Trials, and the baseline's retrain and folds where workers took them (sweep.search.jobs).
            busy=busy_seconds(study.get_trials(deepcopy=False), clock.begun.get("search")) + jobs_seconds(study),
        )
    )
    return 0


def write_report_of(study: optuna.Study, data: DataConfig, display: Display) -> None:
    """Write the sweep's report page and name it."""
    from sweep.reporting.report import write_report

    display.log(f"Report: {write_report(study, data.folder)}")


def search_bounds(
    settings: SweepConfig,
    dataset: Dataset,
    started: float,
    retrain: bool,
    explore_images: int | None = None,
    side_by_side: bool = False,
    baseline_seconds: float = 0.0,
    views: int = 1,
) -> tuple[TimeLimit | None, float | None]:
    """The sweep's time limit and search timeout. The limit counts from ``started`` (a
    :func:`time.time` value) and keeps back the time the retrains need (trials trained on
    ``explore_images`` of the training images; ``side_by_side``: the answer may train as
    models side by side; ``baseline_seconds``: the baseline's retrain where no trial times it;
    ``views``: the test-time views its answer may average);
    with ``retrain`` off it bounds the search alone, as a timeout."""
    if settings.time_limit is None:
        return None, settings.timeout
    if not retrain:
        left = settings.time_limit - (time.time() - started)
        return None, min(left, settings.timeout or left)
    limit = TimeLimit.for_data(
        started + settings.time_limit,
        dataset,
        shared_cores=settings.workers > 1 and engine_of(settings).runs_workers,
        seconds=settings.time_limit,
        explore_images=explore_images,
        side_by_side=side_by_side,
        baseline_seconds=baseline_seconds,
        views=views,
    )
    return limit, settings.timeout


def exploration_images(
    dataset: Dataset, space: SearchSpace, baseline: dict[str, Any], settings: SweepConfig, display: Display
) -> tuple[int, float | None]:
    """How many training images a new study's trials explore on (:mod:`sweep.search.fidelity`), and
    the baseline's training images a second on this machine (None: not measured). All of them
    unless a time limit bounds an Optuna search of a large split; then this machine's speed on
    the baseline decides, measured here in a few seconds. Under a time limit KerasTuner's
    search measures it too: it has no baseline trial to time the baseline's retrain."""
    images = len(dataset.x_train)
    engine = engine_of(settings)
    explores = engine.explores_on_a_share and images > MIN_EXPLORE_IMAGES
    if not settings.time_limit or not (explores or not engine.seeds_the_study):
        return images, None
    from sweep.models import train as training

    arch = plan(baseline, space.model)
    rate = training.images_per_second(
        arch, dataset.input_shape, dataset.x_train, dataset.y_train, dataset.num_classes, CALIBRATION_IMAGES
    )
    if not explores:
        display.log(f"This machine trains the baseline on {rate:,.0f} images/s: its retrain is planned from that.")
        return images, rate
    explore = explore_images(images, rate, arch.epochs, settings.time_limit)
    share = f"all {images:,}" if explore == images else f"{explore:,} of {images:,} ({explore / images:.0%})"
    display.log(
        f"This machine trains the baseline on {rate:,.0f} images/s: trials explore on {share} "
        "training images; the answer retrains on all of them."
    )
    return explore, rate
