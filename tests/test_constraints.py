"""Tests for sweep.deploy.constraints (deployment limits, pure) and sweep.deploy.deployment (TFLite figures):
limits checked before training, infeasible trials never the answer, the int8 export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState, create_trial

from sweep.choice.trials import best_of, finalists
from sweep.deploy.constraints import Limits
from sweep.errors import UsageError
from sweep.interface.cli import main
from sweep.models.params import BASELINES
from sweep.search.rescore import choose
from sweep.space.spaces import load_space, parse_space
from tests.fixtures import SHIPPED, space_file


@pytest.mark.parametrize(
    ("limits", "attrs", "broken", "values"),
    [
        (Limits(), {"param_count": 10**6}, "", []),
        (Limits(max_params=20_000), {"param_count": 10_000}, "", [-0.5]),
        (Limits(max_params=20_000), {"param_count": 30_000}, "parameters 3e+04 > 2e+04", [0.5]),
        # Before the file exists, its size is at least 3 bytes a parameter: 1,024 of them, 3 KiB.
        (Limits(max_size_kb=2.0), {"param_count": 1024}, "TFLite KiB 3 > 2", [0.5]),
        (Limits(max_size_kb=8.0), {"param_count": 1024, "tflite_kb": 6.0}, "", [-0.25]),
        (Limits(max_latency_ms=0.5), {"param_count": 1024}, "", [0.0]),  # unknown until measured
        (Limits(max_latency_ms=0.5), {"latency_ms": 1.0}, "latency ms 1 > 0.5", [1.0]),
    ],
)
def test_limits_say_what_a_trial_breaks_and_give_optuna_its_constraint_values(
    limits: Limits, attrs: dict[str, Any], broken: str, values: list[float]
) -> None:
    assert limits.broken(attrs) == broken
    assert list(limits.values(attrs).values()) == pytest.approx(values)
    assert Limits.from_json(limits.to_json()) == limits


@pytest.mark.parametrize("bad", [{"max_params": 0}, {"max_size_kb": -1.0}, {"max_latency_ms": float("nan")}])
def test_a_limit_must_be_positive(bad: dict[str, Any]) -> None:
    with pytest.raises(UsageError, match="a limit must be a positive number"):
        Limits(**bad)


@pytest.mark.parametrize("flag", ["--max-params", "--max-size-kb", "--max-latency-ms"])
def test_a_negative_limit_on_the_command_line_is_one_line_exit_2(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["sweep", "--dataset", "digits", flag, "-5"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.count("\n") == 1 and f"argument {flag}: -5 is too small" in err


def test_the_smallest_model_of_a_space_decides_whether_a_limit_can_be_met() -> None:
    space = load_space(SHIPPED["mnist"])
    smallest = space.smallest_params(BASELINES["mnist"], (28, 28, 1), 10)
    assert smallest is not None and smallest < 20_000 < BASELINES["mnist"]["dense_units"] * 1600
    Limits(max_params=20_000).check_reachable(smallest)
    with pytest.raises(UsageError, match="no model in the search space meets the limits"):
        Limits(max_params=smallest - 1).check_reachable(smallest)
    user = parse_space({"model": "m:f", "params": {"w": {"type": "int", "low": 1, "high": 2}}}, "s.yaml")
    assert user.smallest_params({}, (28, 28, 1), 10) is None  # a user's model: unknown


def trial(number: int, value: float, **attrs: Any) -> optuna.trial.FrozenTrial:
    made = create_trial(state=TrialState.COMPLETE, value=value, user_attrs={"params": {"n": number}, **attrs})
    made.number = number
    return made


def test_an_infeasible_trial_is_never_the_best_nor_the_answer() -> None:
    base = trial(0, 0.99, is_baseline=True, infeasible="parameters 2.25e+05 > 2e+04")
    small, big = trial(1, 0.97), trial(2, 0.995, infeasible="latency ms 2 > 1")
    assert best_of([base, small, big]) is small
    assert finalists([base, small, big]) == [small, base]
    chosen, why = choose([small, base], base, {}, "validation")
    assert chosen is small and "within the deployment limits (the baseline breaks them)" in why


# --- measured: TensorFlow ------------------------------------------------------------------------


@pytest.mark.slow
def test_deployment_figures_of_a_model() -> None:
    import numpy as np

    from sweep.deploy.deployment import measure, predict, tflite
    from sweep.models.build import build_model
    from sweep.models.params import MNIST_BASELINE, Architecture

    arch = Architecture.from_params({**MNIST_BASELINE, "filters_1": 4, "filters_2": 8, "dense_units": 16})
    model = build_model(arch, (28, 28, 1), 10, 100)
    images = np.random.default_rng(0).random((20, 28, 28, 1), dtype=np.float32)
    figures = measure(model, images)
    weights = arch.param_count((28, 28, 1), 10) * 4 / 1024
    assert weights < figures.tflite_kb < weights + 16  # the weights and a small graph
    assert figures.int8_kb is not None and figures.int8_kb < figures.tflite_kb / 2
    assert 0 < figures.latency_ms < 100
    keras_classes = model.predict(images, verbose=0).argmax(axis=1)
    assert (predict(tflite(model), images) == keras_classes).all()  # the same model in LiteRT


@pytest.mark.slow
def test_a_sweep_under_a_parameter_limit_trains_only_models_within_it_and_exports_int8(tmp_path: Path) -> None:
    results = tmp_path / "results"
    args = ["sweep", "--dataset", "digits", "--space", space_file(tmp_path), "--trials", "4", "--workers", "1"]
    # The baseline (Conv32-Conv64-Dense128 on 8×8 images) has 53,002 parameters.
    assert main([*args, "--results", str(results), "--max-params", "40000", "--time-limit", "600"]) == 0
    board = pd.read_csv(results / "digits" / "leaderboard.csv")
    baseline = board[board["origin"] == "baseline"].iloc[0]
    assert baseline["state"] == "pruned" and "parameters" in baseline["infeasible"]
    assert pd.isna(baseline["epochs_run"]) and not baseline["fit_seconds"]  # never trained
    trained = board[board["state"] == "complete"]
    assert len(trained) and (trained["param_count"] <= 40_000).all()
    assert trained["tflite_kb"].notna().all() and (trained["latency_ms"] > 0).all()
    metrics = json.loads((results / "digits" / "best" / "metrics.json").read_text())
    assert metrics["param_count"] <= 40_000 and metrics["tflite_kb"] > 0 and metrics["int8_kb"] > 0
    assert "within the deployment limits" in metrics["chosen_because"]
    assert main(["export", "--dataset", "digits", "--results", str(results), "--format", "tflite-int8"]) == 0
    int8 = json.loads((results / "digits" / "export" / "model_int8.json").read_text())
    assert int8["int8_kb"] * 2 < int8["float_kb"]
    assert int8["int8_test_accuracy"] > int8["float_test_accuracy"] - 0.05
