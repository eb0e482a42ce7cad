"""Tests for sweep.interface.cli and sweep.interface.arguments: bad arguments and errors as one
line, flags to settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sweep import __version__
from sweep.interface.arguments import program_name
from sweep.interface.cli import main
from sweep.settings import SweepConfig
from tests.conftest import REPO

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

# ---------------------------------------------------------------- bad arguments

BAD_ARGS = [
    ("trials-not-a-number", ["sweep", "--dataset", "mnist", "--trials", "abc"], "'abc' is not an integer"),
    ("trials-zero", ["sweep", "--dataset", "mnist", "--trials", "0"], "too small"),
    ("timeout-zero", ["sweep", "--dataset", "mnist", "--timeout", "0"], "must be > 0"),
    ("time-limit-negative", ["sweep", "--dataset", "mnist", "--time-limit", "-5"], "must be ≥ 0"),
    ("val-fraction-too-big", ["sweep", "--dataset", "mnist", "--val-fraction", "1.5"], "too large"),
    ("val-fraction-one", ["baseline", "--dataset", "mnist", "--val-fraction", "1"], "must be < 1"),
    ("seed-negative", ["baseline", "--dataset", "mnist", "--seed", "-1"], "too small"),
    ("unknown-sampler", ["sweep", "--dataset", "mnist", "--sampler", "foo"], "invalid choice: 'foo'"),
    ("unknown-pruner", ["sweep", "--dataset", "mnist", "--pruner", "bar"], "invalid choice: 'bar'"),
    ("image-size-too-small", ["baseline", "--dataset", "imgs", "--image-size", "2"], "between 4 and 1024"),
    ("image-size-garbage", ["baseline", "--dataset", "imgs", "--image-size", "big"], "not a size"),
    ("missing-dataset", ["sweep"], "required: --dataset"),
    ("missing-command", [], "required: command"),
    ("unknown-command", ["tune"], "invalid choice: 'tune'"),
    ("unknown-flag", ["baseline", "--dataset", "mnist", "--bogus", "3"], "unrecognized arguments"),
    ("epochs-zero", ["baseline", "--dataset", "mnist", "--epochs", "0"], "too small"),
    ("export-format", ["export", "--dataset", "mnist", "--format", "onnx"], "invalid choice: 'onnx'"),
    ("port-too-big", ["dashboard", "--dataset", "mnist", "--port", "70000"], "too large"),
]


@pytest.mark.parametrize(("argv", "expected"), [c[1:] for c in BAD_ARGS], ids=[c[0] for c in BAD_ARGS])
def test_bad_arguments_are_one_line(argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("sweep: ")
    assert err.count("\n") == 1 and err.endswith("\n")
    assert expected in err


def test_usage_error_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # A UsageError raised by a command (not argparse) becomes exit code 2, no traceback.
    assert main(["leaderboard", "--dataset", "mnist", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sweep: ") and err.count("\n") == 1 and "leaderboard.csv" in err


def test_a_reader_that_leaves_early_gets_no_traceback() -> None:
    # `sweep spaces | head -1`: here the reader closes the pipe before the command writes.
    command = subprocess.Popen(
        [sys.executable, "-m", "sweep", "spaces"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    command.stdout.close()
    _, err = command.communicate(timeout=120)
    assert command.returncode == 1
    assert b"Traceback" not in err and b"Exception ignored" not in err, err.decode()


@pytest.mark.parametrize(
    ("argv0", "name"),
    [
        ("/home/me/.venv/bin/sweep", "sweep"),
        ("/repo/sweep/__main__.py", "python -m sweep"),
        ("-m", "python -m sweep"),
        ("", "python -m sweep"),
    ],
)
def test_help_and_errors_name_the_program_as_it_was_called(argv0: str, name: str) -> None:
    assert program_name(argv0) == name


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip().endswith(f" {__version__}")


def test_the_console_script_is_named_sweep_in_its_messages() -> None:
    script = Path(sys.executable).parent / "sweep"
    if not script.is_file():
        pytest.skip("the console script is not installed (make install puts it in .venv/bin)")
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == f"sweep {__version__}"


# ---------------------------------------------------------------- flags to settings


@pytest.mark.parametrize(
    ("flags", "limit"),
    [
        ([], SweepConfig().time_limit),
        (["--time-limit", "600"], 600.0),
        (["--time-limit", "0", "--trials", "5"], None),
    ],
)
def test_time_limit_zero_means_none(monkeypatch: pytest.MonkeyPatch, flags: list[str], limit: float | None) -> None:
    import sweep.commands.sweep

    seen: list[SweepConfig] = []
    monkeypatch.setattr(sweep.commands.sweep, "run_sweep", lambda data, settings, retrain: seen.append(settings) or 0)
    assert main(["sweep", "--dataset", "mnist", *flags]) == 0
    assert seen[0].time_limit == limit


def test_a_search_that_nothing_ends_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "--dataset", "mnist", "--time-limit", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nothing ends this search" in err[0] and "--trials" in err[0]


# ---------------------------------------------------------------- environment variables


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("SWEEP_HEARTBEAT_SECONDS", "1.5"),
        ("SWEEP_HEARTBEAT_SECONDS", "0"),
        ("SWEEP_THREADS", "-3"),
        ("SWEEP_THREADS", "many"),
        ("SWEEP_PRECISION", "float8"),
    ],
)
@pytest.mark.parametrize("command", [["sweep", "--no-retrain"], ["baseline"]])
def test_a_bad_environment_variable_is_one_line_and_exit_2_before_anything_starts(
    name: str,
    text: str,
    command: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(name, text)
    assert main([command[0], "--dataset", "digits", "--results", str(tmp_path), *command[1:]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{name}={text!r}" in err[0]
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("argv", [["--debug", "sweep", "--dataset", "nope"], ["sweep", "--dataset", "nope", "--debug"]])
def test_debug_shows_the_traceback_before_or_after_the_command(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SWEEP_DEBUG", "")  # main sets it; this undoes that after the test
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("sweep: unknown dataset")
    assert main(["sweep", "--dataset", "nope"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_make_quotes_a_dataset_folder_with_spaces() -> None:
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "sweep", "DATASET=my images", "TRIALS=2", "SPACE=a space.yaml"],
        cwd=repo, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "--dataset 'my images'" in done.stdout and "--space 'a space.yaml'" in done.stdout


@pytest.mark.parametrize(("variables", "flag"), [(["SINGLE=1"], True), ([], False)])
def test_make_export_single_passes_the_flag(variables: list[str], flag: bool) -> None:
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "export", "DATASET=mnist", "FORMAT=tflite", *variables],
        cwd=repo, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "--format 'tflite'" in done.stdout and ("--single" in done.stdout) is flag


def test_a_full_disk_is_one_line_exit_1_saying_what_is_kept(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import errno

    import sweep.interface.cli

    def full(args: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device", "results/mnist/best/model.keras")

    monkeypatch.setattr(sweep.interface.cli, "_run", full)
    assert main(["leaderboard", "--dataset", "digits"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "could not write results/mnist/best/model.keras: No space left" in err
    assert "Finished trials are kept" in err and "Traceback" not in err


def test_a_result_file_turned_into_a_folder_mid_run_is_one_line_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sweep.interface.cli
    from sweep.files import write_text

    (tmp_path / "leaderboard.csv").mkdir()

    def writes(args: object) -> int:
        write_text(tmp_path / "leaderboard.csv", "rank\n")
        return 0

    monkeypatch.setattr(sweep.interface.cli, "_run", writes)
    assert main(["leaderboard", "--dataset", "digits"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Is a directory" in err
