"""Tests for sweep.search.worker: the trial loop's bookkeeping, and a killed worker's trial recovered."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from sweep.search import worker
from sweep.search.internals import trial_id
from tests.conftest import sweep_process
from tests.fixtures import check_study, space_file


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

    def failing(trial: optuna.Trial) -> float:  # differently each time: three alike stop sooner
        raise ValueError(f"Keras rejects architecture {trial.number}")

    # A fresh worker for every trial, as with --recycle 1: each one has run a single trial.
    reasons = [
        worker.run_trials(study, failing, trials=20, max_trials=1, log=lambda _: None)
        for _ in range(worker.MAX_FAILURES_IN_A_ROW)
    ]
    assert reasons == ["recycle"] * (worker.MAX_FAILURES_IN_A_ROW - 1) + ["failing"]
    assert study.trials[0].user_attrs["error"] == "ValueError: Keras rejects architecture 0"
    study.optimize(lambda trial: 1.0, n_trials=1)  # one success ends the run of failures
    assert worker.failed_in_a_row(study) == []
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
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    try:
        with pytest.raises(KeyboardInterrupt):
            worker.run_trials(study, interrupted, trials=1, log=lambda _: None)
        assert [t.state for t in study.trials] == [TrialState.FAIL]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    finally:
        signal.signal(signal.SIGINT, handler)


def test_a_worker_started_with_ctrl_c_ignored_takes_it_back() -> None:
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a background job of a script
    try:
        worker.interruptible()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

        def own(signum: int, frame: object) -> None:
            """A handler of the caller's own."""

        signal.signal(signal.SIGINT, own)
        worker.interruptible()
        assert signal.getsignal(signal.SIGINT) is own  # left alone
    finally:
        signal.signal(signal.SIGINT, handler)


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


def too_large(trial: optuna.Trial) -> float:
    """As Objective does before training a model over MAX_PARAMS."""
    trial.set_user_attr("infeasible", "parameters 30,000 > 20,000")
    raise optuna.TrialPruned("over the deployment limits before training")


def test_proposals_over_the_limits_do_not_count_towards_trials(monkeypatch: pytest.MonkeyPatch) -> None:
    study = optuna.create_study(direction="maximize")

    def every_other_too_large(trial: optuna.Trial) -> float:
        if trial.number % 2 == 0:
            too_large(trial)
        trial.set_user_attr("epochs_run", 1)
        return 0.5

    assert worker.run_trials(study, every_other_too_large, trials=3, log=lambda line: None) == "done"
    assert len(study.trials) == 6 and worker.counts(study) == (3, 0)

    # A sampler that proposes nothing within the limits stops the worker instead of looping.
    monkeypatch.setattr(worker, "MAX_OVER_LIMITS_IN_A_ROW", 4)
    lines: list[str] = []
    hopeless = optuna.create_study(direction="maximize")
    assert worker.run_trials(hopeless, too_large, trials=3, log=lines.append) == "nothing fits"
    assert len(hopeless.trials) == 4 and "broke the deployment limits" in lines[-1]


def slow_space(folder: Path) -> str:
    """FAST_SPACE with enough epochs that a trial spends seconds mid-training, long enough to hit."""
    path = Path(space_file(folder))
    text = path.read_text()
    assert "low: 2, high: 4" in text, "FAST_SPACE's epochs changed: update slow_space"
    path.write_text(text.replace("low: 2, high: 4", "low: 15, high: 20"))
    return str(path)


@pytest.mark.slow
def test_a_killed_worker_is_recovered_and_the_study_completes(tmp_path: Path) -> None:
    results, trials = tmp_path / "results", 6
    board_path = results / "digits" / "leaderboard.csv"
    db = f"sqlite:///{results / 'digits' / 'study.db'}"
    # One worker, in the process we kill: a worker killed in the middle of its trial.
    args = [
        "sweep",
        "--dataset",
        "digits",
        "--space",
        slow_space(tmp_path),
        "--trials",
        str(trials),
        "--no-retrain",
        "--results",
        str(results),
        "--workers",
        "1",
    ]
    fast_heartbeat = {"SWEEP_HEARTBEAT_SECONDS": "1"}
    victim = sweep_process(*args, env=fast_heartbeat)
    delays = random.Random(7)  # how far into a running trial the kill lands

    def read_board() -> pd.DataFrame | None:
        if not board_path.exists():
            return None
        board = pd.read_csv(board_path)  # must parse at every moment: written atomically
        assert {"rank", "trial", "state"} <= set(board.columns)
        return board

    def training() -> int | None:
        """The trial running mid-training (an epoch reported), if any."""
        # The narrow window between creating a trial and its first heartbeat is covered,
        # deterministically, by the first test in this file.
        study = optuna.load_study(study_name="digits", storage=db)
        running = [t.number for t in study.trials if t.state == TrialState.RUNNING and t.intermediate_values]
        return running[0] if running else None

    # Once a trial has completed, kill the worker a random moment into the next trial that is
    # mid-training; when that trial ends first (fast machines), aim at the one after it.
    deadline, target, kill_at = time.monotonic() + 300, None, 0.0
    while time.monotonic() < deadline and victim.poll() is None:
        board = read_board()
        if board is not None and (board["state"] == "complete").sum() >= 1:
            number = training()
            if number is not None and number != target:
                target, kill_at = number, time.monotonic() + delays.uniform(0.0, 1.0)
            elif number is not None and time.monotonic() >= kill_at:
                victim.send_signal(signal.SIGKILL)
                break
        time.sleep(0.1)
    victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL, "the sweep ended before it could be killed"
    read_board()

    before = optuna.load_study(study_name="digits", storage=db)
    done_before = {t.number: (t.state, t.values, t.params) for t in before.trials if t.state.is_finished()}
    orphan = next(t for t in before.trials if t.state == TrialState.RUNNING)

    time.sleep(3.5)  # past the grace period of three missed heartbeats
    resumed = sweep_process(*args, env=fast_heartbeat)
    output, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, output

    after = optuna.load_study(study_name="digits", storage=db)
    for number, record in done_before.items():
        trial = after.trials[number]
        assert (trial.state, trial.values, trial.params) == record  # kept, unchanged
    assert after.trials[orphan.number].state == TrialState.FAIL
    retries = [t for t in after.trials if t.system_attrs.get("failed_trial") == orphan.number]
    assert retries and retries[0].params == orphan.params  # its parameters ran again
    check_study(after, trials, board_path)


