"""The trial loop: any number of processes, on any number of machines, can run it on one study.

Each pass takes the study's lock, fails trials whose worker died (Optuna's heartbeat; their
parameters are re-enqueued by ``RetryHeartbeatStaleTrialCallback``), counts, and asks Optuna
for a new trial until the deadline, and, where TRIALS caps the search, only while
``finished + running < TRIALS``. Counting and creating under one lock is what keeps TRIALS
exact with several workers; the lock is the storage's own (a file lock beside a SQLite file, an
advisory lock in PostgreSQL), not a coordinator process.
"""

from __future__ import annotations

import fcntl
import signal
import threading
import time
import warnings
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweep.choice.trials import (
    FEWEST_EPOCHS,
    SHARE_OF_IMAGES,
    counts_towards_trials,
    did_not_fit,
    error_of,
    marks,
    no_time_left,
    over_limits,
    record,
    write,
)
from sweep.search.internals import engine_of, heartbeat_storage, trial_id

# A space where every trial fails (say, an architecture Keras rejects) should stop the
# sweep, not loop forever. Counted in the study, not per process: a worker replaced every few
# trials (--recycle) would otherwise start from zero each time and never stop.
MAX_FAILURES_IN_A_ROW = 5
# Fewer when they fail with the same error (a model function that raises, whatever its
# parameters): the next one would fail the same way too.
SAME_FAILURES_IN_A_ROW = 3
# After this many proposals in a row that could not end before the search's deadline (each
# pruned at once, before training), the worker asks for cheaper versions of a recipe: the
# space's fewest epochs, the rest sampled, then those on the share of the training images that
# fits the time left (see cheaper_job()). It stops only after MAX_UNFIT_IN_A_ROW: then not
# even those fit, and the time left holds no trial at all.
CHEAPER_AFTER = 2
MAX_UNFIT_IN_A_ROW = 5
# Proposals over a deployment limit cost nothing and do not count towards TRIALS, but a sampler
# that proposes nothing else must not loop for ever (TPE learns the limits within a few dozen).
MAX_OVER_LIMITS_IN_A_ROW = 200


@contextmanager
def study_lock(study: optuna.Study) -> Iterator[None]:
    """Hold the study's lock: exclusive across processes (and machines, for PostgreSQL)."""
    engine = engine_of(study)
    dialect = engine.dialect.name if engine is not None else ""
    if engine is None:  # in-memory and other storages: one process, nothing to exclude
        yield
    elif dialect == "sqlite":
        path = Path(engine.url.database or "study.db").with_suffix(".lock")
        with open(path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    elif dialect == "postgresql":
        import sqlalchemy

        key = zlib.crc32(f"sweep:{study.study_name}".encode())
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    else:
        yield


def start_heartbeat(study: optuna.Study, trial: optuna.Trial) -> Callable[[], None]:
    """Record the trial's heartbeat now, then from a thread until the returned function is
    called, so a killed worker's trial is detected.

    The first beat is written by the caller, before it releases the study lock: Optuna never
    fails a running trial that has no heartbeat, so a worker killed before its first beat left
    a trial running forever and every later sweep waiting for it.
    """
    storage = heartbeat_storage(study)
    interval = storage.get_heartbeat_interval() if storage is not None else None
    if storage is None or not interval:  # in memory: no other process to notice a death
        return lambda: None
    storage.record_heartbeat(trial_id(trial))
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            storage.record_heartbeat(trial_id(trial))

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial.number}", daemon=True)
    thread.start()

    def stop_beating() -> None:
        stop.set()
        thread.join()

    return stop_beating


def counts(study: optuna.Study) -> tuple[int, int]:
    """(finished, running) trials; finished: the ones TRIALS counts."""
    trials = study.get_trials(deepcopy=False)
    return sum(map(counts_towards_trials, trials)), sum(t.state == TrialState.RUNNING for t in trials)


def interruptible() -> None:
    """Let SIGINT interrupt this worker process where it was started with SIGINT ignored: a
    driver run as a script's background job or under nohup passes that on to its workers, and
    the driver stops them with SIGINT (:func:`sweep.search.pool.stop`), which would then wait
    for a worker's whole run. A handler of the caller's own is left alone."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@contextmanager
def ctrl_c_ignored() -> Iterator[None]:
    """Ignore SIGINT meanwhile (main thread only). A Ctrl-C reaches a worker process twice, from
    the terminal and forwarded by the driver; the second must not cut short the write that
    records the first, or the trial stays running until its heartbeat goes stale."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def failed_in_a_row(study: optuna.Study) -> list[str]:
    """The errors of the study's last-ended trials that failed, back to the last one that did not."""
    ended = sorted(
        (t for t in study.get_trials(deepcopy=False) if t.datetime_complete),
        key=lambda t: t.datetime_complete or datetime.min,
    )
    errors: list[str] = []
    for trial in reversed(ended):
        if trial.state != TrialState.FAIL:
            break
        errors.append(error_of(trial))
    return errors


def failing(errors: list[str]) -> str | None:
    """Why to stop after these failures in a row (:func:`failed_in_a_row`), or None to go on."""
    if len(errors) >= SAME_FAILURES_IN_A_ROW and len(set(errors)) == 1 and errors[0]:
        return f"{len(errors)} trials in a row failed the same way ({errors[0]}); stopping: fix that, then run again."
    if len(errors) >= MAX_FAILURES_IN_A_ROW:
        return f"{len(errors)} trials failed in a row; stopping. See the error column."
    return None


