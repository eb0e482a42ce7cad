"""``sweep sweep``: Optuna trials around the baseline, a ranked leaderboard after every trial.

Optuna proposes (the sampler), the objective trains (Keras); KerasTuner's split between what
proposes parameters and what trains models. After the search the best configuration is
retrained and tested once (:mod:`sweep.retrain`) and exported.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweep.backend import usable_cpus
from sweep.baseline import load_checked
from sweep.budget import TimeLimit, as_monotonic, duration
from sweep.config import DataConfig, SweepConfig
from sweep.datasets import Dataset, builtin_input_shape
from sweep.errors import UsageError
from sweep.files import ensure_writable
from sweep.leaderboard import STOPPED, trial_score, trials_frame, write_csv
from sweep.params import Architecture, baseline_params, unused_params
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
    max_epochs,
    open_storage,
    recorded_data,
    recorded_settings,
    settings_record,
    storage_url,
    study_name,
)
from sweep.worker import run_trials

# A worker leaving after --max-trials trials, to be replaced by a fresh process (EX_TEMPFAIL).
EXIT_RECYCLE = 75

def suggest(trial: optuna.Trial, space: SearchSpace, baseline: dict[str, Any]) -> dict[str, Any]:
    """The full parameter dict of a trial: the baseline, overridden by sampled values.

    The enqueued baseline trial suggests only the parameters whose baseline value lies inside
    the space; the others keep the baseline's value (Optuna would reject them).
    """
    params = dict(baseline)
    is_baseline = trial.user_attrs.get("is_baseline", False)
    for name, dist in space.distributions.items():
        if is_baseline and not contains(dist, baseline.get(name)):
            continue
        if isinstance(dist, optuna.distributions.CategoricalDistribution):
            params[name] = trial.suggest_categorical(name, dist.choices)
        elif isinstance(dist, optuna.distributions.IntDistribution):
            params[name] = trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
        else:
            params[name] = trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
    return params


class Objective:
    """Trains one trial's CNN on the training split and returns its best validation accuracy.

    ``deadline``: when the search ends (--timeout and --time-limit, see :class:`SearchDeadline`):
    a trial still training then stops within a few batches, unless in its last epoch (its
    ``stopped`` attribute names the deadline: ``timeout`` or ``time_limit``). With a constant
    learning rate and an epoch done it is recorded complete: its epochs so far are exactly those
    of a shorter trial (same seed, same order, same rate), and the retrain stops at its best
    epoch anyway. With a schedule, or without a whole epoch, it is pruned: its rates were a
    longer run's.

    The baseline and the space's first trials always finish, neither pruned nor cut by a
    deadline: every other trial is compared with them, and they are there to be run in full.
    """

    def __init__(self, dataset: Dataset, space: SearchSpace, baseline: dict[str, Any],
                 seed: int, display: Display,
                 deadline: SearchDeadline | None = None) -> None:
        self.dataset, self.space, self.baseline = dataset, space, baseline
        self.seed, self.display, self.deadline = seed, display, deadline

    def __call__(self, trial: optuna.Trial) -> float:
        from sweep import train as training  # first: it loads TensorFlow quietly

        from optuna_integration import KerasPruningCallback  # noqa: I001

        dataset = self.dataset
        params = suggest(trial, self.space, self.baseline)
        trial.set_user_attr("params", params)
        with self.display.task(f"  trial {trial.number} epochs", params["epochs"]) as task:
            log = training.EpochLog(task)
            try:
                arch = Architecture.from_params(params)
                count = arch.param_count(dataset.input_shape, dataset.num_classes)
                trial.set_user_attr("param_count", count)
                model = training.new_model(
                    arch, dataset.input_shape, dataset.num_classes, self.seed + trial.number
                )
                if runs_in_full(trial):
                    callbacks = [training.keras.callbacks.LambdaCallback(
                        on_epoch_end=lambda epoch, logs: _report(trial, epoch, logs))]
                else:
                    # Reports val_accuracy to Optuna after every epoch; raises TrialPruned.
                    callbacks = [KerasPruningCallback(trial, "val_accuracy")]
                    if self.deadline is not None:
                        callbacks.append(training.Deadline(self.deadline))
                training.train(
                    model, arch, dataset.x_train, dataset.y_train, seed=self.seed + trial.number,
                    validation=(dataset.x_val, dataset.y_val), log=log, callbacks=callbacks,
                )
            except optuna.TrialPruned:
                raise
            except training.DeadlinePassed as stop:
                assert self.deadline is not None  # only its callback raises this
                trial.set_user_attr("stopped", self.deadline.cause())
                if arch.lr_schedule != "constant" or not log.history.get("val_accuracy"):
                    raise optuna.TrialPruned(str(stop)) from None
            finally:
                _record(trial, log)
                training.release()
        return max(log.history["val_accuracy"])


def runs_in_full(trial: optuna.Trial) -> bool:
    """Whether a trial is the baseline or one of the space's first trials (never stopped early)."""
    return bool(trial.user_attrs.get("is_baseline") or trial.user_attrs.get("is_first_trial"))