def test_models_over_a_limit_before_training_do_not_count_towards_recycling() -> None:
    study = optuna.create_study(direction="maximize")

    def objective(trial: optuna.Trial) -> float:
        if trial.number < 3:  # as Objective.check_limits does, before building anything
            trial.set_user_attr("infeasible", "parameters 3e+04 > 2e+04")
            raise optuna.TrialPruned("over the deployment limits before training")
        return 0.9

    assert worker.run_trials(study, objective, trials=None, max_trials=2, log=lambda _: None) == "recycle"
    assert len(study.trials) == 5  # three untrained ones, then the two it may run


def test_a_worker_with_nothing_that_fits_asks_for_the_fewest_epochs_before_it_stops() -> None:
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    asked: list[int] = []
    lines: list[str] = []

    def fits_only_short_runs(trial: optuna.Trial) -> float:  # as Objective does, before training
        epochs = trial.suggest_int("epochs", 5, 30)
        asked.append(epochs)
        if epochs > 5:
            trial.set_user_attr("stopped", "time_limit")
            raise optuna.TrialPruned("it would need at least 10 min")
        return 0.9

    # The random sampler never proposes 5 among the first two here; the third is the cheaper job.
    assert worker.run_trials(study, fits_only_short_runs, trials=3, log=lines.append) == "done"
    assert asked[worker.CHEAPER_AFTER] == 5 and study.trials[worker.CHEAPER_AFTER].user_attrs["cheaper"]
    assert any("trying fewer epochs" in line for line in lines)


def test_when_not_even_the_fewest_epochs_fit_the_worker_asks_for_a_share_of_the_images() -> None:
    from sweep.choice.trials import FEWEST_EPOCHS, SHARE_OF_IMAGES, origin

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    lines: list[str] = []

    def fits_only_on_a_share(trial: optuna.Trial) -> float:  # as Objective.check_it_fits does
        trial.suggest_int("epochs", 5, 30)
        if trial.user_attrs.get("cheaper") != SHARE_OF_IMAGES:
            trial.set_user_attr("stopped", "time_limit")
            raise optuna.TrialPruned("it would need at least 10 min")
        return 0.9

    assert worker.run_trials(study, fits_only_on_a_share, trials=4, log=lines.append) == "done"
    jobs = [t.user_attrs.get("cheaper") for t in study.trials]
    # Two sampled proposals, then the fewest epochs, then those on a share of the images.
    assert jobs == [None, None, FEWEST_EPOCHS, SHARE_OF_IMAGES]
    assert study.trials[-1].params["epochs"] == 5 and study.trials[-1].state == TrialState.COMPLETE
    assert origin(study.trials[-1]) == "sampler, fewest epochs on a share of the images"
    assert any("trying the fewest epochs on a share of the images" in line for line in lines)


def test_a_worker_leaves_when_not_even_a_share_of_the_images_fits() -> None:
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))

    def nothing_fits(trial: optuna.Trial) -> float:
        trial.suggest_int("epochs", 5, 30)
        trial.set_user_attr("stopped", "time_limit")
        raise optuna.TrialPruned("it would need at least 10 min")

    assert worker.run_trials(study, nothing_fits, trials=None, log=lambda _: None) == "nothing fits"
    assert len(study.trials) == worker.MAX_UNFIT_IN_A_ROW
    assert sum(bool(t.user_attrs.get("cheaper")) for t in study.trials) == 2  # each job asked once


def test_a_recipe_too_slow_for_the_answers_share_does_not_count_as_no_time_left() -> None:
    study = optuna.create_study(direction="maximize")
    ran: list[int] = []

    def too_slow(trial: optuna.Trial) -> float:  # Objective.check_it_fits, cap == 0
        ran.append(trial.number)
        trial.set_user_attr("stopped", "answer_share")
        raise optuna.TrialPruned("one epoch of its retrain would need more than 35 %")

    assert worker.run_trials(study, too_slow, trials=8, log=lambda line: None) == "done"
    assert len(ran) == 8  # other proposals may fit: the worker goes on
