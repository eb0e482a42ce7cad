"""``sweep sweep``: Optuna trials around the baseline, a ranked leaderboard after every trial.

The baseline runs first, then the space's starting points, then what the sampler proposes
(:mod:`sweep.objective` trains each one), until the time is used or TRIALS trials are done.
After the search the best configuration is retrained and tested once (:mod:`sweep.retrain`)
and exported.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweep.backend import usable_cpus
from sweep.baseline import load_checked
from sweep.budget import Clock, SearchDeadline, TimeLimit, busy_seconds, duration, search_deadline
from sweep.config import STORAGE_VARIABLE, DataConfig, SweepConfig
from sweep.datasets import Dataset, builtin_input_shape, check_exists
from sweep.errors import UsageError
from sweep.files import ensure_writable
from sweep.internals import storage_of
from sweep.leaderboard import read_summary, trials_frame, write_csv
from sweep.objective import Objective
from sweep.params import baseline_params, unused_params
from sweep.portfolio import mirror_symmetric, starting_points
from sweep.progress import Display, Task
from sweep.spaces import SearchSpace, contains, default_space_path, load_space, parse_space
from sweep.study import (
    FINISHED,
    baseline_trial,
    best_trial,
    claim_study,
    finished_count,
    load_study_at,
    make_pruner,
    make_sampler,
    open_storage,
    recorded_data,
    recorded_settings,
    redact,
    settings_record,
    storage_url,
    study_name,
)
from sweep.trials import STOPPED, failure, origin, params_of, score_interval, trial_score
from sweep.worker import run_trials

# A worker leaving after --max-trials trials, to be replaced by a fresh process (EX_TEMPFAIL).
EXIT_RECYCLE = 75


class SearchFailed(Exception):
    """Every worker process of the search exited with an error."""

def resolve_space(data: DataConfig, settings: SweepConfig) -> SearchSpace:
    """Load the search space and check it against the dataset's baseline and image size.

    Runs before any data is loaded and before TensorFlow starts, for built-in datasets.
    """
    space = load_space(settings.space or default_space_path(data.kind))
    shape = builtin_input_shape(data.dataset)
    if shape is not None:
        space.check_fits(baseline_params(data.kind, shape), shape)
    if settings.sampler == "grid":
        space.grid()  # exits 2 now, not after the data has loaded
    return space


def open_study(storage: optuna.storages.BaseStorage, data: DataConfig, settings: SweepConfig,
               space: SearchSpace, baseline: dict[str, Any], dataset: Dataset) -> optuna.Study:
    """Create or resume the study; enqueue the baseline, then the space's first trials, then
    the portfolio (where the space asks for it)."""
    name = study_name(data, settings)
    try:
        existing = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        existing = None
    if existing is not None and existing.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise UsageError(
            f"study {name!r} in {redact(storage_url(data, settings))} minimizes its objective; "
            "sweep maximizes validation accuracy: pass another --study name"
        )
    study = optuna.create_study(
        storage=storage, study_name=name, direction="maximize", load_if_exists=True,
        # Seed + trials so far: a resumed run continues the search instead of replaying it.
        sampler=make_sampler(settings.sampler, space, data.seed + len(existing.trials if existing else [])),
        pruner=make_pruner(settings.pruner),
    )
    claim_study(study, settings_record(data, settings, space, dataset.fingerprint))
    # KerasTuner cannot be handed a first trial; its leaderboard has no baseline row.
    if settings.engine == "optuna" and baseline_trial(study) is None:
        fixed = {n: baseline[n] for n, d in space.distributions.items() if contains(d, baseline.get(n))}
        study.enqueue_trial(fixed, user_attrs={"is_baseline": True})
        for point in space.first_trials:
            study.enqueue_trial(point, user_attrs={"is_first_trial": True})
        if space.portfolio:
            symmetric = mirror_symmetric(dataset.x_train, dataset.y_train)
            for start, point in starting_points(space, dataset.input_shape, dataset.num_classes,
                                                len(dataset.x_train), symmetric):
                study.enqueue_trial(point, user_attrs={"portfolio": start})
    return study


def write_leaderboard(study: optuna.Study, space: SearchSpace, folder: Path) -> Path:
    """Rewrite results/<dataset>/leaderboard.csv from the storage (atomically)."""
    return write_csv(trials_frame(study.get_trials(deepcopy=False), list(space.distributions)),
                     folder / "leaderboard.csv")


def run_sweep(data: DataConfig, settings: SweepConfig, retrain: bool = True) -> int:
    """Search until the time limit (less the retrains) is used, or the study holds
    ``settings.trials`` finished trials, then retrain the best."""
    clock = Clock()  # --time-limit counts from here
    space = resolve_space(data, settings)
    check_exists(data.dataset)  # a mistyped name leaves nothing behind
    read_summary(ensure_writable(Path(data.results)) / "leaderboard.csv")  # written at the end
    ensure_writable(data.folder)
    url = storage_url(data, settings)
    if settings.workers > 1 and settings.engine == "optuna" and url in ("sqlite://", "sqlite:///:memory:"):
        raise UsageError(f"storage {url} lives in this process's memory, where worker processes "
                         "cannot reach it: pass a file (sqlite:///path/study.db) or --workers 1")
    storage = open_storage(url)  # a bad URL fails before data loads
    display = Display()
    dataset = load_checked(data, display)
    baseline = baseline_params(data.kind, dataset.input_shape)
    space.check_fits(baseline, dataset.input_shape)  # image folders: known only now
    space = space.for_data(len(dataset.x_train))
    study = open_study(storage, data, settings, space, baseline, dataset)
    limit, timeout = search_bounds(settings, dataset, clock.started, retrain)
    clock.lap("loading")
    started = time.monotonic()
    finished = finished_count(study)
    searched = not (settings.engine == "optuna" and settings.trials is not None
                    and finished >= settings.trials)
    ends = search_deadline(study, timeout, started, limit)
    if not searched:
        # A rerun of a finished sweep: starting workers would load TensorFlow and the data
        # only to find nothing to do.
        display.log(f"Study {study.study_name!r} already holds {finished} finished "
                    f"trials (--trials {settings.trials}): nothing to search; raise --trials "
                    "(make TRIALS=) to search on.")
        interrupted = False
    elif settings.engine == "kerastuner":
        interrupted = search_kerastuner(study, dataset, space, baseline, data, settings, display, ends)
    elif settings.workers > 1:
        try:
            interrupted = run_worker_processes(study, space, data, settings, display, limit, timeout)
        except SearchFailed as failure:
            write_leaderboard(study, space, data.folder)
            print(f"sweep: {failure}", file=sys.stderr)
            return 1
    else:
        objective = Objective(dataset, space, baseline, data.seed, display, deadline=ends)
        interrupted = search(study, objective, space, data, settings, display, ends)
    search_seconds = clock.lap("search")
    write_leaderboard(study, space, data.folder)
    why = early_end(study, settings, ends, limit) if searched and not interrupted else None
    if why:
        display.log(why)
    display.log(summary(study, data, search_seconds if searched else None))
    if interrupted:
        display.log("Interrupted: finished trials are kept; run the same command to resume.")
        return 130
    if best_trial(study) is None and (retrain or finished_count(study) == 0):
        print(f"sweep: no trial {'completed' if retrain else 'finished'}, so there is nothing to "
              f"retrain; see the error column of {data.folder / 'leaderboard.csv'}", file=sys.stderr)
        return 1
    if retrain:
        from sweep.retrain import retrain_best

        retrain_best(study, dataset, data, display, limit, clock)
    display.log(clock.summary(settings.time_limit, workers=settings.workers if searched else 0,
                              busy=busy_seconds(study.get_trials(deepcopy=False), clock.begun.get("search"))))
    return 0


def search_bounds(settings: SweepConfig, dataset: Dataset, started: float,
                  retrain: bool) -> tuple[TimeLimit | None, float | None]:
    """The sweep's time limit and search timeout. The limit counts from ``started`` (a
    :func:`time.time` value) and keeps back the time the retrains need; with ``retrain`` off it
    bounds the search alone, as a timeout."""
    if settings.time_limit is None:
        return None, settings.timeout
    if not retrain:
        left = settings.time_limit - (time.time() - started)
        return None, min(left, settings.timeout or left)
    limit = TimeLimit.for_data(started + settings.time_limit, dataset,
                               shared_cores=settings.workers > 1 and settings.engine == "optuna")
    return limit, settings.timeout


def early_end(study: optuna.Study, settings: SweepConfig, deadline: SearchDeadline | None,
              limit: TimeLimit | None) -> str | None:
    """Which deadline ended the search, if one did (KerasTuner says so itself)."""
    ends = deadline() if deadline is not None else None
    if settings.engine != "optuna" or deadline is None or ends is None or time.monotonic() < ends \
            or (settings.trials is not None and finished_count(study) >= settings.trials):
        return None
    if deadline.cause() == "timeout":
        return (f"Timeout of {settings.timeout:.0f}s reached: no more trials started, running "
                "ones stopped (the baseline and starting points finish).")
    if limit is None:  # --no-retrain: the limit bounded the search as a timeout
        return "The time limit ended the search (--time-limit, make TIME_LIMIT=)."
    best = best_trial(study)
    seconds = limit.retrain_seconds(best) if best is not None else None
    retrain = f"retraining trial {best.number} (about {duration(seconds)})" \
        if best is not None and seconds else "the retrain"
    flag = f"--time-limit {settings.time_limit:.0f}, make TIME_LIMIT="
    if limit.left() <= 0:  # the baseline and starting points are never cut, and ran past it
        return (f"Search ended past the time limit ({flag}): the trials that always run in full "
                f"took longer on this machine; {retrain} and the export come after.")
    return (f"Search ended with {duration(limit.left())} left of the time limit ({flag}) "
            f"for {retrain}, the baseline's and the export.")


def trial_logger(space: SearchSpace, folder: Path, display: Display,
                 prefix: str = "") -> Callable[[optuna.Study, FrozenTrial], None]:
    """What runs after each trial: rewrite the leaderboard, log the trial's line."""

    def after_trial(study: optuna.Study, trial: FrozenTrial) -> None:
        write_leaderboard(study, space, folder)
        display.log(prefix + trial_line(study, trial))

    return after_trial