def _report(trial: optuna.Trial, epoch: int, logs: dict[str, float] | None) -> None:
    """Report an epoch like KerasPruningCallback, without stopping the trial."""
    trial.report(float((logs or {})["val_accuracy"]), epoch)
    # Hyperband records the trial's score at each rung only when asked, and compares later
    # trials with it: ask, and ignore the answer.
    trial.should_prune()


def _record(trial: optuna.Trial, log: Any) -> None:
    """Store what the leaderboard shows about a trial's training, also when it was cut short."""
    scores = log.history.get("val_accuracy", [])
    if scores:
        best = log.best_epoch
        trial.set_user_attr("best_epoch", best)
        trial.set_user_attr("epochs_run", len(scores))
        trial.set_user_attr("val_loss", log.history["val_loss"][best - 1])
        trial.set_user_attr("epochs_seconds", round(log.epochs_seconds, 2))  # whole epochs only
    trial.set_user_attr("fit_seconds", round(log.seconds, 2))


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
               space: SearchSpace, baseline: dict[str, Any]) -> optuna.Study:
    """Create or resume the study; enqueue the baseline, then the space's first trials."""
    name = study_name(data, settings)
    try:
        existing = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        existing = None
    if existing is not None and existing.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise UsageError(
            f"study {name!r} in {storage_url(data, settings)} minimizes its objective; "
            "sweep maximizes validation accuracy: pass another --study name"
        )
    study = optuna.create_study(
        storage=storage, study_name=name, direction="maximize", load_if_exists=True,
        # Seed + trials so far: a resumed run continues the search instead of replaying it.
        sampler=make_sampler(settings.sampler, space, data.seed + len(existing.trials if existing else [])),
        pruner=make_pruner(settings.pruner, max_epochs(space, baseline)),
    )
    claim_study(study, settings_record(data, settings, space))
    # KerasTuner cannot be handed a first trial; its leaderboard has no baseline row.
    if settings.engine == "optuna" and baseline_trial(study) is None:
        fixed = {n: baseline[n] for n, d in space.distributions.items() if contains(d, baseline.get(n))}
        study.enqueue_trial(fixed, user_attrs={"is_baseline": True})
        for point in space.first_trials:
            study.enqueue_trial(point, user_attrs={"is_first_trial": True})
    return study


def write_leaderboard(study: optuna.Study, space: SearchSpace, folder: Path) -> Path:
    """Rewrite results/<dataset>/leaderboard.csv from the storage (atomically)."""
    return write_csv(trials_frame(study.get_trials(deepcopy=False), list(space.distributions)),
                     folder / "leaderboard.csv")


def run_sweep(data: DataConfig, settings: SweepConfig, retrain: bool = True) -> int:
    """Search until the study holds ``settings.trials`` finished trials, then retrain the best."""
    command_started = time.time()  # --time-limit counts from here
    space = resolve_space(data, settings)
    ensure_writable(data.folder)
    storage = open_storage(storage_url(data, settings))  # a bad URL fails before data loads
    display = Display()
    dataset = load_checked(data, display)
    baseline = baseline_params(data.kind, dataset.input_shape)
    space.check_fits(baseline, dataset.input_shape)  # image folders: known only now
    study = open_study(storage, data, settings, space, baseline)
    # --no-retrain: the search is the whole command, and the timeout bounds it.
    limit = time_limit(settings, dataset, command_started) if retrain else None
    started = time.monotonic()
    finished = finished_count(study)
    searched = not (settings.engine == "optuna" and finished >= settings.trials)
    if not searched:
        # A rerun of a finished sweep: starting workers would load TensorFlow and the data
        # only to find nothing to do.
        display.log(f"Study {study.study_name!r} already holds {finished} finished "
                    f"trials (--trials {settings.trials}): nothing to search; raise --trials "
                    "(make TRIALS=) to search on.")
        interrupted = False
    elif settings.engine == "kerastuner":
        interrupted = search_kerastuner(study, dataset, space, baseline, data, settings, display)
    elif settings.workers > 1:
        interrupted = run_worker_processes(study, space, data, settings, display, limit)
    else:
        ends = search_deadline(study, settings.timeout, started, limit)
        objective = Objective(dataset, space, baseline, data.seed, display, deadline=ends)
        interrupted = search(study, objective, space, data, settings, display, ends)
    write_leaderboard(study, space, data.folder)
    why = early_end(study, settings, started, limit) if searched and not interrupted else None
    if why:
        display.log(why)
    display.log(summary(study, data, time.monotonic() - started if searched else None))
    if interrupted:
        display.log("Interrupted: finished trials are kept; run the same command to resume.")
        return 130
    if retrain and best_trial(study) is not None:
        from sweep.retrain import retrain_best

        retrain_best(study, dataset, data, display, limit)
    return 0


