"""The trial loop's bookkeeping with a heartbeat storage, without training anything."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from sweep import worker


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_trial_has_its_first_heartbeat_before_the_lock_is_released(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
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
            running = [t._trial_id for t in study.get_trials(deepcopy=False)
                       if t.state == TrialState.RUNNING]
            with sqlite3.connect(db) as connection:
                beats.extend(connection.execute(
                    "SELECT COUNT(*) FROM trial_heartbeats WHERE trial_id = ?", (trial_id,)
                ).fetchone()[0] for trial_id in running)

    monkeypatch.setattr(worker, "study_lock", counting_lock)
    assert worker.run_trials(study, lambda trial: 1.0, trials=2, log=lambda _: None) == "done"
    assert beats == [1, 1]
