"""The trial loop's bookkeeping with a heartbeat storage, without training anything."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
import pytest

from sweep import worker


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_trial_has_its_first_heartbeat_before_the_lock_is_released(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A worker killed between creating its trial and its heartbeat thread's first beat would
    # leave a trial that Optuna never fails (it skips running trials without a heartbeat),
    # and every later sweep would wait for it. Here the thread never beats at all.
    @contextmanager
    def no_thread(study: optuna.Study, trial: optuna.Trial) -> Iterator[None]:
        yield

    monkeypatch.setattr(worker, "heartbeat", no_thread)
    db = tmp_path / "study.db"
    storage = optuna.storages.RDBStorage(f"sqlite:///{db}", heartbeat_interval=60)
    study = optuna.create_study(storage=storage, direction="maximize")
    beats: list[int] = []

    def objective(trial: optuna.Trial) -> float:
        with sqlite3.connect(db) as connection:
            beats.append(connection.execute(
                "SELECT COUNT(*) FROM trial_heartbeats WHERE trial_id = ?", (trial._trial_id,)
            ).fetchone()[0])
        return 1.0

    assert worker.run_trials(study, objective, trials=2, log=lambda _: None) == "done"
    assert beats == [1, 1]