def time_limit(settings: SweepConfig, dataset: Dataset, started: float) -> TimeLimit | None:
    """The sweep's --time-limit, counted from ``started`` (a :func:`time.time` value); None
    without one, and for KerasTuner, which ends its search at --timeout only."""
    if settings.time_limit is None or settings.engine != "optuna":
        return None
    return TimeLimit.for_data(started + settings.time_limit, dataset,
                              shared_cores=settings.workers > 1)


@dataclass(frozen=True)
class SearchDeadline:
    """When the search ends, as a :func:`time.monotonic` value: ``timeout`` seconds after
    ``started``, or earlier when ``limit`` needs the rest for retraining the best trial.

    Reads the study each time it is asked: the best trial, and so its retrain, changes.
    """

    study: optuna.Study
    timeout: float | None
    started: float
    limit: TimeLimit | None

    def ends(self) -> dict[str, float]:
        """Each deadline's end, by the name the leaderboard's ``stopped_by`` gives it."""
        ends = {} if self.timeout is None else {"timeout": self.started + self.timeout}
        if self.limit is not None:
            trials = self.study.get_trials(deepcopy=False)
            ends["time_limit"] = as_monotonic(self.limit.search_ends_at(trials))
        return ends

    def __call__(self) -> float | None:
        return min(self.ends().values(), default=None)

    def cause(self) -> str:
        """The deadline that comes first: ``timeout`` or ``time_limit``."""
        ends = self.ends()
        return min(ends, key=ends.__getitem__)


def search_deadline(study: optuna.Study, timeout: float | None, started: float,
                    limit: TimeLimit | None) -> SearchDeadline | None:
    """The search's deadline; None without a timeout or a limit: trials then carry no deadline
    check at all."""
    if timeout is None and limit is None:
        return None
    return SearchDeadline(study, timeout, started, limit)


def early_end(study: optuna.Study, settings: SweepConfig, started: float,
              limit: TimeLimit | None) -> str | None:
    """Which deadline ended the search before TRIALS finished trials, if one did (KerasTuner
    says so itself)."""
    if settings.engine != "optuna":
        return None
    deadline = search_deadline(study, settings.timeout, started, limit)
    ends = deadline() if deadline is not None else None
    if deadline is None or ends is None or finished_count(study) >= settings.trials \
            or time.monotonic() < ends:
        return None
    if deadline.cause() == "timeout":
        return (f"Timeout of {settings.timeout:.0f}s reached: no more trials started, running "
                "ones stopped (the baseline and first trials finish).")
    assert limit is not None  # the limit's deadline came first
    best = best_trial(study)
    seconds = limit.retrain_seconds(best) if best is not None else None
    retrain = f"retraining trial {best.number} (about {duration(seconds)})" \
        if best is not None and seconds else "the retrain"
    flag = f"--time-limit {settings.time_limit:.0f}, make TIME_LIMIT="
    if limit.left() <= 0:  # the baseline and first trials are never cut, and ran past it
        return (f"Search ended past the time limit ({flag}): the trials that always run in full "
                f"took longer on this machine; {retrain} and the export come after.")
    return (f"Search ended with {duration(limit.left())} left of the time limit ({flag}) "
            f"for {retrain} and the export.")


def trial_logger(space: SearchSpace, folder: Path, display: Display,
                 prefix: str = "") -> Callable[[optuna.Study, FrozenTrial], None]:
    """What runs after each trial: rewrite the leaderboard, log the trial's line."""

    def after_trial(study: optuna.Study, trial: FrozenTrial) -> None:
        write_leaderboard(study, space, folder)
        display.log(prefix + trial_line(study, trial))

    return after_trial


def search(study: optuna.Study, objective: Objective, space: SearchSpace, data: DataConfig,
           settings: SweepConfig, display: Display,
           deadline: Callable[[], float | None] | None) -> bool:
    """Run trials until the study holds TRIALS finished ones or the deadline; True on Ctrl-C."""
    with display.session(), display.task("trials", settings.trials) as task:

        log_trial = trial_logger(space, data.folder, display)

        def after_trial(study: optuna.Study, trial: FrozenTrial) -> None:
            log_trial(study, trial)
            _advance(task, study)

        _advance(task, study)
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
                      display: Display) -> bool:
    """``--engine kerastuner``: KerasTuner searches in this process; True on Ctrl-C."""
    from sweep import kerastuner_engine

    with display.session():
        return kerastuner_engine.search(study, dataset, space, baseline, data, settings, display,
                                        trial_logger(space, data.folder, display))


