"""Tests for sweep.data.registry: names and shapes, fingerprints, validation splits and load_dataset's checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sweep.data.registry import (
    BUILTIN,
    builtin_input_shape,
    fingerprint,
    is_image_folder,
    load_dataset,
    results_name,
    split_validation,
)
from sweep.errors import UsageError
from tests.fixtures import write_image_folder

# --- names and shapes ----------------------------------------------------------------------


def test_names_and_shapes() -> None:
    assert BUILTIN == ("mnist", "fashion_mnist", "cifar10", "digits")
    assert builtin_input_shape("mnist") == (28, 28, 1)
    assert builtin_input_shape("fashion_mnist") == (28, 28, 1)
    assert builtin_input_shape("cifar10") == (32, 32, 3)
    assert builtin_input_shape("digits") == (8, 8, 1)
    assert builtin_input_shape("/imgs/pets") is None
    assert not is_image_folder("mnist") and is_image_folder("/imgs/pets")
    assert results_name("cifar10") == "cifar10"
    # A folder's base name and a hash of its full path: two folders never share results.
    assert results_name("/imgs/pets/") == results_name("/imgs/pets") == "pets-fc52fe"
    assert results_name("/other/pets") != "pets-fc52fe" and results_name("/x/digits") != "digits"
    assert results_name("/").startswith("root-")


def test_the_fingerprint_tells_datasets_apart_but_not_splits() -> None:
    digits = load_dataset("digits")
    assert load_dataset("digits", seed=3).fingerprint == digits.fingerprint
    assert len(digits.fingerprint) == 12
    subset = fingerprint(digits.x_train[:-1], digits.y_train[:-1], digits.x_test, digits.y_test)
    assert subset != fingerprint(digits.x_train, digits.y_train, digits.x_test, digits.y_test)


# --- validation splits ---------------------------------------------------------------------


def test_split_is_stratified_and_seeded() -> None:
    y = np.array([0] * 80 + [1] * 20)
    x = np.arange(100, dtype=np.float32).reshape(100, 1, 1, 1)
    x_tr, y_tr, x_val, y_val = split_validation(x, y, 0.1, seed=3)
    assert np.bincount(y_val).tolist() == [8, 2] and len(y_tr) == 90
    # Nothing lost or duplicated, and images stay paired with their labels.
    x_all = np.concatenate([x_tr, x_val]).ravel()
    assert sorted(x_all.tolist()) == list(range(100))
    np.testing.assert_array_equal(np.concatenate([y_tr, y_val]), x_all >= 80)
    again = split_validation(x, y, 0.1, seed=3)
    other = split_validation(x, y, 0.1, seed=4)
    np.testing.assert_array_equal(again[2], x_val)
    assert not np.array_equal(other[2], x_val)


def test_split_tiny_gives_every_class_a_validation_sample() -> None:
    y = np.array([0, 0, 1, 1, 2, 2])
    x = np.zeros((6, 2, 2, 1), np.float32)
    _, y_tr, _, y_val = split_validation(x, y, 0.1, seed=0)
    assert sorted(y_val.tolist()) == [0, 1, 2] and sorted(y_tr.tolist()) == [0, 1, 2]


def test_split_class_too_small() -> None:
    y = np.array([0, 0, 0, 1])
    with pytest.raises(UsageError, match="'cat'"):
        split_validation(np.zeros((4, 1, 1, 1)), y, 0.5, 0, class_names=["dog", "cat"])


def test_split_fraction_too_large_for_tiny_data() -> None:
    y = np.array([0, 0, 1, 1, 2, 2])
    with pytest.raises(UsageError, match="val-fraction"):
        split_validation(np.zeros((6, 1, 1, 1)), y, 0.9, 0)


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.1])
def test_bad_val_fraction(fraction: float) -> None:
    with pytest.raises(UsageError, match="between 0 and 1"):
        load_dataset("digits", val_fraction=fraction)


# --- load_dataset's checks -----------------------------------------------------------------


def test_bad_color_mode(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "imgs", n_train=2, n_test=1)
    with pytest.raises(UsageError, match="auto, grayscale, rgb"):
        load_dataset(str(root), color_mode="rgba")


def test_bad_image_size(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "imgs", n_train=2, n_test=1)
    with pytest.raises(UsageError, match="image size"):
        load_dataset(str(root), image_size=(0, 10))


def test_import_does_not_load_tensorflow() -> None:
    code = (
        "import sys, sweep.data.registry; "
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; "
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
