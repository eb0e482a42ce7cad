"""Tests for sweep.commands.sweep: opening a study, which deadline ended the search, a sweep with nothing to retrain."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import optuna
import pytest

from sweep.interface.cli import main
from sweep.models.params import BASELINES
from sweep.search.budget import AFTER_RETRAIN_SECONDS, TimeLimit
from sweep.settings import DataConfig, SweepConfig
from tests.fixtures import parse, space_file, timed_trial


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_study_with_another_direction_is_refused(tmp_path, capsys) -> None:
    (tmp_path / "digits").mkdir()
    url = f"sqlite:///{tmp_path / 'digits' / 'study.db'}"
    optuna.create_study(storage=url, study_name="digits", direction="minimize")
    assert main(["sweep", "--dataset", "digits", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "minimizes" in err[0] and "--study" in err[0]
    assert optuna.load_study(study_name="digits", storage=url).trials == []  # nothing written


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_open_study_enqueues_the_baseline_then_the_first_trials_then_the_portfolio_once() -> None:
    from sweep.choice.trials import origin
    from sweep.commands.sweep import open_study
    from sweep.data.registry import Dataset
    from sweep.space.portfolio import PORTFOLIO

    storage = optuna.storages.InMemoryStorage()
    first = parse(
        "portfolio: true\nparams:\n  epochs: {type: int, low: 1, high: 80}\n"
        "  dense_units: {type: categorical, choices: [64, 128, 256]}\n"
        "first_trials:\n  - {epochs: 8, dense_units: 64}\n  - {epochs: 2}\n",
        "test.yaml",
    )
    images = np.zeros((20, 28, 28, 1), np.float32)
    labels = np.arange(20) % 10
    data = Dataset("mnist", images, labels, images, labels, images, labels, list("0123456789"), "test")
    for _ in range(2):  # the second call resumes: nothing is enqueued twice
        opened = open_study(storage, DataConfig(dataset="mnist"), SweepConfig(), first, BASELINES["mnist"], data)
    waiting = opened.get_trials(deepcopy=False)
    # The portfolio's epochs grow for 20 training images (x10 at most, then the space's 80);
    # what the space does not search (the layout but for the dense units) is left out.
    assert [t.system_attrs["fixed_params"] for t in waiting] == [
        {"epochs": 5, "dense_units": 128},
        {"epochs": 8, "dense_units": 64},
        {"epochs": 2},
        {"epochs": 80, "dense_units": 128},
        {"epochs": 80, "dense_units": 256},
    ]
    assert [origin(t) for t in waiting] == [
        "baseline",
        "first trial",
        "first trial",
        *(f"portfolio: {s.name}" for s in PORTFOLIO),
    ]


@pytest.mark.parametrize(
    ("timeout_left", "limit_left", "finished", "says"),
    [
        (-1, None, 2, "Timeout of 720s reached"),  # the timeout passed
        (-1, 1e6, 2, "Timeout of 720s reached"),  # both could; the timeout came first
        (100, -1, 2, "Search ended with"),  # the time limit needs the rest
        (None, -1, 2, "Search ended with"),  # no timeout at all
        (100, -200, 2, "Search ended past the time limit"),  # first trials ran past the limit itself
        (100, 1e6, 2, None),  # neither passed (it stopped failing)
        (None, None, 2, None),  # nothing to pass
        (-1, -1, 3, None),  # TRIALS reached: no deadline ended it
    ],
)
def test_the_search_says_which_deadline_ended_it(
    timeout_left: float | None, limit_left: float | None, finished: int, says: str | None
) -> None:
    import optuna

    from sweep.search.budget import search_deadline
    from sweep.search.engines import ENGINES
    from sweep.settings import SweepConfig

    study = optuna.create_study(direction="maximize")
    for number in range(finished):
        study.add_trial(timed_trial(number, 0.9 + number / 100))
    timeout = 720.0 if timeout_left is not None else None
    started = time.monotonic() - 720.0 + (timeout_left or 0.0)
    # The best trial's retrain (about 110 s) and what follows are kept back from the limit.
    limit = (
        None
        if limit_left is None
        else TimeLimit(time.time() + limit_left + 110 + AFTER_RETRAIN_SECONDS, 1_000, 1_100, shared_cores=False)
    )
    settings = SweepConfig(trials=3, timeout=timeout, time_limit=1140.0 if limit else None)
    line = ENGINES["optuna"].why_it_ended(study, settings, search_deadline(study, timeout, started, limit), limit)
    assert (line is None) if says is None else line.startswith(says)
    kerastuner = SweepConfig(trials=3, timeout=timeout, engine="kerastuner")
    # KerasTuner says so itself.
    ended = ENGINES["kerastuner"].why_it_ended(study, kerastuner, search_deadline(study, timeout, started, None), None)
    assert ended is None
    if says == "Search ended with":
        assert f"the answer's retrain (trial {finished - 1}: up to about 1.8 min)" in line


@pytest.mark.slow
def test_a_sweep_in_which_no_trial_completes_exits_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sweep.models.train

    def broken(*args: object) -> None:
        raise RuntimeError("simulated: every model fails")

    monkeypatch.setattr(sweep.models.train, "new_model", broken)
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
                "1",
            ]
        )
        == 1
    )
    out, err = capsys.readouterr()
    error = "RuntimeError: simulated: every model fails"
    assert f"3 trials in a row failed the same way ({error}); stopping" in out
    assert err.strip().splitlines() == [
        f"sweep: no trial completed (every trial failed with {error}), so there is nothing to retrain; "
        f"see the error column of {tmp_path / 'digits' / 'leaderboard.csv'}"
    ]


def test_every_engine_the_command_line_offers_is_one_the_driver_knows() -> None:
    from sweep.search.engines import ENGINES, Engine
    from sweep.settings import ENGINES as NAMES

    assert tuple(ENGINES) == NAMES
    for engine in ENGINES.values():  # each says what it can do: the driver asks, not its name
        assert isinstance(engine, Engine) and type(engine).search is not Engine.search
        assert all(isinstance(getattr(engine, flag), bool) for flag in ("seeds_the_study", "runs_workers"))
    assert ENGINES["optuna"].runs_workers and not ENGINES["kerastuner"].seeds_the_study


@pytest.mark.parametrize(("numbers", "words"), [([3], "3"), ([0, 3], "0 or 3"), ([0, 1, 3], "0, 1 or 3")])
def test_the_answers_the_search_kept_time_for_in_words(numbers: list[int], words: str) -> None:
    from sweep.search.engines import either

    assert either(numbers) == words
