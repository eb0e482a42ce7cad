"""The trial loop's bookkeeping with a heartbeat storage, without training anything."""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from sweep import pool, worker
from sweep.internals import trial_id


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_trial_has_its_first_heartbeat_before_the_lock_is_released(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker killed between creating its trial and its first heartbeat would leave a trial
    # that Optuna never fails (it skips running trials without a heartbeat), and every later
    # sweep would wait for it. Count each running trial's heartbeats as the lock is released.
    db = tmp_path / "study.db"
    storage = optuna.storages.RDBStorage(f"sqlite:///{db}", heartbeat_interval=60)
    study = optuna.create_study(storage=storage, direction="maximize")
    beats: list[int] = []
    locked = worker.study_lock

    @contextmanager
    def counting_lock(study: optuna.Study) -> Iterator[None]:
        with locked(study):
            yield
            running = [trial_id(t) for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING]
            with sqlite3.connect(db) as connection:
                beats.extend(
                    connection.execute(
                        "SELECT COUNT(*) FROM trial_heartbeats WHERE trial_id = ?", (trial_id,)
                    ).fetchone()[0]
                    for trial_id in running
                )

    monkeypatch.setattr(worker, "study_lock", counting_lock)
    assert worker.run_trials(study, lambda trial: 1.0, trials=2, log=lambda _: None) == "done"
    assert beats == [1, 1]


def test_failures_in_a_row_stop_a_worker_even_when_it_is_replaced_every_trial() -> None:
    study = optuna.create_study(direction="maximize")

    def failing(trial: optuna.Trial) -> float:
        raise ValueError("Keras rejects this architecture")

    # A fresh worker for every trial, as with --recycle 1: each one has run a single trial.
    reasons = [
        worker.run_trials(study, failing, trials=20, max_trials=1, log=lambda _: None)
        for _ in range(worker.MAX_FAILURES_IN_A_ROW)
    ]
    assert reasons == ["recycle"] * (worker.MAX_FAILURES_IN_A_ROW - 1) + ["failing"]
    assert study.trials[0].user_attrs["error"] == "ValueError: Keras rejects this architecture"
    study.optimize(lambda trial: 1.0, n_trials=1)  # one success ends the run of failures
    assert worker.failed_in_a_row(study) == 0
    assert worker.run_trials(study, failing, trials=20, max_trials=1, log=lambda _: None) == "recycle"


def test_a_second_ctrl_c_does_not_cut_short_recording_the_first(monkeypatch: pytest.MonkeyPatch) -> None:
    study = optuna.create_study(direction="maximize")
    tell = study.tell

    def interrupted(trial: optuna.Trial) -> float:
        raise KeyboardInterrupt  # the terminal's Ctrl-C, during training

    def tell_with_the_drivers_ctrl_c(*args, **kwargs):  # noqa: ANN002, ANN003
        os.kill(os.getpid(), signal.SIGINT)  # forwarded by the driver while the trial is told
        return tell(*args, **kwargs)

    monkeypatch.setattr(study, "tell", tell_with_the_drivers_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        worker.run_trials(study, interrupted, trials=1, log=lambda _: None)
    assert [t.state for t in study.trials] == [TrialState.FAIL]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


@pytest.mark.parametrize(
    "code, restart",
    [
        (pool.EXIT_RECYCLE, True),  # left after --recycle trials
        (-signal.SIGKILL, True),  # the OOM killer, kill -9
        (-signal.SIGTERM, True),
        (-signal.SIGINT, False),  # the user's Ctrl-C: it stays stopped
        (0, False),  # its share of the trials is done
        (2, False),  # bad input: a fresh process would fail the same way
        (130, False),  # Ctrl-C, handled
    ],
)
def test_which_worker_exits_get_a_fresh_process(code: int, restart: bool) -> None:
    assert pool.needs_restart(code) is restart


def test_a_worker_stops_when_nothing_the_sampler_proposes_fits_the_time_left() -> None:
    study = optuna.create_study(direction="maximize")
    ran: list[int] = []

    def unfit(trial: optuna.Trial) -> float:  # as Objective does, before training
        ran.append(trial.number)
        trial.set_user_attr("stopped", "time_limit")
        raise optuna.TrialPruned("it would need at least 10 min")

    assert worker.run_trials(study, unfit, trials=None, max_trials=2, log=lambda line: None) == "nothing fits"
    # Five in a row, and they did not count towards recycling the process (after 2 trials).
    assert ran == [0, 1, 2, 3, 4] and worker.MAX_UNFIT_IN_A_ROW == 5