def search(study: optuna.Study, objective: Objective, space: SearchSpace, data: DataConfig,
           settings: SweepConfig, display: Display, deadline: SearchDeadline | None) -> bool:
    """Run trials until the study holds TRIALS finished ones or the deadline; True on Ctrl-C."""
    with display.session(), display.task("trials", settings.trials) as task:

        log_trial = trial_logger(space, data.folder, display)

        def after_trial(study: optuna.Study, trial: FrozenTrial) -> None:
            log_trial(study, trial)
            _advance(task, study, deadline)

        _advance(task, study, deadline)
        try:
            reason = run_trials(study, objective, trials=settings.trials, deadline=deadline,
                                on_trial=after_trial, log=display.log)
        except KeyboardInterrupt:
            return True
    if reason == "grid exhausted":
        display.log("The grid is exhausted: every point has been tried.")
    return False


def search_kerastuner(study: optuna.Study, dataset: Dataset, space: SearchSpace,
                      baseline: dict[str, Any], data: DataConfig, settings: SweepConfig,
                      display: Display, deadline: SearchDeadline | None) -> bool:
    """``--engine kerastuner``: KerasTuner searches in this process; True on Ctrl-C."""
    from sweep import kerastuner_engine

    with display.session():
        return kerastuner_engine.search(study, dataset, space, baseline, data, settings, display,
                                        trial_logger(space, data.folder, display), deadline)


