"""Tests for sweep.models.user_models: a user's model function, its space, and a sweep over it from
the command line and from Python."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest

import sweep
from sweep.errors import UsageError
from sweep.interface.api import _model_settings
from sweep.models.user_models import (
    TRAINING_DEFAULTS,
    UserModel,
    check_reference,
    importable,
    plan,
    reference_of,
    resolve,
)
from sweep.search.worker import failing
from sweep.space.spaces import parse_space
from tests.conftest import sweep_process

# --- model functions the tests sweep (importable: tests.test_user_models:<name>) --------------


def small_cnn(params: dict[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> Any:
    """A user's CNN with parameters sweep does not know: ``width`` and ``pooling``."""
    import keras

    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Conv2D(params["width"], 3, padding="same", activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x) if params["pooling"] == "gap" else keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


def not_a_model(params: dict[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> Any:
    return "not a model"


def logits_sequential(params: dict[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> Any:
    """No Input layer and a linear output: sweep builds it and trains on logits."""
    import keras

    return keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(num_classes)])


def subclassed(params: dict[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> Any:
    import keras

    class Net(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = keras.layers.Dense(num_classes)

        def call(self, x: Any) -> Any:
            return self.dense(keras.ops.reshape(x, (-1, 64)))

    return Net()


def wrong_classes(params: dict[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> Any:
    import keras

    inputs = keras.Input(shape=input_shape)
    return keras.Model(inputs, keras.layers.Dense(num_classes + 1)(keras.layers.Flatten()(inputs)))


SPACE = """\
model: tests.test_user_models:small_cnn
params:
  width:         {type: int, low: 4, high: 16, step: 4}
  pooling:       {type: categorical, choices: [flatten, gap]}
  learning_rate: {type: float, low: 1.0e-3, high: 1.0e-2, log: true}
baseline: {width: 8, epochs: 6}
"""


def space_text(folder: Path, text: str = SPACE) -> str:
    path = folder / "space.yaml"
    path.write_text(text)
    return str(path)


# --- references, spaces and plans: no TensorFlow ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("mymodels:build", True),
        ("pkg.models:Factory.build", True),
        ("models/cnn.py:build", True),
        ("build", False),
        ("mymodels:", False),
        (":build", False),
        ("mymodels:build()", False),
        (42, False),
    ],
)
def test_a_reference_is_module_colon_function(text: Any, ok: bool) -> None:
    if ok:
        assert check_reference(text) == text
    else:
        with pytest.raises(UsageError, match="expected module:function"):
            check_reference(text)


def test_a_model_space_takes_the_functions_own_parameters_and_checks_sweeps() -> None:
    space = parse_space(
        {
            "model": "m:f",
            "params": {
                "width": {"type": "int", "low": 4, "high": 16},
                "act": {"type": "categorical", "choices": ["relu", "gelu"]},
                "filters_9": {"type": "float", "low": 0.5, "high": 2.0},  # not sweep's meaning
                "epochs": {"type": "int", "low": 5, "high": 30, "log": True, "scale": "data"},
            },
            "baseline": {"depth": 3},  # fixed: passed to every trial
        },
        "s.yaml",
    )
    assert space.model == "m:f" and space.data_scaled == ("epochs",)
    baseline = space.baseline_for("image_folder", (8, 8, 1))
    # The range's low end and the first choice (KerasTuner's defaults), the notebooks' training.
    assert baseline == {**TRAINING_DEFAULTS, "width": 4, "act": "relu", "filters_9": 0.5, "depth": 3}


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"params": {"units": {"type": "int", "low": 1, "high": 2}}}, "unknown parameter 'units'"),
        ({"params": {"dropout": {"type": "float", "low": 0.0, "high": 0.5}}, "baseline": {}}, "'baseline:' is for"),
        ({"model": "m:f", "params": {"lr": {"type": "int", "low": 1, "high": 2}}, "portfolio": True}, "portfolio"),
        ({"model": "m:f", "params": {"learning_rate": {"type": "float", "low": 0.0, "high": 1.0}}}, "out of range"),
        ({"model": "m:f", "params": {"act": {"type": "categorical", "choices": [[1, 2]]}}}, "numbers, text or"),
        ({"model": "m:f", "params": {"w": {"type": "int", "low": 4.5, "high": 8}}}, "is not an integer"),
        ({"model": "m:f", "params": {"w": {"type": "int", "low": 4, "high": 8}}, "baseline": {"epochs": 0}}, "epochs"),
        ({"model": "m:f", "params": {"w": {"type": "int", "low": 4, "high": 8}}, "baseline": [1]}, "must map"),
        ({"model": "m", "params": {"w": {"type": "int", "low": 4, "high": 8}}}, "expected module:function"),
        ({"model": "m:f", "params": {"rank": {"type": "int", "low": 4, "high": 8}}}, "not after a leaderboard column"),
        ({"model": "m:f", "params": {"my units": {"type": "int", "low": 4, "high": 8}}}, "letters, digits and _"),
    ],
)
def test_bad_model_spaces_name_the_problem(data: dict[str, Any], says: str) -> None:
    with pytest.raises(UsageError, match="s.yaml") as raised:
        parse_space(data, "s.yaml")
    assert says in str(raised.value), raised.value


def test_a_user_plan_passes_every_parameter_and_trains_with_the_training_ones() -> None:
    user = plan({"width": 8, "learning_rate": 3e-3, "lr_schedule": "cosine"}, "m:f")
    assert isinstance(user, UserModel)
    assert user.params["width"] == 8 and user.params["batch_size"] == TRAINING_DEFAULTS["batch_size"]
    assert (user.learning_rate, user.lr_schedule, user.warmup, user.epochs) == (3e-3, "cosine", 0.05, 5)
    with pytest.raises(UsageError, match="batch_size"):
        plan({"batch_size": 0}, "m:f")


def test_references_resolve_to_functions_or_say_why_not(tmp_path: Path) -> None:
    assert resolve("tests.test_user_models:small_cnn") is small_cnn
    (tmp_path / "cnn.py").write_text("def build(params, input_shape, num_classes):\n    return params\n")
    assert resolve(f"{tmp_path}/cnn.py:build")({"a": 1}, (8, 8, 1), 2) == {"a": 1}
    (tmp_path / "bad.py").write_text("raise RuntimeError('no GPU here')\n")
    for reference, says in [
        ("tests.test_user_models:missing", "tests.test_user_models has no function missing"),
        (f"{tmp_path}/bad.py:build", "importing"),
        ("__main__:build", "defined in a notebook or script"),
    ]:
        with pytest.raises(UsageError, match=says):
            resolve(reference)


def test_a_notebooks_function_trains_in_this_process_only() -> None:
    def build(params: dict[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> Any:
        return small_cnn(params, input_shape, num_classes)

    reference = reference_of(build)
    assert not importable(reference) and resolve(reference) is build  # registered here
    assert _model_settings(build, None) == {"model": reference, "workers": 1}
    assert _model_settings(small_cnn, 2) == {"model": "tests.test_user_models:small_cnn"}
    with pytest.raises(UsageError, match="worker processes cannot import"):
        _model_settings(build, 2)
    with pytest.raises(UsageError, match="lambda"):
        reference_of(lambda params, shape, classes: None)


@pytest.mark.parametrize(
    ("errors", "stops"),
    [
        (["TypeError: f returned str, not a keras.Model"] * 2, None),
        (["TypeError: f returned str, not a keras.Model"] * 3, "3 trials in a row failed the same way (TypeError"),
        (["ValueError: a", "ValueError: b", "ValueError: a", "ValueError: b"], None),
        ([f"ValueError: {n}" for n in range(5)], "5 trials failed in a row"),
        (["", "", ""], None),  # workers that died: no error to tell them apart
    ],
)
def test_failures_that_repeat_stop_the_sweep_sooner(errors: list[str], stops: str | None) -> None:
    why = failing(errors)
    assert (why is None) if stops is None else (why is not None and why.startswith(stops)), why


# --- building: TensorFlow -----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("function", "raises", "says"),
    [
        ("not_a_model", TypeError, "returned str, not a keras.Model"),
        ("subclassed", TypeError, "subclassed model"),
        ("wrong_classes", ValueError, "the data has 3 classes"),
    ],
)
def test_a_function_that_returns_no_usable_model_says_what_is_wrong(function: str, raises: type, says: str) -> None:
    from sweep.models.build import build_model

    with pytest.raises(raises, match=says):
        build_model(plan({}, f"tests.test_user_models:{function}"), (8, 8, 1), 3, 100)


@pytest.mark.slow
def test_a_user_model_is_compiled_for_its_output_and_computes_it_in_float32() -> None:
    import keras

    from sweep.models.build import build_model, ends_in_softmax

    softmax = build_model(plan({"width": 4, "pooling": "gap"}, "tests.test_user_models:small_cnn"), (8, 8, 1), 3, 100)
    logits = build_model(plan({}, "tests.test_user_models:logits_sequential"), (8, 8, 1), 3, 100)
    assert ends_in_softmax(softmax) and not softmax.loss.get_config()["from_logits"]
    assert not ends_in_softmax(logits) and logits.loss.get_config()["from_logits"]
    assert logits.input_shape == (None, 8, 8, 1)  # built for the images
    for model in (softmax, logits):
        assert model.layers[-1].compute_dtype == "float32", keras.mixed_precision.global_policy().name


# --- sweeps ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_model_function_is_swept_from_the_command_line_with_workers(tmp_path: Path) -> None:
    results = tmp_path / "results"
    args = ["sweep", "--dataset", "digits", "--space", space_text(tmp_path), "--trials", "4"]
    process = sweep_process(*args, "--workers", "2", "--results", str(results))
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output
    board = pd.read_csv(results / "digits" / "leaderboard.csv")
    assert {"width", "pooling", "learning_rate"} <= set(board.columns)
    assert (board["state"] == "complete").sum() >= 2 and board["param_count"].notna().all()
    assert board.loc[board["trial"] == 0, "width"].item() == 8  # the space's baseline
    assert (results / "digits" / "best" / "model.keras").is_file()
    assert (results / "digits" / "export" / "model.keras").is_file()
    # The study remembers the function: `sweep retrain` needs nothing but the dataset.
    retrain = sweep_process("retrain", "--dataset", "digits", "--results", str(results))
    output, _ = retrain.communicate(timeout=600)
    assert retrain.returncode == 0, output


@pytest.mark.slow
def test_a_function_that_always_fails_stops_the_sweep_with_one_line(tmp_path: Path) -> None:
    space = space_text(tmp_path, SPACE.replace(":small_cnn", ":not_a_model"))
    args = ["sweep", "--dataset", "digits", "--space", space, "--trials", "20", "--workers", "1"]
    process = sweep_process(*args, "--results", str(tmp_path / "results"))
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 1, output
    assert "3 trials in a row failed the same way (TypeError: " in output
    last = output.strip().splitlines()[-1]
    assert last.startswith("sweep: no trial completed (every trial failed with TypeError: "), last
    board = pd.read_csv(tmp_path / "results" / "digits" / "leaderboard.csv")
    assert list(board["state"]) == ["fail"] * 3
    assert board["error"].str.contains("returned str, not a keras.Model").all()


@pytest.mark.slow
def test_a_notebooks_model_function_is_swept_from_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    monkeypatch.chdir(tmp_path)

    def build(params: dict[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
        return keras.Sequential(
            [keras.Input(input_shape), keras.layers.Flatten(), keras.layers.Dense(params["units"], activation="relu"),
             keras.layers.Dense(num_classes, activation="softmax")]
        )  # fmt: skip

    monkeypatch.setattr(build, "__module__", "__main__")  # as in a notebook: no module to import
    space = space_text(tmp_path, "params:\n  units: {type: int, low: 8, high: 32, log: true}\nbaseline: {epochs: 4}\n")
    result = sweep.run("digits", model=build, space=space, trials=3, results=str(tmp_path / "r"))
    assert result.settings.workers == 1 and (result.settings.model or "").startswith("__main__:")
    assert "units" in result.best_params and result.metrics is not None
    assert result.model.predict(np.zeros((1, 8, 8, 1)), verbose=0).shape == (1, 10)
    assert isinstance(result.study, optuna.Study) and len(result.study.trials) == 3


def test_make_passes_model_to_the_sweep(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dry = subprocess.run(
        ["make", "-n", "sweep", "DATASET=digits", "SPACE=s.yaml", "MODEL=mymodels:build", f"VENV={tmp_path}"],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--space 's.yaml'" in dry.stdout and "--model 'mymodels:build'" in dry.stdout, dry.stdout
