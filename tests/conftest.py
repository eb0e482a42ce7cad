"""Shared test set-up: no test may read the real datasets or the user's Keras cache; sweep as a
subprocess; a throwaway PostgreSQL server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# The checks in tests/fixtures.py report what failed as the tests' own asserts do.
pytest.register_assert_rewrite("tests.fixtures")

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True)
def _isolated_data(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    monkeypatch.delenv("SWEEP_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path_factory.getbasetemp() / "keras-home"))


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m sweep ARGS`` in a subprocess (for exit codes and what reaches stderr)."""
    env = {k: v for k, v in os.environ.items() if k != "SWEEP_DATA_DIR"}
    return subprocess.run(
        [sys.executable, "-m", "sweep", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def sweep_process(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``python -m sweep ARGS`` started in the background, stdout and stderr together."""
    return subprocess.Popen(
        [sys.executable, "-m", "sweep", *args],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
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
    data, port = folder / "data", free_port()
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


@pytest.fixture(scope="session")
def finished_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished digits sweep with its retrain (3 trials, seed 1: the baseline, the space's
    first trial, one sampled trial), shared by every test that only reads what a sweep wrote
    (its ``results/`` folder is under the returned root). Once per test process."""
    from sweep.interface.cli import main
    from tests.fixtures import FAST_SPACE

    root = tmp_path_factory.mktemp("finished-sweep")
    space = root / "space.yaml"
    space.write_text(FAST_SPACE + "first_trials:\n  - {filters_1: 8, epochs: 2}\n")
    args = ["--dataset", "digits", "--results", str(root / "results"), "--space", str(space)]
    assert main(["sweep", *args, "--timeout", "600", "--trials", "3", "--seed", "1"]) == 0
    return root
