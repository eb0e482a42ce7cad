"""Tests for the command line's argument errors and the study helpers that need no training."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from sweep import spaces, study
from sweep.cli import main
from sweep.config import PRUNERS, SAMPLERS, DataConfig, SweepConfig
from sweep.errors import UsageError
from sweep.params import BASELINES
from sweep.spaces import parse_space
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


# ---------------------------------------------------------------- storage


def test_storage_that_is_not_a_url() -> None:
    with pytest.raises(UsageError, match="is not a URL"):
        study.open_storage("not a url")


def test_storage_in_a_missing_folder() -> None:
    with pytest.raises(UsageError, match="folder /nonexistent/dir does not exist"):
        study.open_storage("sqlite:////nonexistent/dir/x.db")


def test_storage_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    path.write_bytes(b"this is not a database, just garbage bytes\n" * 100)
    with pytest.raises(UsageError, match="cannot open it as an Optuna study database") as caught:
        study.open_storage(f"sqlite:///{path}")
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_storage_without_driver_or_server() -> None:
    # No psycopg2 → "no driver"; with one, port 1 refuses the connection. Either is one line.
    with pytest.raises(UsageError, match="storage postgresql://"):
        study.open_storage("postgresql://u:p@127.0.0.1:1/db")


def test_storage_with_unknown_scheme() -> None:
    with pytest.raises(UsageError, match="not a valid database URL"):
        study.open_storage("nosuchdb://host/db")


def test_storage_sqlite_file_is_created(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    storage = study.open_storage(f"sqlite:///{path}")
    assert isinstance(storage, optuna.storages.RDBStorage)
    assert path.is_file()


def test_storage_url_defaults_to_the_results_folder(tmp_path: Path) -> None:
    data = DataConfig(dataset="mnist", results=str(tmp_path))
    assert study.storage_url(data, SweepConfig()) == f"sqlite:///{tmp_path.resolve()}/mnist/study.db"
    assert study.storage_url(data, SweepConfig(storage="sqlite:///x.db")) == "sqlite:///x.db"
    assert study.study_name(data, SweepConfig()) == "mnist"
    assert study.study_name(data, SweepConfig(study="other")) == "other"


# ---------------------------------------------------------------- samplers, pruners, epochs


def space(text: str):
    return parse_space(yaml.safe_load(text), "test.yaml")


STEPPED = space(
    "params:\n  filters_1: {type: int, low: 16, high: 32, step: 16}\n"
    "  batch_norm: {type: categorical, choices: [false, true]}\n"
)
UNSTEPPED = space("params:\n  learning_rate: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}\n")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("tpe", optuna.samplers.TPESampler),
        ("random", optuna.samplers.RandomSampler),
        ("cmaes", optuna.samplers.CmaEsSampler),
        ("grid", optuna.samplers.GridSampler),
    ],
)
def test_make_sampler(name: str, kind: type) -> None:
    assert isinstance(study.make_sampler(name, STEPPED, 0), kind)


def test_every_cli_sampler_and_pruner_is_known() -> None:
    for name in SAMPLERS:
        assert isinstance(study.make_sampler(name, STEPPED, 0), optuna.samplers.BaseSampler)
    for name in PRUNERS:
        assert isinstance(study.make_pruner(name), optuna.pruners.BasePruner)


def test_grid_sampler_needs_steps() -> None:
    with pytest.raises(UsageError, match="grid") as caught:
        study.make_sampler("grid", UNSTEPPED, 0)
    assert "test.yaml" in str(caught.value) and "learning_rate" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("hyperband", optuna.pruners.HyperbandPruner),
        ("halving", optuna.pruners.SuccessiveHalvingPruner),
        ("median", optuna.pruners.MedianPruner),
        ("none", optuna.pruners.NopPruner),
    ],
)
def test_make_pruner(name: str, kind: type) -> None:
    assert isinstance(study.make_pruner(name), kind)


@pytest.mark.parametrize(
    "make",
    [
        lambda: study.make_sampler("bayes", STEPPED, 0),
        lambda: study.make_pruner("asha"),
    ],
    ids=["sampler", "pruner"],
)
def test_unknown_sampler_or_pruner(make) -> None:
    with pytest.raises(UsageError, match="unknown"):
        make()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("params:\n  epochs: {type: int, low: 2, high: 12}\n", 12),
        ("params:\n  epochs: {type: categorical, choices: [3, 9, 6]}\n", 9),
        ("params:\n  dropout: {type: float, low: 0.0, high: 0.5}\n", BASELINES["mnist"]["epochs"]),
    ],
    ids=["int", "categorical", "baseline"],
)
def test_max_epochs(text: str, expected: int) -> None:
    assert study.max_epochs(space(text), BASELINES["mnist"]) == expected


# ---------------------------------------------------------------- contains

CONTAINS = [
    ("int-step-on-grid", IntDistribution(16, 64, step=16), 32, True),
    ("int-step-off-grid", IntDistribution(16, 64, step=16), 40, False),
    ("int-below", IntDistribution(16, 64, step=16), 0, False),
    ("int-above", IntDistribution(16, 64, step=16), 80, False),
    ("int-bool-is-not-int", IntDistribution(0, 2), True, False),
    ("int-str", IntDistribution(0, 2), "1", False),
    ("int-none", IntDistribution(0, 2), None, False),
    ("float-log-inside", FloatDistribution(1e-4, 3e-3, log=True), 1e-3, True),
    ("float-log-low-edge", FloatDistribution(1e-4, 3e-3, log=True), 1e-4, True),
    ("float-log-outside", FloatDistribution(1e-4, 3e-3, log=True), 1e-2, False),
    ("float-int-value", FloatDistribution(0.0, 0.5), 0, True),
    ("float-step-on-grid", FloatDistribution(0.0, 0.5, step=0.1), 0.3, True),
    ("float-step-off-grid", FloatDistribution(0.0, 0.5, step=0.1), 0.25, False),
    ("categorical-in", CategoricalDistribution([64, 128, 256]), 128, True),
    ("categorical-out", CategoricalDistribution([64, 128, 256]), 32, False),
    ("categorical-bool-in", CategoricalDistribution([False, True]), False, True),
    ("categorical-str-out", CategoricalDistribution(["same"]), "valid", False),
]


@pytest.mark.parametrize(("dist", "value", "expected"), [c[1:] for c in CONTAINS], ids=[c[0] for c in CONTAINS])
def test_contains(dist, value, expected: bool) -> None:
    assert spaces.contains(dist, value) is expected


# ---------------------------------------------------------------- resuming a study


def record(dataset: str = "mnist", text: str = "params:\n  epochs: {type: int, low: 1, high: 3}\n"):
    return study.settings_record(DataConfig(dataset=dataset), SweepConfig(), space(text))


def test_claim_study_records_and_checks_settings() -> None:
    existing = optuna.create_study(direction="maximize")
    study.claim_study(existing, record())  # first run: stores the record
    assert existing.user_attrs[study.SETTINGS_ATTR]["data"]["dataset"] == "mnist"
    study.claim_study(existing, record())  # same settings: fine
    study.claim_study(existing, {**record(), "trials": 7})  # a resume with more TRIALS
    assert existing.user_attrs[study.SETTINGS_ATTR]["trials"] == 7  # what workers will read
    with pytest.raises(UsageError, match="sweeps mnist, not cifar10"):
        study.claim_study(existing, record("cifar10"))
    with pytest.raises(UsageError, match="another search space"):
        study.claim_study(existing, record(text="params:\n  epochs: {type: int, low: 1, high: 4}\n"))


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        ({"seed": 1}, "created with --seed 0, not 1"),
        ({"val_fraction": 0.2}, "created with --val-fraction 0.1, not 0.2"),
        ({"color_mode": "rgb"}, "created with --color-mode auto, not rgb"),
        ({"image_size": (32, 48)}, "created with --image-size 28x28, not 32x48"),
    ],
)
def test_a_study_resumes_only_on_the_split_it_was_created_with(changed: dict, message: str) -> None:
    existing = optuna.create_study(direction="maximize")
    data = DataConfig(dataset="flowers", image_size=(28, 28))
    space_ = space("params:\n  epochs: {type: int, low: 1, high: 3}\n")
    study.claim_study(existing, study.settings_record(data, SweepConfig(), space_))
    moved = DataConfig(**{**vars(data), "data_dir": "/elsewhere", "results": "/other"})
    study.claim_study(existing, study.settings_record(moved, SweepConfig(), space_))  # same split
    with pytest.raises(UsageError, match=message):
        other = DataConfig(**{**vars(data), **changed})
        study.claim_study(existing, study.settings_record(other, SweepConfig(), space_))


def test_claim_study_refuses_a_foreign_study() -> None:
    foreign = optuna.create_study()
    foreign.add_trial(optuna.trial.create_trial(value=1.0))
    with pytest.raises(UsageError, match="not created by sweep"):
        study.claim_study(foreign, record())


def test_a_study_with_another_direction_is_refused(tmp_path, capsys) -> None:
    (tmp_path / "digits").mkdir()
    url = f"sqlite:///{tmp_path / 'digits' / 'study.db'}"
    optuna.create_study(storage=url, study_name="digits", direction="minimize")
    assert main(["sweep", "--dataset", "digits", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "minimizes" in err[0] and "--study" in err[0]
    assert optuna.load_study(study_name="digits", storage=url).trials == []  # nothing written


def test_open_study_enqueues_the_baseline_then_the_first_trials_then_the_portfolio_once() -> None:
    from sweep.datasets import Dataset
    from sweep.portfolio import PORTFOLIO
    from sweep.search import open_study
    from sweep.trials import origin

    storage = optuna.storages.InMemoryStorage()
    first = space(
        "portfolio: true\nparams:\n  epochs: {type: int, low: 1, high: 80}\n"
        "  dense_units: {type: categorical, choices: [64, 128]}\n"
        "first_trials:\n  - {epochs: 8, dense_units: 64}\n  - {epochs: 2}\n"
    )
    images = np.zeros((20, 28, 28, 1), np.float32)
    labels = np.arange(20) % 10
    data = Dataset("mnist", images, labels, images, labels, images, labels, list("0123456789"), "test")
    for _ in range(2):  # the second call resumes: nothing is enqueued twice
        opened = open_study(storage, DataConfig(dataset="mnist"), SweepConfig(), first, BASELINES["mnist"], data)
    waiting = opened.get_trials(deepcopy=False)
    # The portfolio's epochs grow for 20 training images (x10 at most, then the space's 80);
    # its 0 dense units (none) are moved to this space's nearest choice.
    assert [t.system_attrs["fixed_params"] for t in waiting] == [
        {"epochs": 5, "dense_units": 128},
        {"epochs": 8, "dense_units": 64},
        {"epochs": 2},
        {"epochs": 80, "dense_units": 128},
        {"epochs": 80, "dense_units": 64},
    ]
    assert [origin(t) for t in waiting] == [
        "baseline",
        "first trial",
        "first trial",
        *(f"portfolio: {s.name}" for s in PORTFOLIO),
    ]


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this OS")
def test_workers_and_threads_follow_the_cpus_this_process_may_use() -> None:
    # As under taskset or Docker's --cpuset-cpus: os.cpu_count() still counts the host's CPUs.
    code = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
        "from sweep.backend import usable_cpus; from sweep.config import SweepConfig; "
        "print(usable_cpus(), SweepConfig().workers)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1"]


@pytest.mark.parametrize(
    ("flags", "limit"),
    [
        ([], SweepConfig().time_limit),
        (["--time-limit", "600"], 600.0),
        (["--time-limit", "0", "--trials", "5"], None),
    ],
)
def test_time_limit_zero_means_none(monkeypatch: pytest.MonkeyPatch, flags: list[str], limit: float | None) -> None:
    import sweep.search

    seen: list[SweepConfig] = []
    monkeypatch.setattr(sweep.search, "run_sweep", lambda data, settings, retrain: seen.append(settings) or 0)
    assert main(["sweep", "--dataset", "mnist", *flags]) == 0
    assert seen[0].time_limit == limit


# ---------------------------------------------------------------- environment variables


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("SWEEP_HEARTBEAT_SECONDS", "1.5"),
        ("SWEEP_HEARTBEAT_SECONDS", "0"),
        ("SWEEP_THREADS", "-3"),
        ("SWEEP_THREADS", "many"),
        ("SWEEP_PRECISION", "float16"),
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


def test_the_environment_read_in_one_place() -> None:
    from sweep.environment import DEFAULT_HEARTBEAT_SECONDS, Environment

    unset = Environment.read({})
    assert (unset.data_dir, unset.threads, unset.precision, unset.storage, unset.debug) == (
        None,
        None,
        "auto",
        None,
        False,
    )
    assert unset.heartbeat_seconds == DEFAULT_HEARTBEAT_SECONDS
    given = Environment.read(
        {"SWEEP_THREADS": "2", "SWEEP_DATA_DIR": "/data", "SWEEP_STORAGE": "sqlite:///x.db", "SWEEP_DEBUG": "1"}
    )
    assert (given.threads, given.data_dir, given.storage, given.debug) == (2, "/data", "sqlite:///x.db", True)


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


def test_a_search_that_nothing_ends_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "--dataset", "mnist", "--time-limit", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nothing ends this search" in err[0] and "--trials" in err[0]
