"""Tests for sweep.search.pool: worker processes on one machine and across machines, and which exits get a new one."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import optuna
import pytest

from sweep.interface.cli import main
from sweep.search import pool
from tests.conftest import sweep_process
from tests.fixtures import check_study, space_file


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


@pytest.mark.slow
def test_two_worker_processes_fill_one_study_exactly(tmp_path: Path) -> None:
    results = tmp_path / "results"
    assert (
        main(
            [
                "sweep",
                "--dataset",
                "digits",
                "--space",
                space_file(tmp_path),
                "--trials",
                "5",
                "--workers",
                "2",
                "--recycle",
                "2",
                "--no-retrain",
                "--results",
                str(results),
            ]
        )
        == 0
    )
    study = optuna.load_study(study_name="digits", storage=f"sqlite:///{results / 'digits' / 'study.db'}")
    check_study(study, 5, results / "digits" / "leaderboard.csv")
    logs = [p.read_text() for p in sorted((results / "digits" / "workers").glob("worker-*.log"))]
    assert len(logs) == 2 and all("[worker" in log for log in logs)  # both did work
    assert sum(log.count("stopping: recycle") for log in logs) >= 1  # processes were replaced


@pytest.mark.slow
def test_a_worker_started_by_hand_replaces_its_process_every_recycle_trials(tmp_path: Path) -> None:
    results = tmp_path / "results"
    assert (
        main(
            [
                "sweep",
                "--dataset",
                "digits",
                "--space",
                space_file(tmp_path),
                "--trials",
                "1",
                "--workers",
                "1",
                "--no-retrain",
                "--results",
                str(results),
            ]
        )
        == 0
    )
    storage = f"sqlite:///{results / 'digits' / 'study.db'}"
    worker = sweep_process("worker", "--storage", storage, "--study", "digits", "--trials", "3", "--recycle", "1")
    out, _ = worker.communicate(timeout=600)
    assert worker.returncode == 0, out
    # Two trials, each in its own child process: the first child leaves to be replaced.
    assert out.count("[worker 0] trial") == 2, out
    assert out.count("[worker 0] stopping: recycle") == 1, out
    assert out.count("[worker 0] stopping: done") == 1, out
    study = optuna.load_study(study_name="digits", storage=storage)
    check_study(study, 3, results / "digits" / "leaderboard.csv")


@pytest.mark.slow
def test_a_worker_on_another_machine_joins_a_postgres_study(postgres: str, tmp_path: Path) -> None:
    # "Machine A" creates the study and runs trials; "machine B" joins with the URL and name
    # only, and keeps its results in its own folder.
    a, b = tmp_path / "a", tmp_path / "b"
    starter = sweep_process(
        "sweep",
        "--dataset",
        "digits",
        "--space",
        space_file(tmp_path),
        "--trials",
        "6",
        "--storage",
        postgres,
        "--study",
        "shared",
        "--no-retrain",
        "--results",
        str(a),
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the worker needs the study to exist first
        try:
            if optuna.load_study(study_name="shared", storage=postgres).user_attrs:
                break
        except KeyError:
            pass
        time.sleep(0.5)
    # --recycle 1: the joiner trains each trial in a fresh child process, as a long-running
    # worker on another machine would every 5 trials to keep its memory flat.
    joiner = sweep_process("worker", "--storage", postgres, "--study", "shared", "--results", str(b), "--recycle", "1")
    out_a, _ = starter.communicate(timeout=600)
    out_b, _ = joiner.communicate(timeout=600)
    assert starter.returncode == 0, out_a
    assert joiner.returncode == 0, out_b
    assert "[worker 0] trial" in out_b  # the joiner trained too
    study = optuna.load_study(study_name="shared", storage=postgres)
    check_study(study, 6, a / "digits" / "leaderboard.csv")
    # Any machine can read the leaderboard from the storage.
    assert (
        main(
            [
                "leaderboard",
                "--dataset",
                "digits",
                "--storage",
                postgres,
                "--study",
                "shared",
                "--results",
                str(tmp_path / "c"),
            ]
        )
        == 0
    )
    check_study(study, 6, tmp_path / "c" / "digits" / "leaderboard.csv")


@pytest.mark.slow
def test_the_storage_url_stays_off_worker_command_lines_and_their_logs_are_private(tmp_path: Path) -> None:
    from sweep.search.pool import WorkerSpec, worker_command, worker_env
    from sweep.settings import STORAGE_VARIABLE

    url = "postgresql://me:s3cret@db/sweep"
    command = worker_command(WorkerSpec("study", 0, max_trials=5))
    assert not any("s3cret" in part for part in command)
    assert worker_env(url)[STORAGE_VARIABLE] == url
    assert (
        main(
            [
                "sweep",
                "--dataset",
                "digits",
                "--results",
                str(tmp_path),
                "--space",
                space_file(tmp_path),
                "--trials",
                "2",
                "--workers",
                "2",
                "--no-retrain",
            ]
        )
        == 0
    )
    for log in (tmp_path / "digits" / "workers").glob("*.log"):
        assert log.stat().st_mode & 0o077 == 0, log  # the user's only


@pytest.mark.slow
def test_a_sweep_whose_workers_all_fail_exits_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sweep.search.pool

    monkeypatch.setattr(
        sweep.search.pool, "worker_command", lambda *args, **kwargs: [sys.executable, "-c", "raise SystemExit(3)"]
    )
    assert (
        main(
            [
                "sweep",
                "--dataset",
                "digits",
                "--results",
                str(tmp_path),
                "--space",
                space_file(tmp_path),
                "--trials",
                "2",
                "--workers",
                "2",
            ]
        )
        == 1
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"sweep: all 2 worker processes failed; see their logs in {tmp_path / 'digits' / 'workers'}/"]


def test_stopping_workers_interrupts_the_running_ones_and_waits() -> None:
    import signal
    import subprocess
    import sys

    from sweep.search.pool import stop

    # Started with SIGINT ignored, as under nohup or as a script's background job: the worker
    # takes SIGINT back at its start (run_worker), or stop() would wait out its whole run.
    worker = "from sweep.search.worker import interruptible; interruptible(); print('up', flush=True)"
    running = subprocess.Popen(
        [sys.executable, "-c", f"{worker}; import time; time.sleep(60)"],
        stdout=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # noqa: PLW1509 (no threads here)
    )
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    assert running.stdout is not None and running.stdout.readline() == b"up\n"
    stop([running, done])
    assert running.returncode is not None and running.returncode != 0  # interrupted, not left behind
