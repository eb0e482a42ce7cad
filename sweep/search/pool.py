"""Worker processes: the ones ``sweep sweep`` starts on this machine, and ``sweep worker``,
which joins a study from anywhere with its storage URL and name only.

Each worker runs the trial loop (:func:`sweep.search.worker.run_trials`) in its own process with its
share of the cores, and leaves after ``--recycle`` trials to be replaced by a fresh process, so
memory cannot accumulate. A worker killed by a signal other than Ctrl-C's is replaced too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import optuna

from sweep.deploy.constraints import Limits
from sweep.errors import UsageError
from sweep.files import ensure_writable
from sweep.machine.backend import usable_cpus
from sweep.machine.devices import find_gpus, worker_gpu
from sweep.progress import Display
from sweep.search.budget import BASELINE_JOB_SHARE, TimeLimit, search_deadline
from sweep.search.console import advance, trial_line, trial_logger
from sweep.search.fidelity import exploring
from sweep.search.internals import storage_of
from sweep.search.jobs import Worker, folds_taken, run_baseline_job, run_folds_job
from sweep.search.kept import kept_in
from sweep.search.objective import Objective
from sweep.search.study import (
    load_study_at,
    make_pruner,
    make_sampler,
    recorded_data,
    recorded_settings,
    recorded_views,
    storage_url,
)
from sweep.search.worker import interruptible, run_trials
from sweep.settings import STORAGE_VARIABLE, DataConfig, SweepConfig, load_checked
from sweep.space.spaces import SearchSpace, parse_space

# A worker leaving after --max-trials trials, to be replaced by a fresh process (EX_TEMPFAIL).
EXIT_RECYCLE = 75


def baseline_retrain_estimate(baseline: dict[str, Any], images: int, images_per_second: float | None) -> float | None:
    """About how long the baseline's retrain on ``images`` images takes on one worker, from the
    speed measured when the study was created (None: not measured, a small dataset)."""
    if not images_per_second:
        return None
    return float(baseline["epochs"]) * images / images_per_second


class SearchFailed(Exception):
    """Every worker process of the search exited with an error."""


@dataclass(frozen=True)
class WorkerSpec:
    """One worker: which study, which worker of it, and for how long; ``sweep worker``'s flags.
    The storage URL travels beside it, never in it: this goes on a command line
    (:func:`worker_command`), and a URL may hold a password."""

    study: str
    index: int = 0
    trials: int | None = None  # TRIALS; None: the study's own
    timeout: float | None = None  # seconds, counted from the worker's start
    max_trials: int | None = None  # leave after this many (EXIT_RECYCLE), to be replaced
    results: str | None = None
    data_dir: str | None = None
    ends_at: float | None = None  # the end of the driver's --time-limit (a time.time() value)


def run_worker(storage: str, spec: WorkerSpec) -> int:
    """``sweep worker``: join a study knowing only its storage URL and name.

    Everything else (dataset, search space, sampler, pruner, TRIALS) is read from the study,
    where ``sweep sweep`` recorded it. Exits with EXIT_RECYCLE after ``spec.max_trials`` trials.
    """
    interruptible()
    name, index, timeout, ends_at = spec.study, spec.index, spec.timeout, spec.ends_at
    started = time.monotonic()  # the timeout counts from the start, data loading included
    study = load_study_at(storage, name)
    record = recorded_settings(study)
    if record.get("engine", "optuna") != "optuna":
        raise UsageError(
            f"study {name!r} is searched by {record['engine']}, which runs in one "
            "process; workers can join Optuna studies only"
        )
    data = recorded_data(record, spec.data_dir, spec.results)
    space = parse_space(record["space"], record["space_source"])
    ensure_writable(data.folder)
    display = Display()
    dataset = load_checked(data, display)
    baseline = space.baseline_for(data.kind, dataset.input_shape)
    space = space.for_data(len(dataset.x_train))
    explore = record.get("explore_images") or len(dataset.x_train)
    # Distinct seeds per worker and per restart: workers must not propose the same points.
    seed = data.seed + len(study.trials) + 7919 * (index + 1)
    study = optuna.load_study(
        study_name=name,
        storage=storage_of(study),
        sampler=make_sampler(record["sampler"], space, seed, record.get("objective", "accuracy")),
        pruner=make_pruner(record["pruner"]),
    )

    limit = (
        None
        if ends_at is None
        else TimeLimit.for_data(  # the driver's workers share cores
            ends_at,
            dataset,
            shared_cores=True,
            seconds=record.get("time_limit") or 0.0,
            explore_images=explore,
            side_by_side=bool(record.get("side_by_side")),
            views=recorded_views(study),
        )
    )
    ends = search_deadline(study, timeout, started, limit)
    jobs = Worker(study, baseline, space.model, dataset, data, display, index)
    if limit is not None:  # the driver's worker: take the baseline's retrain if it fits
        estimate = baseline_retrain_estimate(baseline, limit.full_images, record.get("images_per_second"))
        if estimate is None or estimate < BASELINE_JOB_SHARE * limit.left():
            run_baseline_job(jobs, estimate)

    def between_trials() -> None:  # the baseline's folds, once its trial's timing says they fit
        if limit is None or folds_taken(study):
            return
        end = ends() if ends is not None else None
        seconds = limit.baseline_folds_seconds(
            study.get_trials(deepcopy=False), limit.left() if end is None else end - time.monotonic()
        )
        if seconds is not None:
            run_folds_job(jobs, seconds)

    reason = run_trials(
        study,
        Objective(
            exploring(dataset, explore, data.seed),
            space,
            baseline,
            data.seed,
            display,
            deadline=ends,
            limits=Limits.from_json(record.get("limits")),
            keep_in=kept_in(data.folder, explore, len(dataset.x_train)),
        ),
        trials=spec.trials or record["trials"],
        deadline=ends,
        max_trials=spec.max_trials,
        on_trial=trial_logger(space, data.folder, display, f"[worker {index}] "),
        between=between_trials,
        log=display.log,
    )
    display.log(f"[worker {index}] stopping: {reason}")
    return EXIT_RECYCLE if reason == "recycle" else 0


def worker_command(spec: WorkerSpec) -> list[str]:
    """The command line of one worker process. The storage URL is not on it (any local user
    can read command lines, and a URL may hold a password): the process gets it in its
    environment (:func:`worker_env`)."""
    command = [sys.executable, "-m", "sweep", "worker", "--study", spec.study, "--index", str(spec.index)]
    for flag, value in (
        ("--max-trials", spec.max_trials),
        ("--trials", spec.trials),
        ("--results", spec.results),
        ("--data-dir", spec.data_dir),
    ):
        if value is not None:
            command += [flag, str(value)]
    if spec.timeout is not None:
        command += ["--timeout", f"{spec.timeout:.3f}"]
    if spec.ends_at is not None:
        command += ["--ends-at", f"{spec.ends_at:.3f}"]
    return command


def worker_env(storage: str, index: int = 0, threads: int | None = None) -> dict[str, str]:
    """Worker ``index``'s environment: the storage URL (STORAGE_VARIABLE); its GPU where there
    are GPUs (CUDA_VISIBLE_DEVICES, round robin), else its share of the cores (SWEEP_THREADS);
    and glibc's malloc arenas held to 2: its default of 8 per core holds on to freed memory; 2
    grew 9 MB per trial instead of 15."""
    env = {**os.environ, STORAGE_VARIABLE: storage, "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", "2")}
    gpu = worker_gpu(index, find_gpus())
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    elif threads is not None:
        env["SWEEP_THREADS"] = str(threads)
    return env


def stop(processes: Iterable[subprocess.Popen[bytes]]) -> None:
    """Stop worker processes as Ctrl-C does (each records its trial as failed), and wait."""
    running = [process for process in processes if process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGINT)
    for process in running:
        process.wait()


def needs_restart(code: int) -> bool:
    """Whether a worker process that exited with ``code`` gets a fresh one: it left to be
    recycled, or a signal other than Ctrl-C's killed it (the OOM killer, kill -9)."""
    return code == EXIT_RECYCLE or (code < 0 and code != -signal.SIGINT)