def _advance(task: Task, study: optuna.Study, deadline: SearchDeadline | None) -> None:
    best = best_trial(study)
    info = f"best {best.values[0]:.4f} (trial {best.number})" if best else ""
    ends = deadline() if deadline is not None else None
    if ends is not None and task.total is None:  # no bar to show what is left: say it
        info += f"{'; ' if info else ''}search ends in {duration(max(ends - time.monotonic(), 0))}"
    task.advance(info, steps=finished_count(study) - task.done)


def run_worker(storage: str, name: str, *, data_dir: str | None, results: str | None,
               trials: int | None, timeout: float | None, max_trials: int | None, index: int,
               ends_at: float | None = None) -> int:
    """``sweep worker``: join a study knowing only its storage URL and name.

    Everything else (dataset, search space, sampler, pruner, TRIALS) is read from the study,
    where ``sweep sweep`` recorded it. Exits with EXIT_RECYCLE after ``max_trials`` trials.
    ``ends_at``: the end of the driver's --time-limit (a :func:`time.time` value), for the
    workers it starts.
    """
    started = time.monotonic()  # the timeout counts from the start, data loading included
    study = load_study_at(storage, name)
    record = recorded_settings(study)
    if record.get("engine", "optuna") != "optuna":
        raise UsageError(f"study {name!r} is searched by {record['engine']}, which runs in one "
                         "process; workers can join Optuna studies only")
    data = recorded_data(record, data_dir, results)
    space = parse_space(record["space"], record["space_source"])
    ensure_writable(data.folder)
    display = Display()
    dataset = load_checked(data, display)
    baseline = baseline_params(data.kind, dataset.input_shape)
    space = space.for_data(len(dataset.x_train))
    # Distinct seeds per worker and per restart: workers must not propose the same points.
    seed = data.seed + len(study.trials) + 7919 * (index + 1)
    study = optuna.load_study(
        study_name=name, storage=storage_of(study),
        sampler=make_sampler(record["sampler"], space, seed),
        pruner=make_pruner(record["pruner"]),
    )

    limit = None if ends_at is None else TimeLimit.for_data(
        ends_at, dataset, shared_cores=True)  # the driver's workers: several share the cores
    ends = search_deadline(study, timeout, started, limit)
    reason = run_trials(
        study, Objective(dataset, space, baseline, data.seed, display, deadline=ends),
        trials=trials or record["trials"], deadline=ends, max_trials=max_trials,
        on_trial=trial_logger(space, data.folder, display, f"[worker {index}] "), log=display.log,
    )
    display.log(f"[worker {index}] stopping: {reason}")
    return EXIT_RECYCLE if reason == "recycle" else 0


