"""Tests for sweep.search.study: storages, samplers and pruners, grids, and the settings a study records."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from sweep.errors import UsageError
from sweep.models.params import BASELINES
from sweep.search import study
from sweep.search.study import grid
from sweep.settings import PRUNERS, SAMPLERS, DataConfig, SweepConfig
from tests.conftest import REPO, free_port
from tests.fixtures import SOURCE, parse

# ---------------------------------------------------------------- storage


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_storage_that_is_not_a_url() -> None:
    with pytest.raises(UsageError, match="is not a URL"):
        study.open_storage("not a url")


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_storage_in_a_missing_folder() -> None:
    with pytest.raises(UsageError, match="folder /nonexistent/dir does not exist"):
        study.open_storage("sqlite:////nonexistent/dir/x.db")


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_storage_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    path.write_bytes(b"this is not a database, just garbage bytes\n" * 100)
    with pytest.raises(UsageError, match="cannot open it as an Optuna study database") as caught:
        study.open_storage(f"sqlite:///{path}")
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_storage_without_driver_or_server() -> None:
    # No psycopg2 → "no driver"; with one, port 1 refuses the connection. Either is one line.
    with pytest.raises(UsageError, match="storage postgresql://"):
        study.open_storage("postgresql://u:p@127.0.0.1:1/db")


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_storage_with_unknown_scheme() -> None:
    with pytest.raises(UsageError, match="not a valid database URL"):
        study.open_storage("nosuchdb://host/db")


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_storage_sqlite_file_is_created(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    storage = study.open_storage(f"sqlite:///{path}")
    assert isinstance(storage, optuna.storages.RDBStorage)
    assert path.is_file()


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_storage_url_defaults_to_the_results_folder(tmp_path: Path) -> None:
    data = DataConfig(dataset="mnist", results=str(tmp_path))
    assert study.storage_url(data, SweepConfig()) == f"sqlite:///{tmp_path.resolve()}/mnist/study.db"
    assert study.storage_url(data, SweepConfig(storage="sqlite:///x.db")) == "sqlite:///x.db"
    assert study.study_name(data, SweepConfig()) == "mnist"
    assert study.study_name(data, SweepConfig(study="other")) == "other"


@pytest.mark.slow
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
            url.format(port=port, closed=free_port()),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sweep: ") and expected in lines[0], result.stderr


# ---------------------------------------------------------------- samplers, pruners, epochs


def space(text: str):
    return parse(text, "test.yaml")


STEPPED = space(
    "params:\n  filters_1: {type: int, low: 16, high: 32, step: 16}\n"
    "  batch_norm: {type: categorical, choices: [false, true]}\n"
)
UNSTEPPED = space("params:\n  learning_rate: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}\n")


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
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


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_every_cli_sampler_and_pruner_is_known() -> None:
    for name in SAMPLERS:
        assert isinstance(study.make_sampler(name, STEPPED, 0), optuna.samplers.BaseSampler)
    for name in PRUNERS:
        assert isinstance(study.make_pruner(name), optuna.pruners.BasePruner)


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_grid_sampler_needs_steps() -> None:
    with pytest.raises(UsageError, match="grid") as caught:
        study.make_sampler("grid", UNSTEPPED, 0)
    assert "test.yaml" in str(caught.value) and "learning_rate" in str(caught.value)


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
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
    pruner = study.make_pruner(name)
    assert isinstance(pruner, study.FairPruner) == (name != "none")
    assert isinstance(getattr(pruner, "inner", pruner), kind)


class _Always(optuna.pruners.BasePruner):
    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return True


@pytest.mark.parametrize(
    ("others", "pruned"),
    [
        # Fewer than MIN_RUNG_VALUES other sampled trials at the step: no decision yet.
        ([{}, {}], False),
        # The baseline and starting points set no bar, however many.
        ([{"is_baseline": True}, {"portfolio": "small"}, {"is_first_trial": True}, {}, {}], False),
        # Enough sampled trials: the inner pruner decides.
        ([{}, {}, {}], True),
        # But not with workers' cheaper jobs on a share of the images: fewer images an epoch.
        ([{}, {}, {"train_images": 250}], False),
    ],
)
def test_a_rung_decides_only_with_enough_sampled_trials(others: list[dict[str, object]], pruned: bool) -> None:
    made = optuna.create_study(direction="maximize", pruner=study.FairPruner(_Always()))
    for attrs in others:
        made.add_trial(optuna.trial.create_trial(value=0.9, intermediate_values={50: 0.9}, user_attrs=attrs))
    trial = made.ask()
    trial.report(0.5, 50)
    assert trial.should_prune() == pruned
    assert study.MIN_RUNG_VALUES == 3


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
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


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
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


# ---------------------------------------------------------------- grid


def test_grid_of_a_stepped_space() -> None:
    space = parse(
        "params:\n"
        "  filters_1: {type: int, low: 16, high: 64, step: 16}\n"
        "  conv_blocks: {type: int, low: 1, high: 3}\n"
        "  dropout: {type: float, low: 0.0, high: 0.5, step: 0.1}\n"
        "  batch_norm: {type: categorical, choices: [false, true]}\n"
    )
    assert grid(space) == {
        "filters_1": [16, 32, 48, 64],
        "conv_blocks": [1, 2, 3],
        "dropout": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5],
        "batch_norm": [False, True],
    }


def test_grid_needs_a_step_for_floats() -> None:
    space = parse("params:\n  learning_rate: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}\n")
    with pytest.raises(UsageError, match="grid") as caught:
        grid(space)
    assert SOURCE in str(caught.value) and "'learning_rate'" in str(caught.value)


# ---------------------------------------------------------------- resuming a study


def record(dataset: str = "mnist", text: str = "params:\n  epochs: {type: int, low: 1, high: 3}\n"):
    return study.settings_record(DataConfig(dataset=dataset), SweepConfig(), space(text))


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
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
    # Feasibility was decided as trials ran: other limits or another objective would mislead.
    tighter = {**record(), "limits": {**record()["limits"], "max_params": 20_000}}
    with pytest.raises(UsageError, match="other deployment limits"):
        study.claim_study(existing, tighter)
    with pytest.raises(UsageError, match="other objective"):
        study.claim_study(existing, {**record(), "objective": "latency"})


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
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


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_claim_study_refuses_a_foreign_study() -> None:
    foreign = optuna.create_study()
    foreign.add_trial(optuna.trial.create_trial(value=1.0))
    with pytest.raises(UsageError, match="not created by sweep"):
        study.claim_study(foreign, record())


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_database_another_sweep_is_creating_is_opened_on_a_later_attempt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlalchemy.exc

    real, calls = study._rdb_storage, []

    def racing(url: str, beat: int) -> optuna.storages.RDBStorage:
        calls.append(url)
        if len(calls) < 3:  # the other sweep's alembic_version row came first
            raise sqlalchemy.exc.IntegrityError("INSERT INTO alembic_version", {}, Exception("UNIQUE constraint"))
        return real(url, beat)

    monkeypatch.setattr(study, "_rdb_storage", racing)
    assert isinstance(study.open_storage(f"sqlite:///{tmp_path / 'study.db'}"), optuna.storages.RDBStorage)
    assert len(calls) == 3


def test_the_registries_hold_exactly_what_the_command_line_offers() -> None:
    assert tuple(study.SAMPLER_FACTORIES) == SAMPLERS and tuple(study.PRUNER_FACTORIES) == PRUNERS
