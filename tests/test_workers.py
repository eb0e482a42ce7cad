"""Several workers on one study: processes on one machine, PostgreSQL across machines, and
recovery from a worker killed in the middle of a trial. Slow: they train tiny digits models.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from sweep.cli import main
from tests.conftest import REPO
from tests.test_end_to_end import FAST_SPACE

pytestmark = pytest.mark.slow
FINISHED = ("complete", "pruned")


def _space(folder: Path) -> str:
    path = folder / "space.yaml"
    path.write_text(FAST_SPACE)
    return str(path)


def _sweep_process(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sweep", *args],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )


def _check_study(study: optuna.Study, trials: int, leaderboard: Path) -> None:
    """TRIALS finished trials, numbers unique and gapless, and the CSV says what storage says."""
    numbers = [t.number for t in study.trials]
    assert numbers == list(range(len(numbers)))
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == trials
    board = pd.read_csv(leaderboard)
    assert sorted(board["trial"]) == numbers
    stored = {t.number: t.state.name.lower() for t in study.trials}
    assert dict(zip(board["trial"], board["state"])) == stored


def test_two_worker_processes_fill_one_study_exactly(tmp_path: Path) -> None:
    results = tmp_path / "results"
    assert (
        main(
            [
                "sweep",
                "--dataset",
                "digits",
                "--space",
                _space(tmp_path),
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
    _check_study(study, 5, results / "digits" / "leaderboard.csv")
    logs = [p.read_text() for p in sorted((results / "digits" / "workers").glob("worker-*.log"))]
    assert len(logs) == 2 and all("[worker" in log for log in logs)  # both did work
    assert sum(log.count("stopping: recycle") for log in logs) >= 1  # processes were replaced


# --- PostgreSQL ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on loopback; yields its URL. Skips without PostgreSQL."""
    bindir = next(
        (p for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True) if (p / "initdb").exists()), None
    )
    initdb = shutil.which("initdb") or (bindir and str(bindir / "initdb"))
    if not initdb:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    pg_ctl = str(Path(initdb).with_name("pg_ctl"))
    # PostgreSQL refuses to run as root, so the cluster runs as 'postgres', which must be able
    # to reach its folder: pytest's own temporary root is private to us.
    folder = Path(tempfile.mkdtemp(prefix="sweep-postgres-"))
    os.chmod(folder, 0o777)
    as_user: list[str] = []
    if os.geteuid() == 0:
        if not shutil.which("runuser"):
            pytest.skip("running as root without runuser to start PostgreSQL as 'postgres'")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()
    subprocess.run(
        [*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "postgres"], check=True, capture_output=True
    )
    subprocess.run(
        [
            *as_user,
            pg_ctl,
            "-D",
            str(data),
            "-l",
            str(folder / "log"),
            "-w",
            "start",
            "-o",
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    try:
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        yield url
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_worker_started_by_hand_replaces_its_process_every_recycle_trials(tmp_path: Path) -> None:
    results = tmp_path / "results"
    assert (
        main(
            [
                "sweep",
                "--dataset",
                "digits",
                "--space",
                _space(tmp_path),
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
    worker = _sweep_process("worker", "--storage", storage, "--study", "digits", "--trials", "3", "--recycle", "1")
    out, _ = worker.communicate(timeout=600)
    assert worker.returncode == 0, out
    # Two trials, each in its own child process: the first child leaves to be replaced.
    assert out.count("[worker 0] trial") == 2, out
    assert out.count("[worker 0] stopping: recycle") == 1, out
    assert out.count("[worker 0] stopping: done") == 1, out
    study = optuna.load_study(study_name="digits", storage=storage)
    _check_study(study, 3, results / "digits" / "leaderboard.csv")


def test_a_worker_on_another_machine_joins_a_postgres_study(postgres: str, tmp_path: Path) -> None:
    # "Machine A" creates the study and runs trials; "machine B" joins with the URL and name
    # only, and keeps its results in its own folder.
    a, b = tmp_path / "a", tmp_path / "b"
    starter = _sweep_process(
        "sweep",
        "--dataset",
        "digits",
        "--space",
        _space(tmp_path),
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
    joiner = _sweep_process("worker", "--storage", postgres, "--study", "shared", "--results", str(b), "--recycle", "1")
    out_a, _ = starter.communicate(timeout=600)
    out_b, _ = joiner.communicate(timeout=600)
    assert starter.returncode == 0, out_a
    assert joiner.returncode == 0, out_b
    assert "[worker 0] trial" in out_b  # the joiner trained too
    study = optuna.load_study(study_name="shared", storage=postgres)
    _check_study(study, 6, a / "digits" / "leaderboard.csv")
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
    _check_study(study, 6, tmp_path / "c" / "digits" / "leaderboard.csv")


@pytest.mark.parametrize(
    "url, expected",
    [
        ("postgresql://postgres@127.0.0.1:{port}/nosuchdb", "nosuchdb"),
        ("postgresql://nobody:wrong@127.0.0.1:{port}/postgres", "nobody"),
        ("postgresql://postgres@127.0.0.1:{closed}/postgres", "cannot"),
    ],
)
def test_storage_errors_are_one_line(postgres: str, url: str, expected: str, tmp_path: Path) -> None:
    port = postgres.rsplit(":", 1)[1].split("/")[0]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sweep",
            "sweep",
            "--dataset",
            "digits",
            "--results",
            str(tmp_path),
            "--storage",
            url.format(port=port, closed=_free_port()),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sweep: ") and expected in lines[0], result.stderr


# --- crash recovery -------------------------------------------------------------------------


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
        _space(tmp_path),
        "--trials",
        str(trials),
        "--no-retrain",
        "--results",
        str(results),
        "--workers",
        "1",
    ]
    fast_heartbeat = {"SWEEP_HEARTBEAT_SECONDS": "1"}
    victim = _sweep_process(*args, env=fast_heartbeat)
    kill_after = random.Random(7).uniform(0.5, 3.0)  # seconds into a running trial

    def read_board() -> pd.DataFrame | None:
        if not board_path.exists():
            return None
        board = pd.read_csv(board_path)  # must parse at every moment: written atomically
        assert {"rank", "trial", "state"} <= set(board.columns)
        return board

    deadline, killed_at = time.monotonic() + 300, None
    while time.monotonic() < deadline and victim.poll() is None:
        board = read_board()
        if board is not None and (board["state"] == "complete").sum() >= 2 and killed_at is None:
            killed_at = time.monotonic() + kill_after
        if killed_at is not None and time.monotonic() >= killed_at:
            study = optuna.load_study(study_name="digits", storage=db)
            # Mid-training (an epoch reported): the narrow window between creating a trial and
            # its first heartbeat is covered by test_worker_loop, deterministically.
            if any(t.state == TrialState.RUNNING and t.intermediate_values for t in study.trials):
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
    resumed = _sweep_process(*args, env=fast_heartbeat)
    output, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, output

    after = optuna.load_study(study_name="digits", storage=db)
    for number, record in done_before.items():
        trial = after.trials[number]
        assert (trial.state, trial.values, trial.params) == record  # kept, unchanged
    assert after.trials[orphan.number].state == TrialState.FAIL
    retries = [t for t in after.trials if t.system_attrs.get("failed_trial") == orphan.number]
    assert retries and retries[0].params == orphan.params  # its parameters ran again
    _check_study(after, trials, board_path)


def test_the_storage_url_stays_off_worker_command_lines_and_their_logs_are_private(tmp_path: Path) -> None:
    from sweep.config import STORAGE_VARIABLE
    from sweep.pool import worker_command, worker_env

    url = "postgresql://me:s3cret@db/sweep"
    command = worker_command("study", index=0, max_trials=5, trials=None, timeout=None, results=None, data_dir=None)
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
                _space(tmp_path),
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


def test_a_sweep_whose_workers_all_fail_exits_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sweep.pool

    monkeypatch.setattr(
        sweep.pool, "worker_command", lambda *args, **kwargs: [sys.executable, "-c", "raise SystemExit(3)"]
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
                _space(tmp_path),
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


def test_a_sweep_in_which_no_trial_completes_exits_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sweep.train

    def broken(*args: object) -> None:
        raise RuntimeError("simulated: every model fails")

    monkeypatch.setattr(sweep.train, "new_model", broken)
    assert (
        main(
            [
                "sweep",
                "--dataset",
                "digits",
                "--results",
                str(tmp_path),
                "--space",
                _space(tmp_path),
                "--trials",
                "2",
                "--workers",
                "1",
            ]
        )
        == 1
    )
    out, err = capsys.readouterr()
    assert "5 trials failed in a row; stopping" in out
    assert err.strip().splitlines() == [
        f"sweep: no trial completed, so there is nothing to retrain; see the error column of "
        f"{tmp_path / 'digits' / 'leaderboard.csv'}"
    ]
