"""Tests for sweep.space.spaces: YAML search-space files → Optuna distributions, membership and fit checks.

Fast: no TensorFlow, no training.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from sweep.errors import UsageError
from sweep.models.params import baseline_params
from sweep.space import spaces
from sweep.space.spaces import load_space
from tests.fixtures import SHIPPED, SOURCE, parse

# ---------------------------------------------------------------- valid parameters

VALID = [
    ("int-step", "filters_1: {type: int, low: 16, high: 64, step: 16}", IntDistribution(16, 64, step=16)),
    ("int-no-step-is-step-1", "conv_blocks: {type: int, low: 1, high: 3}", IntDistribution(1, 3, step=1)),
    ("int-log", "dense_units: {type: int, low: 32, high: 512, log: true}", IntDistribution(32, 512, log=True)),
    (
        "float-log",
        "learning_rate: {type: float, low: 1.0e-4, high: 3.0e-3, log: true}",
        FloatDistribution(1e-4, 3e-3, log=True),
    ),
    ("float-step", "dropout: {type: float, low: 0.0, high: 0.5, step: 0.1}", FloatDistribution(0.0, 0.5, step=0.1)),
    ("float-plain", "augment: {type: float, low: 0.0, high: 0.2}", FloatDistribution(0.0, 0.2)),
    (
        "categorical-int",
        "dense_units: {type: categorical, choices: [64, 128, 256]}",
        CategoricalDistribution([64, 128, 256]),
    ),
    (
        "categorical-bool",
        "batch_norm: {type: categorical, choices: [false, true]}",
        CategoricalDistribution([False, True]),
    ),
    (
        "categorical-str",
        "padding: {type: categorical, choices: [valid, same]}",
        CategoricalDistribution(["valid", "same"]),
    ),
    (
        "categorical-float",
        "augment: {type: categorical, choices: [0.0, 0.05, 0.1]}",
        CategoricalDistribution([0.0, 0.05, 0.1]),
    ),
    ("float-int-bounds-in-range", "dropout: {type: float, low: 0, high: 0.5}", FloatDistribution(0.0, 0.5)),
    ("low-equals-high", "epochs: {type: int, low: 5, high: 5}", IntDistribution(5, 5)),
]


@pytest.mark.parametrize(("line", "expected"), [c[1:] for c in VALID], ids=[c[0] for c in VALID])
def test_valid_parameter(line: str, expected) -> None:
    space = parse(f"description: '  a test  '\nparams:\n  {line}\n")
    (name,) = space.distributions
    assert space.distributions[name] == expected
    assert type(space.distributions[name]) is type(expected)
    assert space.description == "a test"
    assert space.source == SOURCE


def test_float_bounds_are_floats() -> None:
    dist = parse("params:\n  dropout: {type: float, low: 0, high: 0.5}\n").distributions["dropout"]
    assert isinstance(dist.low, float) and isinstance(dist.high, float)


def test_several_parameters_keep_file_order() -> None:
    space = parse(
        "params:\n"
        "  epochs: {type: int, low: 1, high: 3}\n"
        "  batch_size: {type: categorical, choices: [32, 64]}\n"
        "  learning_rate: {type: float, low: 1.0e-3, high: 1.0e-2, log: true}\n"
    )
    assert list(space.distributions) == ["epochs", "batch_size", "learning_rate"]


# ---------------------------------------------------------------- first trials

EPOCHS_ONLY = "params:\n  epochs: {type: int, low: 1, high: 4}\n"


@pytest.mark.parametrize(
    ("images", "low", "high"),
    [
        (50_000, 5, 30),
        (60_000, 5, 30),  # as written for 50,000 images and more
        (12_500, 10, 60),  # a quarter of the images: twice the epochs
        (900, 37, 224),  # √(50,000 / 900) = 7.45
        (10, 50, 300),  # at most ten times
    ],
)
def test_scale_data_grows_the_epochs_of_smaller_datasets(images: int, low: int, high: int) -> None:
    space = parse(
        "params:\n  epochs: {type: int, low: 5, high: 30, log: true, scale: data}\n"
        "  dropout: {type: float, low: 0.0, high: 0.5}\n"
    )
    scaled = space.for_data(images)
    assert scaled.distributions["epochs"] == IntDistribution(low, high, log=True)
    assert scaled.distributions["dropout"] == space.distributions["dropout"]
    assert scaled.data == space.data  # a study records the file, not the scaled ranges


def test_first_trials_are_kept_in_file_order() -> None:
    space = parse(
        "params:\n"
        "  epochs:  {type: int, low: 1, high: 4}\n"
        "  dropout: {type: float, low: 0.0, high: 0.5, step: 0.1}\n"
        "first_trials:\n"
        "  - {epochs: 4, dropout: 0.3}\n"
        "  - {dropout: 0.0}\n"
    )
    assert space.first_trials == ({"epochs": 4, "dropout": 0.3}, {"dropout": 0.0})
    assert parse(EPOCHS_ONLY).first_trials == ()


# ---------------------------------------------------------------- invalid files

# (id, YAML text, expected substring, parameter the message must name or None for top-level)
INVALID = [
    ("unknown-parameter", "params:\n  filter_1: {type: int, low: 1, high: 4}\n", "unknown parameter", "filter_1"),
    ("unknown-key", "params:\n  filters_1: {type: int, lo: 1, high: 4}\n", "unknown key(s) lo", "filters_1"),
    (
        "categorical-with-range-key",
        "params:\n  dense_units: {type: categorical, choices: [64], low: 1}\n",
        "unknown key(s) low",
        "dense_units",
    ),
    (
        "unknown-type",
        "params:\n  filters_1: {type: integer, low: 1, high: 4}\n",
        "type 'integer' is not one of int, float, categorical",
        "filters_1",
    ),
    ("missing-type", "params:\n  filters_1: {low: 1, high: 4}\n", "is not one of int, float, categorical", "filters_1"),
    ("not-a-mapping", "params:\n  epochs: 3\n", "expected a mapping", "epochs"),
    ("missing-low", "params:\n  epochs: {type: int, high: 4}\n", "'low' is missing", "epochs"),
    ("low-above-high", "params:\n  epochs: {type: int, low: 5, high: 2}\n", "low 5 is greater than high 2", "epochs"),
    (
        "yaml-1e-4-is-text",
        "params:\n  learning_rate: {type: float, low: 1e-4, high: 1.0e-2, log: true}\n",
        "write 1.0e-4",
        "learning_rate",
    ),
    ("yaml-1e5-is-text", "params:\n  dense_units: {type: int, low: 64, high: 1e3}\n", "write 1.0e+3", "dense_units"),
    (
        "non-numeric-bound",
        "params:\n  dropout: {type: float, low: abc, high: 0.5}\n",
        "'abc' is not a number",
        "dropout",
    ),
    (
        "int-bound-is-float",
        "params:\n  filters_1: {type: int, low: 1.5, high: 4}\n",
        "low 1.5 is not an integer",
        "filters_1",
    ),
    (
        "int-step-is-float",
        "params:\n  filters_1: {type: int, low: 16, high: 64, step: 0.5}\n",
        "step 0.5 is not an integer",
        "filters_1",
    ),
    ("bool-bound", "params:\n  epochs: {type: int, low: true, high: 4}\n", "is not an integer", "epochs"),
    ("infinite-bound", "params:\n  dropout: {type: float, low: 0.0, high: .inf}\n", "is not finite", "dropout"),
    (
        "log-low-zero",
        "params:\n  dropout: {type: float, low: 0.0, high: 0.5, log: true}\n",
        "log: true needs low > 0",
        "dropout",
    ),
    (
        "log-not-bool",
        "params:\n  dropout: {type: float, low: 0.1, high: 0.5, log: yes please}\n",
        "log must be true or false",
        "dropout",
    ),
    (
        "step-and-log",
        "params:\n  dropout: {type: float, low: 0.1, high: 0.5, step: 0.1, log: true}\n",
        "step and log cannot be used together",
        "dropout",
    ),
    (
        "step-zero",
        "params:\n  filters_1: {type: int, low: 16, high: 64, step: 0}\n",
        "step must be positive",
        "filters_1",
    ),
    (
        "step-negative",
        "params:\n  dropout: {type: float, low: 0.0, high: 0.5, step: -0.1}\n",
        "step must be positive",
        "dropout",
    ),
    (
        "empty-categorical",
        "params:\n  dense_units: {type: categorical, choices: []}\n",
        "choices must be a non-empty list",
        "dense_units",
    ),
    (
        "categorical-not-a-list",
        "params:\n  dense_units: {type: categorical, choices: 64}\n",
        "choices must be a non-empty list",
        "dense_units",
    ),
    (
        "categorical-wrong-kind",
        'params:\n  filters_1: {type: categorical, choices: ["a"]}\n',
        "'a' is not an integer",
        "filters_1",
    ),
    (
        "categorical-bool-for-int",
        "params:\n  epochs: {type: categorical, choices: [1, true]}\n",
        "True is not an integer",
        "epochs",
    ),
    (
        "categorical-bad-choice",
        "params:\n  padding: {type: categorical, choices: [valid, full]}\n",
        "'full' is not one of valid, same",
        "padding",
    ),
    (
        "categorical-out-of-range",
        "params:\n  dense_units: {type: categorical, choices: [-1, 64]}\n",
        "out of range",
        "dense_units",
    ),
    ("high-out-of-range", "params:\n  dropout: {type: float, low: 0.0, high: 1.5}\n", "1.5 is out of range", "dropout"),
    ("low-out-of-range", "params:\n  conv_blocks: {type: int, low: 0, high: 3}\n", "0 is out of range", "conv_blocks"),
    (
        "learning-rate-zero",
        "params:\n  learning_rate: {type: float, low: 0.0, high: 0.1}\n",
        "out of range",
        "learning_rate",
    ),
    (
        "int-type-for-float-param",
        "params:\n  dropout: {type: int, low: 0, high: 1}\n",
        "type int does not fit it; use type float",
        "dropout",
    ),
    (
        "float-type-for-int-param",
        "params:\n  filters_1: {type: float, low: 16, high: 64}\n",
        "type float does not fit it; use type int",
        "filters_1",
    ),
    (
        "int-type-for-bool-param",
        "params:\n  batch_norm: {type: int, low: 0, high: 1}\n",
        "use type categorical",
        "batch_norm",
    ),
    (
        "float-type-for-str-param",
        "params:\n  padding: {type: float, low: 0, high: 1}\n",
        "use type categorical",
        "padding",
    ),
    ("missing-params", "description: nothing here\n", "needs a top-level 'params:' mapping", None),
    ("params-is-null", "params:\n", "needs a top-level 'params:' mapping", None),
    ("params-is-a-list", "params: [epochs]\n", "needs a top-level 'params:' mapping", None),
    ("empty-file", "", "needs a top-level 'params:' mapping", None),
    ("empty-params", "params: {}\n", "'params:' is empty", None),
    (
        "unknown-top-level-key",
        "parameters: {}\nparams:\n  epochs: {type: int, low: 1, high: 2}\n",
        "unknown top-level key(s) parameters",
        None,
    ),
    ("first-trials-not-a-list", EPOCHS_ONLY + "first_trials: {epochs: 2}\n", "'first_trials:' must be a list", None),
    (
        "first-trial-not-a-mapping",
        EPOCHS_ONLY + "first_trials: [2]\n",
        "first_trials[0]: expected a non-empty mapping",
        None,
    ),
    ("first-trial-empty", EPOCHS_ONLY + "first_trials: [{}]\n", "first_trials[0]: expected a non-empty mapping", None),
    (
        "first-trial-unsearched-parameter",
        EPOCHS_ONLY + "first_trials: [{epochs: 2}, {dropout: 0.1}]\n",
        "first_trials[1]: 'dropout' is not searched in this space (searched: epochs)",
        "dropout",
    ),
    (
        "first-trial-out-of-range",
        EPOCHS_ONLY + "first_trials: [{epochs: 9}]\n",
        "first_trials[0]: epochs 9 is not in its range (1 to 4)",
        None,
    ),
    (
        "first-trial-off-step",
        "params:\n  dropout: {type: float, low: 0.0, high: 0.5, step: 0.1}\nfirst_trials: [{dropout: 0.25}]\n",
        "dropout 0.25 is not in its range (0.0 to 0.5, step 0.1)",
        None,
    ),
    (
        "first-trial-not-a-choice",
        "params:\n  dense_units: {type: categorical, choices: [64, 128]}\nfirst_trials: [{dense_units: 32}]\n",
        "dense_units 32 is not in its range (one of 64, 128)",
        None,
    ),
    (
        "first-trial-wrong-kind",
        EPOCHS_ONLY + "first_trials: [{epochs: two}]\n",
        "epochs 'two' is not in its range",
        None,
    ),
    (
        "scale-not-epochs",
        "params:\n  filters_1: {type: int, low: 16, high: 64, scale: data}\n",
        "'scale: data' is for epochs without a step only",
        "filters_1",
    ),
    (
        "scale-unknown",
        "params:\n  epochs: {type: int, low: 2, high: 9, scale: images}\n",
        "got scale 'images'",
        "epochs",
    ),
    (
        "scale-with-step",
        "params:\n  epochs: {type: int, low: 2, high: 8, step: 2, scale: data}\n",
        "without a step only",
        "epochs",
    ),
    (
        "scale-on-categorical",
        "params:\n  epochs: {type: categorical, choices: [2, 4], scale: data}\n",
        "unknown key(s) scale for type categorical",
        "epochs",
    ),
    ("portfolio-not-a-bool", EPOCHS_ONLY + "portfolio: yes please\n", "'portfolio:' must be true or false", None),
]


@pytest.mark.parametrize(("text", "expected", "param"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_space(text: str, expected: str, param: str | None) -> None:
    with pytest.raises(UsageError) as caught:
        parse(text)
    message = str(caught.value)
    assert expected in message
    assert message.startswith(f"{SOURCE}: ")
    assert "\n" not in message
    if param is not None:
        assert f"'{param}'" in message


def test_load_space_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("params:\n  epochs: {type: int, low: 1, high: 3}\n")
    space = load_space(path)
    assert space.source == str(path)
    assert space.distributions == {"epochs": IntDistribution(1, 3)}


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("params:\n  epochs: {type: int, low: 1\n  dropout: [\n")
    with pytest.raises(UsageError, match=r"not valid YAML at line \d+") as caught:
        load_space(path)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_yaml_error_inside_a_file_names_the_parameter(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("params:\n  learning_rate: {type: float, low: 1e-4, high: 1.0e-2, log: true}\n")
    with pytest.raises(UsageError, match="1.0e-4") as caught:
        load_space(path)
    assert str(path) in str(caught.value) and "learning_rate" in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(UsageError, match="not found") as caught:
        load_space(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("text", "spelled"),
    [
        ("1e-4", "1.0e-4"),
        ("1E-4", "1.0e-4"),
        ("-1e-4", "-1.0e-4"),
        ("1e5", "1.0e+5"),
        ("1.5e5", "1.5e+5"),
        ("1e+3", "1.0e+3"),
    ],
)
def test_suggested_spelling_is_a_yaml_float(text: str, spelled: str) -> None:
    # The hint must be something YAML really reads as a float.
    with pytest.raises(UsageError, match=re.escape(f"write {spelled})")):
        parse(f"params:\n  dense_units: {{type: int, low: {text}, high: 64}}\n")
    assert isinstance(yaml.safe_load(spelled), float)


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


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@pytest.mark.parametrize(("dist", "value", "expected"), [c[1:] for c in CONTAINS], ids=[c[0] for c in CONTAINS])
def test_contains(dist, value, expected: bool) -> None:
    assert spaces.contains(dist, value) is expected


# ---------------------------------------------------------------- check_fits

MNIST_SHAPE, CIFAR_SHAPE, DIGITS_SHAPE = (28, 28, 1), (32, 32, 3), (8, 8, 1)
DATASET_SHAPES = {
    "mnist": MNIST_SHAPE,
    "fashion_mnist": MNIST_SHAPE,
    "cifar10": CIFAR_SHAPE,
    "digits": DIGITS_SHAPE,
}

TOO_DEEP = [
    (
        "mnist-5-valid-blocks",
        "mnist",
        MNIST_SHAPE,
        "params:\n  conv_blocks: {type: int, low: 2, high: 5}\n",
        "conv_blocks",
    ),
    # kernel 11, 'valid': 28 → 18 → 9 → -1.
    (
        "mnist-kernel-11-valid",
        "mnist",
        MNIST_SHAPE,
        "params:\n  kernel_size: {type: categorical, choices: [3, 11]}\n"
        "  padding: {type: categorical, choices: [same, valid]}\n",
        "kernel_size",
    ),
    # conv_blocks up to 3 fits; kernel 11 does not, whatever the depth.
    (
        "mnist-blocks-fit-kernel-does-not",
        "mnist",
        MNIST_SHAPE,
        "params:\n  conv_blocks: {type: int, low: 2, high: 3}\n  kernel_size: {type: categorical, choices: [3, 11]}\n",
        "kernel_size",
    ),
    # Each fits alone (3 blocks of kernel 3: 28 → 1; 2 of kernel 5: 28 → 4), together not.
    (
        "mnist-depth-and-kernel-together",
        "mnist",
        MNIST_SHAPE,
        "params:\n  conv_blocks: {type: int, low: 2, high: 3}\n  kernel_size: {type: categorical, choices: [3, 5]}\n",
        "conv_blocks' and 'kernel_size",
    ),
    (
        "digits-valid-padding",
        "digits",
        DIGITS_SHAPE,
        "params:\n  padding: {type: categorical, choices: [same, valid]}\n",
        "padding",
    ),
]


@pytest.mark.parametrize(
    ("dataset", "shape", "text", "culprit"), [c[1:] for c in TOO_DEEP], ids=[c[0] for c in TOO_DEEP]
)
def test_space_that_does_not_fit(dataset: str, shape, text: str, culprit: str) -> None:
    space = parse(text)
    with pytest.raises(UsageError, match="does not fit") as caught:
        space.check_fits(baseline_params(dataset, shape), shape)
    message = str(caught.value)
    assert message.startswith((f"{SOURCE}: parameter '{culprit}'", f"{SOURCE}: parameters '{culprit}'"))
    assert f"{shape[0]}×{shape[1]}" in message


def test_baseline_that_does_not_fit_is_named() -> None:
    space = parse("params:\n  dropout: {type: float, low: 0.0, high: 0.5}\n")
    with pytest.raises(UsageError, match="the baseline"):
        space.check_fits(baseline_params("mnist", MNIST_SHAPE), DIGITS_SHAPE)


@pytest.mark.parametrize(("high", "fits"), [(4, True), (5, False)])
def test_same_padding_depth_limit(high: int, fits: bool) -> None:
    # 'same' padding with pooling after every block: 28 → 14 → 7 → 3 → 1 → 0.
    space = parse(
        f"params:\n  conv_blocks: {{type: int, low: 2, high: {high}}}\n"
        "  padding: {type: categorical, choices: [same]}\n"
    )
    baseline = baseline_params("mnist", MNIST_SHAPE)
    if fits:
        space.check_fits(baseline, MNIST_SHAPE)
    else:
        with pytest.raises(UsageError, match="conv block 5 of 5"):
            space.check_fits(baseline, MNIST_SHAPE)


def test_the_expected_spaces_ship() -> None:
    assert set(SHIPPED) == {*DATASET_SHAPES, "image_folder"}


@pytest.mark.parametrize("dataset", sorted(DATASET_SHAPES))
def test_shipped_space_fits_its_dataset(dataset: str) -> None:
    shape = DATASET_SHAPES[dataset]
    space = load_space(SHIPPED[dataset])
    assert space.check_fits(baseline_params(dataset, shape), shape) is None  # raises where it does not
    tiny = (2, 2, shape[2])  # and it does not fit 2×2 images: the check above can fail
    with pytest.raises(UsageError, match="at its extreme"):
        space.check_fits(baseline_params(dataset, tiny), tiny)


@pytest.mark.parametrize(
    "shape", [(8, 8, 1), (28, 28, 1), (32, 32, 3), (64, 48, 3)], ids=lambda s: f"{s[0]}x{s[1]}x{s[2]}"
)
def test_image_folder_space_fits_small_and_large_images(shape: tuple[int, int, int]) -> None:
    space = load_space(SHIPPED["image_folder"])
    assert space.check_fits(baseline_params("image_folder", shape), shape) is None  # raises where it does not
    tiny = (2, 2, shape[2])
    with pytest.raises(UsageError, match="at its extreme"):
        space.check_fits(baseline_params("image_folder", tiny), tiny)


def test_every_shipped_space_is_one_strategy() -> None:
    # One default for every dataset: the spaces differ only in whether flips suit the images.
    def without_flip(name: str) -> dict:
        data = load_space(SHIPPED[name]).data
        return {
            **{k: v for k, v in data.items() if k != "description"},
            "params": {k: v for k, v in data["params"].items() if k != "flip"},
        }

    assert all(without_flip(name) == without_flip("image_folder") for name in SHIPPED)
    assert all(load_space(SHIPPED[name]).portfolio for name in SHIPPED)
    flips = {name: load_space(SHIPPED[name]).data["params"]["flip"]["choices"] for name in SHIPPED}
    assert flips == {
        "mnist": [False],
        "digits": [False],
        "fashion_mnist": [True],
        "cifar10": [True],
        "image_folder": [False, True],
    }


REQUIRED = {"filters_1", "dense_units", "epochs"}
EXPECTED = {"learning_rate", "batch_size", "dropout", "batch_norm", "augment"}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_space_names_the_required_parameters(name: str) -> None:
    names = set(load_space(SHIPPED[name]).distributions)
    assert REQUIRED <= names
    assert EXPECTED <= names
    assert any(n.startswith("filters_") for n in names)
