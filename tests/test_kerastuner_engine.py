"""Tests for sweep.search.kerastuner_engine, ``--engine kerastuner``: the space as KerasTuner hyperparameters,
and real searches on digits that write the same leaderboard and best/ files as the Optuna engine.

KerasTuner imports TensorFlow, so these are marked slow; `make test` runs them too.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml

from sweep.choice.stats import score
from sweep.interface.cli import main
from sweep.space.spaces import parse_space

pytestmark = pytest.mark.slow

SPACE = """\
params:
  filters_1:     {type: int, low: 8, high: 32, step: 8}
  dense_units:   {type: categorical, choices: [32, 64]}
  batch_norm:    {type: categorical, choices: [false, true]}
  dropout:       {type: float, low: 0.0, high: 0.4, step: 0.1}
  learning_rate: {type: float, low: 1.0e-3, high: 1.0e-2, log: true}
  epochs:        {type: int, low: 1, high: 3}
"""


def _space_file(tmp_path: Path) -> str:
    path = tmp_path / "space.yaml"
    path.write_text(SPACE)
    return str(path)


def test_hyperparameters_mirror_the_search_space() -> None:
    from sweep.search.kerastuner_engine import hyperparameters

    hp = hyperparameters(parse_space(yaml.safe_load(SPACE), "space.yaml"))
    found = {p.name: p for p in hp.space}
    assert list(found) == ["filters_1", "dense_units", "batch_norm", "dropout", "learning_rate", "epochs"]
    assert (found["filters_1"].min_value, found["filters_1"].max_value, found["filters_1"].step) == (8, 32, 8)
    assert found["dense_units"].values == [32, 64]
    assert found["batch_norm"].values == [False, True]
    assert (found["dropout"].min_value, found["dropout"].max_value, found["dropout"].step) == (0.0, 0.4, 0.1)
    assert found["learning_rate"].sampling == "log"
    # Hyperband chooses the epochs itself.
    skipped = hyperparameters(parse_space(yaml.safe_load(SPACE), "s"), skip=("epochs",))
    assert "epochs" not in {p.name for p in skipped.space}


def test_hyperband_engine_writes_the_same_leaderboard_and_best_files(tmp_path: Path) -> None:
    results = tmp_path / "r"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert (
            main(
                [
                    "sweep",
                    "--dataset",
                    "digits",
                    "--results",
                    str(results),
                    "--space",
                    _space_file(tmp_path),
                    "--engine",
                    "kerastuner",
                    "--timeout",
                    "600",
                ]
            )
            == 0
        )
    # Promoted trials resume from saved weights; Keras's warning about the optimizer state
    # KerasTuner leaves behind is silenced.
    assert not [w for w in caught if "Skipping variable loading" in str(w.message)]
    folder = results / "digits"
    board = pd.read_csv(folder / "leaderboard.csv")
    study = optuna.load_study(study_name="digits-kerastuner", storage=f"sqlite:///{folder / 'study.db'}")
    assert study.user_attrs["sweep_settings"]["engine"] == "kerastuner"
    # Hyperband with max_epochs 3 and factor 3: several trials, a short rung and a full one.
    assert len(board) == len(study.trials) >= 4
    assert set(board["state"]) == {"complete"}
    assert set(board["epochs"]) == {1, 3}
    assert (board["best_epoch"] <= board["epochs"]).all() and (board["epochs_run"] <= board["epochs"]).all()
    assert (board["latency_ms"] > 0).all() and (board["tflite_kb"] > 0).all()  # measured like sweep's trials
    assert "baseline" not in set(board["origin"])  # KerasTuner cannot be handed the baseline first
    best = study.best_trial
    # The top row holds the best score; among trials tied on it (144 validation images), the
    # leaderboard ranks by validation loss where Optuna takes the first.
    top = study.trials[int(board.iloc[0]["trial"])]
    assert board.iloc[0]["val_accuracy"] == pytest.approx(best.value) == pytest.approx(top.value)
    # Scored like sweep's own trials: the mean of the last two epochs.
    assert score(list(best.intermediate_values.values())) == pytest.approx(best.value)
    metrics = json.loads((folder / "best" / "metrics.json").read_text())
    assert "baseline_test_accuracy" in metrics
    # 144 validation images: the finalists are cross-validated, which may pick the runner-up.
    assert metrics["trial"] == best.number or "cross-validation" in metrics["chosen_because"]
    assert metrics["trial"] in set(board["trial"])
    assert (folder / "export" / "model.keras").is_file()
    # A KerasTuner study runs in one process: workers cannot join it.
    assert main(["worker", "--storage", f"sqlite:///{folder / 'study.db'}", "--study", "digits-kerastuner"]) == 2


@pytest.mark.parametrize("tuner", ["random", "bayesian"])
def test_trial_count_tuners_run_exactly_trials(tmp_path: Path, tuner: str) -> None:
    results = tmp_path / "r"
    assert (
        main(
            [
                "sweep",
                "--dataset",
                "digits",
                "--results",
                str(results),
                "--space",
                _space_file(tmp_path),
                "--engine",
                "kerastuner",
                "--tuner",
                tuner,
                "--trials",
                "3",
                "--no-retrain",
            ]
        )
        == 0
    )
    board = pd.read_csv(results / "digits" / "leaderboard.csv")
    assert len(board) == 3 and set(board["state"]) == {"complete"}
    assert board["dropout"].isin([0.0, 0.1, 0.2, 0.3, 0.4]).all()  # rounded, inside the space


def test_a_deadline_that_passes_stops_the_running_trial_too() -> None:
    import keras_tuner as kt
    import numpy as np

    from sweep.data.registry import Dataset
    from sweep.models.params import baseline_params
    from sweep.search.kerastuner_engine import _HyperModel, _Stop

    rng = np.random.default_rng(0)
    images, labels = rng.random((64, 8, 8, 1), dtype=np.float32), np.arange(64) % 2
    data = Dataset("tiny", images, labels, images[:8], labels[:8], images[:8], labels[:8], ["a", "b"], "test")
    space = parse_space(yaml.safe_load(SPACE), "space.yaml")
    hp = kt.HyperParameters()
    hp.Fixed("epochs", 3)
    passed = _HyperModel(data, space, baseline_params("tiny", (8, 8, 1)), 0, deadline=lambda: 0.0)
    with pytest.raises(_Stop, match="the running trial was stopped"):
        passed.fit(hp, passed.build(hp))
    assert passed.log is not None and passed.log.history.get("accuracy", []) == []  # stopped in its first epoch
    far = _HyperModel(data, space, baseline_params("tiny", (8, 8, 1)), 0, deadline=lambda: float("inf"))
    far.fit(hp, far.build(hp))
    assert far.log is not None and len(far.log.history["accuracy"]) == 3