def worker_command(name: str, *, index: int, max_trials: int, trials: int | None,
                   timeout: float | None, results: str | None, data_dir: str | None,
                   ends_at: float | None = None) -> list[str]:
    """The command line of one worker process, which leaves after ``max_trials`` trials. The
    storage URL is not on it (any local user can read command lines, and a URL may hold a
    password): the process gets it in its environment (:func:`worker_env`)."""
    command = [sys.executable, "-m", "sweep", "worker", "--study", name,
               "--index", str(index), "--max-trials", str(max_trials)]
    for flag, value in (("--trials", trials), ("--results", results), ("--data-dir", data_dir)):
        if value is not None:
            command += [flag, str(value)]
    if timeout is not None:
        command += ["--timeout", f"{timeout:.3f}"]
    if ends_at is not None:
        command += ["--ends-at", f"{ends_at:.3f}"]
    return command


def worker_env(storage: str) -> dict[str, str]:
    """A worker process's environment: the storage URL (STORAGE_VARIABLE), and glibc's malloc
    arenas held to 2: its default of 8 per core holds on to freed memory; 2 grew 9 MB per trial
    instead of 15."""
    return {**os.environ, STORAGE_VARIABLE: storage,
            "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", "2")}


def needs_restart(code: int) -> bool:
    """Whether a worker process that exited with ``code`` gets a fresh one: it left to be
    recycled, or a signal other than Ctrl-C's killed it (the OOM killer, kill -9)."""
    return code == EXIT_RECYCLE or (code < 0 and code != -signal.SIGINT)


def _left(timeout: float | None, started: float) -> float | None:
    """What is left of ``timeout`` seconds counted from ``started`` (at least a millisecond)."""
    return None if timeout is None else max(timeout - (time.monotonic() - started), 0.001)


def run_recycled_worker(storage: str, name: str, *, recycle: int, trials: int | None,
                        timeout: float | None, results: str | None, data_dir: str | None,
                        index: int) -> int:
    """``sweep worker`` started by hand: the same worker, in a fresh child process every
    ``recycle`` trials, so a worker that runs for days keeps flat memory.

    The child inherits the terminal: its progress, its one-line errors (exit 2) and its Ctrl-C
    handling are the user's. A child killed by a signal is replaced, as the driver does.
    """
    started = time.monotonic()
    while True:
        left = _left(timeout, started)
        child = subprocess.Popen(
            worker_command(name, index=index, max_trials=recycle, trials=trials,
                           timeout=left, results=results, data_dir=data_dir),
            env=worker_env(storage))
        try:
            code = child.wait()
        except KeyboardInterrupt:  # the child got the Ctrl-C too: it records its trial as
            return child.wait()    # failed and says so
        if not needs_restart(code):
            return code
        if code < 0:
            print(f"sweep: worker {index} was killed by signal {-code}; restarting it",
                  file=sys.stderr)