def cheaper_job(study: optuna.Study, unfit: FrozenTrial) -> str | None:
    """Enqueue a cheaper version of what the sampler proposes after ``unfit`` did not fit the
    time left, and say which: the fewest epochs the space allows (every other parameter
    sampled; FEWEST_EPOCHS), or, where ``unfit`` had that few, those epochs on the share of the
    training images that fits (SHARE_OF_IMAGES, :meth:`sweep.search.objective.Objective.check_it_fits`).
    None where ``unfit`` was that job already."""
    epochs = unfit.distributions.get("epochs")
    low = getattr(epochs, "low", None)
    fewest = {} if low is None else {"epochs": low}
    if low is not None and unfit.params.get("epochs", low) > low:
        study.enqueue_trial(fewest, user_attrs=marks(cheaper=FEWEST_EPOCHS))
        return FEWEST_EPOCHS
    if record(unfit).get("cheaper") == SHARE_OF_IMAGES:
        return None
    study.enqueue_trial(fewest, user_attrs=marks(cheaper=SHARE_OF_IMAGES))
    return SHARE_OF_IMAGES


def run_one(study: optuna.Study, trial: optuna.Trial, objective: Callable[[optuna.Trial], float]) -> FrozenTrial:
    """Run the objective on an asked trial and tell Optuna how it ended."""
    try:
        value = objective(trial)
    except optuna.TrialPruned:
        return study.tell(trial, state=TrialState.PRUNED)
    except KeyboardInterrupt:
        with ctrl_c_ignored():
            write(trial, "error", "interrupted (Ctrl-C)")
            study.tell(trial, state=TrialState.FAIL)
        raise
    except Exception as error:  # the leaderboard's error column, wherever the trial failed
        write(trial, "error", f"{type(error).__name__}: {error}"[:500])
        return study.tell(trial, state=TrialState.FAIL)
    return study.tell(trial, value)


def run_trials(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    *,
    trials: int | None,
    deadline: Callable[[], float | None] | None = None,
    max_trials: int | None = None,
    on_trial: Callable[[optuna.Study, FrozenTrial], None] | None = None,
    between: Callable[[], None] | None = None,
    log: Callable[[str], None] = print,
    poll: float = 2.0,
) -> str:
    """Run trials until the study holds ``trials`` finished ones (None: no cap), or the
    deadline; returns why it stopped.

    ``deadline()``: no new trial after this :func:`time.monotonic` value (None: none; asked
    before each trial, see :class:`sweep.search.budget.TimeLimit`). ``max_trials``: leave after this many
    (a recycled worker process, so memory never accumulates). While the count is reached only
    with trials still running elsewhere, wait: one of them may yet fail and need a re-run.
    ``between()``: after each trial, a job besides trials (:mod:`sweep.search.jobs`).
    """
    ran = unfit = oversized = 0
    while True:
        with study_lock(study), warnings.catch_warnings():
            # Heartbeats are "experimental" (since Optuna 2.9) and Optuna assumes optimize();
            # this loop records them itself (see start_heartbeat()).
            warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
            warnings.filterwarnings("ignore", message="Heartbeat of storage")
            optuna.storages.fail_stale_trials(study)
            finished, running = counts(study)
            if trials is not None and finished >= trials:
                return "done"
            ends = deadline() if deadline is not None else None
            if ends is not None and time.monotonic() > ends:
                return "deadline"
            if max_trials is not None and ran >= max_trials:
                return "recycle"
            sampler = study.sampler
            if isinstance(sampler, optuna.samplers.GridSampler) and sampler.is_exhausted(study):
                return "grid exhausted"
            trial = study.ask() if trials is None or finished + running < trials else None
            if trial is not None:
                stop_beating = start_heartbeat(study, trial)  # its first beat: under the lock
        if trial is None:
            time.sleep(poll)
            continue
        try:
            frozen = run_one(study, trial, objective)
        finally:
            stop_beating()
        if on_trial is not None:
            on_trial(study, frozen)
        if between is not None:
            between()
        # A trial stopped before its first epoch because it could not end before the deadline
        # cost nothing; the process need not be recycled for it. Several in a row: the sampler
        # proposes nothing the time left can hold. Nor for a model over a deployment limit
        # before training (TPE's first, random proposals under a tight MAX_PARAMS, say).
        unfit = unfit + 1 if no_time_left(frozen) else 0
        oversized = oversized + 1 if over_limits(frozen) else 0
        ran += not did_not_fit(frozen) and not over_limits(frozen)
        cheaper = cheaper_job(study, frozen) if CHEAPER_AFTER <= unfit < MAX_UNFIT_IN_A_ROW else None
        if cheaper is not None:
            fewer = "fewer epochs" if cheaper == FEWEST_EPOCHS else "the fewest epochs on a share of the images"
            log(f"{unfit} trials in a row would not have ended before the search does; trying {fewer}.")
        if unfit >= MAX_UNFIT_IN_A_ROW:
            log(f"{unfit} trials in a row would not have ended before the search does; stopping.")
            return "nothing fits"
        if oversized >= MAX_OVER_LIMITS_IN_A_ROW:
            log(
                f"the sampler's last {oversized} proposals all broke the deployment limits; stopping: "
                "raise the limits or search smaller models"
            )
            return "nothing fits"
        if frozen.state == TrialState.FAIL:
            why = failing(failed_in_a_row(study))
            if why is not None:
                log(why)
                return "failing"
