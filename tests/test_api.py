"""Tests for sweep.interface.api: ``sweep.run`` takes the CLI's settings as keywords and returns a SweepResult."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sweep
from sweep.errors import UsageError
from sweep.interface.api import parse_settings, write_arrays
from sweep.interface.cli import sweep_settings
from sweep.settings import SweepConfig
from tests.fixtures import space_file

X = np.random.default_rng(0).integers(0, 256, size=(12, 8, 8), dtype=np.uint8)
Y = np.arange(12) % 2


@pytest.mark.parametrize(
    ("settings", "attribute", "value"),
    [
        ({}, "time_limit", SweepConfig().time_limit),  # the CLI's defaults, from one place
        ({"time_limit": 600}, "time_limit", 600.0),
        ({"trials": 3}, "trials", 3),
        ({"workers": 1}, "workers", 1),
        ({"retrain": False}, "no_retrain", True),
        ({"retrain": True}, "no_retrain", False),
        ({"image_size": (28, 32)}, "image_size", (28, 32)),
        ({"sampler": None}, "sampler", None),
    ],
)
def test_keyword_settings_are_the_command_lines_flags(settings: dict[str, Any], attribute: str, value: Any) -> None:
    assert getattr(parse_settings("digits", settings), attribute) == value


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"trails": 3}, "unknown setting trails=3; the settings are: "),
        ({"trials": 0}, "setting trials: 0 is too small"),
        ({"sampler": "magic"}, "setting sampler: invalid choice: 'magic'"),
        ({"time_limit": -1}, "setting time_limit"),
        ({"debug": True}, "unknown setting debug"),
    ],
)
def test_bad_settings_are_one_line_naming_the_keyword(settings: dict[str, Any], expected: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_settings("digits", settings)
    assert expected in str(raised.value) and "\n" not in str(raised.value), raised.value


def test_settings_of_the_other_engine_are_refused_as_on_the_command_line() -> None:
    with pytest.raises(UsageError, match="--sampler"):
        sweep_settings(parse_settings("digits", {"engine": "kerastuner", "sampler": "random"}))


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        (("digits", (X, Y)), {}, "test= and class_names= go with arrays"),
        (((X, Y),), {}, "arrays go as run((x_train, y_train), test=(x_test, y_test))"),
        (((X, Y), (X, Y)), {"name": "../up"}, "name='../up'"),
        (((X, Y[:3]), (X, Y)), {}, "y_train has shape (3,) but there are 12 images"),
        (((X, Y), (X, Y)), {"trails": 1}, "unknown setting trails"),
    ],
)
def test_bad_calls_fail_before_anything_trains(
    tmp_path: Path, args: tuple[Any, ...], kwargs: dict[str, Any], expected: str
) -> None:
    with pytest.raises(UsageError) as raised:
        sweep.run(*args, **{"results": str(tmp_path), **kwargs})
    assert expected in str(raised.value)
    assert not (tmp_path / "digits").exists()


def test_arrays_are_written_once_and_other_arrays_never_replace_them(tmp_path: Path) -> None:
    path = tmp_path / "data" / "mine.npz"
    names = ["no", "yes"]
    assert write_arrays(path, X, Y, X, Y, names) == path
    written = path.stat().st_mtime_ns
    assert write_arrays(path, X, Y, X, Y, names) == path and path.stat().st_mtime_ns == written  # the same data
    with pytest.raises(UsageError, match="holds other arrays under the name 'mine'; pass another name="):
        write_arrays(path, X, 1 - Y, X, Y, names)
    with pytest.raises(UsageError, match="holds other arrays"):
        write_arrays(path, X, Y, X, Y, ["cat", "dog"])


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"trials": 0}, "setting trials"),
        ({"time_limit": -1}, "setting time_limit"),
        ({"nosuch": 1}, "unknown setting nosuch=1"),
        ({"seed": 2**64}, "setting seed"),
        ({"results": "{file}"}, "a file, not a folder"),
    ],
)
def test_refused_settings_write_no_array_file(tmp_path: Path, settings: dict[str, Any], says: str) -> None:
    (tmp_path / "file").write_text("")
    settings = {k: str(v).format(file=tmp_path / "file") if k == "results" else v for k, v in settings.items()}
    with pytest.raises(UsageError, match=says):
        sweep.run((X, Y), test=(X, Y), name="mine", **{"results": str(tmp_path / "r"), **settings})
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_a_sweep_on_arrays_returns_its_leaderboard_model_metrics_and_study(tmp_path: Path) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images * (255 / 16)).astype(np.uint8)
    y = digits.target
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    result = sweep.run(
        (x[:1400], y[:1400]), test=(x[1400:], y[1400:]), class_names=names, name="my-digits",
        results=str(tmp_path), space=space_file(tmp_path), trials=3, workers=1, time_limit=0, timeout=600,
    )  # fmt: skip
    assert result.folder.name.startswith("my-digits-") and not result.interrupted
    board = result.leaderboard
    assert len(board) == 3 and set(board["state"]) <= {"complete", "pruned"}
    assert len(result.study.trials) == 3
    metrics = result.metrics
    assert metrics is not None and metrics["test_accuracy"] > 0.5 and metrics["test_images"] == len(x) - 1400
    assert metrics["class_names"] == names
    assert result.best_params == metrics["params"]
    predicted = result.model.predict(x[1400:].astype(np.float32)[..., None] / 255, verbose=0).argmax(axis=1)
    assert np.mean(predicted == y[1400:]) == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    assert result.export("keras").is_file()
    assert {path.name for path in result.plot()} >= {"confusion_matrix.png", "optimization_history.png"}
    # the same arrays again: the same file and results folder, the study resumes
    again = sweep.run(
        (x[:1400], y[:1400]), test=(x[1400:], y[1400:]), class_names=names, name="my-digits",
        results=str(tmp_path), space=space_file(tmp_path), trials=3, workers=1, time_limit=0, timeout=600,
        retrain=False,
    )  # fmt: skip
    assert again.folder == result.folder and len(again.study.trials) == 3