def run_worker_processes(study: optuna.Study, space: SearchSpace, data: DataConfig,
                         settings: SweepConfig, display: Display, limit: TimeLimit | None,
                         timeout: float | None) -> bool:
    """Run WORKERS worker processes on the study and watch it; True on Ctrl-C.

    Each worker uses cores / WORKERS threads, writes its log to results/<dataset>/workers/,
    and is replaced by a fresh process every RECYCLE trials, so memory cannot accumulate.
    """
    url = storage_url(data, settings)
    logs = ensure_writable(data.folder / "workers")
    threads = max(1, usable_cpus() // settings.workers)
    started = time.monotonic()

    def spawn(index: int) -> subprocess.Popen[bytes]:
        command = worker_command(study.study_name, index=index, max_trials=settings.recycle,
                                 trials=settings.trials, timeout=_left(timeout, started),
                                 results=data.results, data_dir=data.data_dir,
                                 ends_at=limit.ends_at if limit else None)
        # Readable by the user only: a worker's log is its terminal.
        handle = os.open(logs / f"worker-{index}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(handle, "ab") as log:
            return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                    env={**worker_env(url), "SWEEP_THREADS": str(threads)})

    display.log(f"Starting {settings.workers} worker processes with {threads} thread(s) each; "
                f"logs in {logs}/")
    deadline = search_deadline(study, timeout, started, limit)
    workers = {index: spawn(index) for index in range(settings.workers)}
    seen: set[int] = set()
    failed: set[int] = set()
    with display.session(), display.task("trials", settings.trials) as task:
        try:
            while workers:
                time.sleep(1.0)
                for index, process in list(workers.items()):
                    code = process.poll()
                    if code is None:
                        continue
                    if needs_restart(code):
                        if code < 0:
                            display.log(f"worker {index} was killed by signal {-code}; restarting it")
                        workers[index] = spawn(index)
                    else:
                        del workers[index]
                        if code != 0:
                            failed.add(index)
                            display.log(f"worker {index} exited with code {code}; see its log")
                for trial in study.get_trials(deepcopy=False):
                    if trial.number not in seen and trial.state.is_finished():
                        seen.add(trial.number)
                        display.log(trial_line(study, trial))
                _advance(task, study, deadline)
        except KeyboardInterrupt:
            for process in workers.values():
                process.send_signal(signal.SIGINT)  # they record their trial as failed
            for process in workers.values():
                process.wait()
            return True
    if len(failed) == settings.workers:
        raise SearchFailed(f"all {settings.workers} worker processes failed; see their logs in {logs}/")
    return False


def trial_line(study: optuna.Study, trial: FrozenTrial) -> str:
    """One log line per finished trial."""
    attrs = trial.user_attrs
    score = trial_score(trial)
    parts = [f"trial {trial.number} {trial.state.name.lower()}"]
    if score is not None:
        parts.append(f"val_accuracy {score:.4f}")
    if "epochs_run" in attrs:
        parts.append(f"after {attrs['epochs_run']} epochs")
    if "fit_seconds" in attrs:
        parts.append(f"in {attrs['fit_seconds']:.0f}s")
    if origin(trial) != "sampler":
        parts.append(f"({origin(trial)})")
    if attrs.get("stopped") in STOPPED:
        parts.append(f"(stopped by the {STOPPED[attrs['stopped']]})")
    if trial.state == TrialState.FAIL:
        parts.append(f"error: {failure(trial)}")
    return " ".join(parts)


def summary(study: optuna.Study, data: DataConfig, seconds: float | None) -> str:
    """What a person wants to know when the search ends (``seconds``: this run's search; None
    when it searched nothing)."""
    states = [t.state for t in study.get_trials(deepcopy=False)]
    counts = ", ".join(f"{states.count(s)} {s.name.lower()}" for s in (*FINISHED, TrialState.FAIL))
    took = "none run now" if seconds is None else f"this run {seconds:.0f}s"
    lines = [f"\nSearch on {data.name}: {counts} trials (study {study.study_name!r}; {took})."]
    best = best_trial(study)
    if best is None:
        lines.append("No trial completed yet.")
    else:
        base = baseline_trial(study)
        gain = ""
        if base is not None and base.state == TrialState.COMPLETE:
            gain = f"; baseline {_scored(base)}"
        lines.append(f"Best trial {best.number} ({origin(best)}): val_accuracy {_scored(best)}{gain}")
        params = params_of(best)  # as trained: all, epochs as run
        lines.append("  " + ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"  # not 0.30000000000000004
            for k, v in params.items() if k not in unused_params(params) and k in best.params))
        cut = sum(t.user_attrs.get("stopped") in STOPPED for t in study.get_trials(deepcopy=False))
        if cut and best.user_attrs.get("is_baseline"):
            lines.append(f"No trial beat the baseline, and {cut} trial(s) were stopped at the "
                         "search's deadline: give the search more time on this machine (--timeout "
                         "and --time-limit, make TIMEOUT= TIME_LIMIT=).")
    lines.append(f"Leaderboard: {data.folder / 'leaderboard.csv'}")
    return "\n".join(lines)


def _scored(trial: FrozenTrial) -> str:
    """A trial's validation accuracy with its 95 % interval: ``0.9123 (0.9049-0.9193)``."""
    low, high = score_interval(trial)
    interval = f" ({low:.4f}-{high:.4f})" if low is not None and high is not None else ""
    return f"{trial.values[0]:.4f}{interval}"