def _left(timeout: float | None, started: float) -> float | None:
    """What is left of ``timeout`` seconds counted from ``started`` (at least a millisecond)."""
    return None if timeout is None else max(timeout - (time.monotonic() - started), 0.001)


def run_recycled_worker(storage: str, spec: WorkerSpec, recycle: int) -> int:
    """``sweep worker`` started by hand: the same worker, in a fresh child process every
    ``recycle`` trials, so a worker that runs for days keeps flat memory.

    The child inherits the terminal: its progress, its one-line errors (exit 2) and its Ctrl-C
    handling are the user's. A child killed by a signal is replaced, as the driver does.
    """
    started = time.monotonic()
    while True:
        child = subprocess.Popen(
            worker_command(replace(spec, max_trials=recycle, timeout=_left(spec.timeout, started))),
            env=worker_env(storage),
        )
        try:
            code = child.wait()
        except KeyboardInterrupt:  # the child got the Ctrl-C too: it records its trial as
            return child.wait()  # failed and says so
        if not needs_restart(code):
            return code
        if code < 0:
            print(f"sweep: worker {spec.index} was killed by signal {-code}; restarting it", file=sys.stderr)


def run_worker_processes(
    study: optuna.Study,
    space: SearchSpace,
    data: DataConfig,
    settings: SweepConfig,
    display: Display,
    limit: TimeLimit | None,
    timeout: float | None,
) -> bool:
    """Run WORKERS worker processes on the study and watch it; True on Ctrl-C.

    Each worker uses cores / WORKERS threads, writes its log to results/<dataset>/workers/,
    and is replaced by a fresh process every RECYCLE trials, so memory cannot accumulate.
    """
    url = storage_url(data, settings)
    logs = ensure_writable(data.folder / "workers")
    threads = max(1, usable_cpus() // settings.workers)
    started = time.monotonic()

    def spawn(index: int) -> subprocess.Popen[bytes]:
        command = worker_command(
            WorkerSpec(
                study.study_name,
                index,
                trials=settings.trials,
                timeout=_left(timeout, started),
                max_trials=settings.recycle,
                results=data.results,
                data_dir=data.data_dir,
                ends_at=limit.ends_at if limit else None,
            )
        )
        # Readable by the user only: a worker's log is its terminal.
        handle = os.open(logs / f"worker-{index}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(handle, "ab") as log:
            return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=worker_env(url, index, threads))

    each = "a GPU" if find_gpus() else f"{threads} thread(s)"
    display.log(f"Starting {settings.workers} worker processes with {each} each; logs in {logs}/")
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
                advance(task, study, deadline)
        except KeyboardInterrupt:
            stop(workers.values())
            return True
        except BaseException:  # the driver cannot go on (a full disk, say): its workers stop too
            stop(workers.values())
            raise
    if len(failed) == settings.workers:
        raise SearchFailed(f"all {settings.workers} worker processes failed; see their logs in {logs}/")
    return False