def _advance(task: Task, study: optuna.Study) -> None:
    best = best_trial(study)
    info = f"best {best.values[0]:.4f} (trial {best.number})" if best else ""
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
    # Distinct seeds per worker and per restart: workers must not propose the same points.
    seed = data.seed + len(study.trials) + 7919 * (index + 1)
    study = optuna.load_study(
        study_name=name, storage=study._storage,
        sampler=make_sampler(record["sampler"], space, seed),
        pruner=make_pruner(record["pruner"], max_epochs(space, baseline)),
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


def worker_command(storage: str, name: str, *, index: int, max_trials: int, trials: int | None,
                   timeout: float | None, results: str | None, data_dir: str | None,
                   ends_at: float | None = None) -> list[str]:
    """The command line of one worker process, which leaves after ``max_trials`` trials."""
    command = [sys.executable, "-m", "sweep", "worker", "--storage", storage, "--study", name,
               "--index", str(index), "--max-trials", str(max_trials)]
    for flag, value in (("--trials", trials), ("--results", results), ("--data-dir", data_dir)):
        if value is not None:
            command += [flag, str(value)]
    if timeout is not None:
        command += ["--timeout", f"{timeout:.3f}"]
    if ends_at is not None:
        command += ["--ends-at", f"{ends_at:.3f}"]
    return command


def worker_env() -> dict[str, str]:
    """A worker process's environment: glibc's default of 8 malloc arenas per core holds on to
    freed memory; 2 grew 9 MB per trial instead of 15."""
    return {**os.environ, "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", "2")}


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
            worker_command(storage, name, index=index, max_trials=recycle, trials=trials,
                           timeout=left, results=results, data_dir=data_dir),
            env=worker_env())
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
                         settings: SweepConfig, display: Display, limit: TimeLimit | None) -> bool:
    """Run WORKERS worker processes on the study and watch it; True on Ctrl-C.

    Each worker uses cores / WORKERS threads, writes its log to results/<dataset>/workers/,
    and is replaced by a fresh process every RECYCLE trials, so memory cannot accumulate.
    """
    url = storage_url(data, settings)
    logs = ensure_writable(data.folder / "workers")
    threads = max(1, usable_cpus() // settings.workers)
    started = time.monotonic()

    def spawn(index: int) -> subprocess.Popen[bytes]:
        command = worker_command(url, study.study_name, index=index, max_trials=settings.recycle,
                                 trials=settings.trials, timeout=_left(settings.timeout, started),
                                 results=data.results, data_dir=data.data_dir,
                                 ends_at=limit.ends_at if limit else None)
        with open(logs / f"worker-{index}.log", "ab") as log:
            return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                    env={**worker_env(), "SWEEP_THREADS": str(threads)})

    display.log(f"Starting {settings.workers} worker processes with {threads} thread(s) each; "
                f"logs in {logs}/")
    workers = {index: spawn(index) for index in range(settings.workers)}
    seen: set[int] = set()
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
                            display.log(f"worker {index} exited with code {code}; see its log")
                for trial in study.get_trials(deepcopy=False):
                    if trial.number not in seen and trial.state.is_finished():
                        seen.add(trial.number)
                        display.log(trial_line(study, trial))
                _advance(task, study)
        except KeyboardInterrupt:
            for process in workers.values():
                process.send_signal(signal.SIGINT)  # they record their trial as failed
            for process in workers.values():
                process.wait()
            return True
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
    if attrs.get("is_baseline"):
        parts.append("(baseline)")
    if attrs.get("is_first_trial"):
        parts.append("(first trial from the space file)")
    if attrs.get("stopped") in STOPPED:
        parts.append(f"(stopped by the {STOPPED[attrs['stopped']]})")
    if trial.state == TrialState.FAIL:
        parts.append(f"error: {attrs.get('error') or trial.system_attrs.get('fail_reason', '?')}")
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
            gain = f" (baseline {base.values[0]:.4f}, {best.values[0] - base.values[0]:+.4f})"
        lines.append(f"Best trial {best.number}: val_accuracy {best.values[0]:.4f}{gain}")
        unused = unused_params(best.user_attrs.get("params", best.params))
        lines.append("  " + ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"  # not 0.30000000000000004
            for k, v in best.params.items() if k not in unused))
        cut = sum(t.user_attrs.get("stopped") in STOPPED for t in study.get_trials(deepcopy=False))
        if cut and best.user_attrs.get("is_baseline"):
            lines.append(f"No trial beat the baseline, and {cut} trial(s) were stopped at the "
                         "search's deadline: give the search more time on this machine (--timeout "
                         "and --time-limit, make TIMEOUT= TIME_LIMIT=).")
    lines.append(f"Leaderboard: {data.folder / 'leaderboard.csv'}")
    return "\n".join(lines)
