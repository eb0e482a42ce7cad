"""Tests for sweep.data.array_files: NumPy arrays and .npz files checked before anything trains."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sweep.data.array_files import check_arrays, is_array_file, load_array_file, save_array_file
from sweep.data.registry import check_exists, load_dataset, results_name
from sweep.errors import UsageError

RNG = np.random.default_rng(0)
X = RNG.integers(0, 256, size=(20, 8, 8), dtype=np.uint8)
Y = np.arange(20) % 3
XT = RNG.integers(0, 256, size=(6, 8, 8), dtype=np.uint8)
YT = np.arange(6) % 3


def arrays(**changed: Any) -> dict[str, Any]:
    return {"x_train": X, "y_train": Y, "x_test": XT, "y_test": YT, "class_names": None, **changed}


BAD = [
    ("list-not-array", arrays(x_train=X.tolist()), "x_train is a list, not a NumPy array"),
    ("flat-images", arrays(x_train=X.reshape(20, 64)), "x_train has shape (20, 64)"),
    ("two-channels", arrays(x_train=np.zeros((20, 8, 8, 2), np.uint8)), "1 or 3 channels"),
    (
        "tiny-images",
        arrays(x_train=np.zeros((20, 3, 3), np.uint8), x_test=np.zeros((6, 3, 3), np.uint8)),
        "at least 4×4",
    ),
    ("no-images", arrays(x_test=XT[:0], y_test=YT[:0]), "x_test holds no images"),
    ("sizes-differ", arrays(x_test=np.zeros((6, 9, 9), np.uint8)), "x_train's images are 8×8 but x_test's are 9×9"),
    ("float-0-255", arrays(x_train=X.astype(np.float32)), "float pixels must be in [0, 1]"),
    ("nan", arrays(x_train=np.full((20, 8, 8), np.nan, np.float32)), "NaN"),
    ("int-out-of-range", arrays(x_train=X.astype(np.int32) * 2), "integer pixels must be 0..255"),
    ("text-pixels", arrays(x_train=X.astype(str)), "dtype <U"),
    ("labels-short", arrays(y_train=Y[:5]), "y_train has shape (5,) but there are 20 images"),
    ("one-hot", arrays(y_train=np.eye(3)[Y]), "y.argmax(axis=1)"),
    ("fractional-labels", arrays(y_train=Y + 0.5), "labels must be class indices"),
    ("negative-label", arrays(y_test=YT - 1), "y_test holds the label -1"),
    ("too-few-names", arrays(class_names=["a", "b"]), "labels go up to 2 but there are 2 class names"),
    ("duplicate-names", arrays(class_names=["a", "a", "b"]), "distinct, non-empty strings"),
    ("one-class", arrays(y_train=np.zeros(20, int)), "y_train holds one class ('0')"),
]


@pytest.mark.parametrize(("case", "given", "expected"), BAD, ids=[case for case, _, _ in BAD])
def test_bad_arrays_are_one_line_naming_the_array(case: str, given: dict[str, Any], expected: str) -> None:
    with pytest.raises(UsageError, match=None) as raised:
        check_arrays(**given)
    message = str(raised.value)
    assert expected in message and "\n" not in message, message


@pytest.mark.parametrize(
    ("given", "names"),
    [
        (arrays(), ["0", "1", "2"]),
        (arrays(class_names=["cat", "dog", "owl"]), ["cat", "dog", "owl"]),
        (arrays(x_train=X[..., None] / 255.0, x_test=XT[..., None] / 255.0), ["0", "1", "2"]),
        (arrays(y_train=Y.reshape(-1, 1), y_test=YT.astype(np.float64)), ["0", "1", "2"]),
        (arrays(x_train=np.zeros((20, 8, 8, 3), np.uint8), x_test=np.zeros((6, 8, 8, 3), np.uint8)), ["0", "1", "2"]),
    ],
)
def test_good_arrays_pass_and_name_their_classes(given: dict[str, Any], names: list[str]) -> None:
    assert check_arrays(**given) == names


def test_an_array_file_round_trips_as_a_dataset(tmp_path: Path) -> None:
    path = save_array_file(tmp_path / "scans.npz", X, Y, XT, YT, ["cat", "dog", "owl"])
    assert is_array_file(str(path)) and not list(tmp_path.glob(".*"))  # written atomically
    (x_train, y_train), (x_test, _), names, source = load_array_file(str(path))
    assert x_train.dtype == np.float32 and x_train.max() <= 1.0 and np.allclose(x_train * 255, X)
    assert names == ["cat", "dog", "owl"] and "arrays" in source
    dataset = load_dataset(str(path), val_fraction=0.25)
    assert dataset.input_shape == (8, 8, 1) and dataset.class_names == ["cat", "dog", "owl"]
    assert len(dataset.x_train) + len(dataset.x_val) == 20 and len(dataset.x_test) == 6
    assert dataset.name == results_name(str(path)) and dataset.name.startswith("scans-")


def test_array_files_and_image_folders_of_one_name_get_different_results_folders(tmp_path: Path) -> None:
    assert results_name(str(tmp_path / "a" / "scans.npz")) != results_name(str(tmp_path / "b" / "scans.npz"))
    assert results_name(str(tmp_path / "scans.npz")) != results_name(str(tmp_path / "scans"))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no array file"),
        (b"not a zip", "cannot read"),
        ({"x_train": X, "y_train": Y}, "lacks x_test, y_test"),
    ],
)
def test_bad_array_files_are_one_line(tmp_path: Path, content: Any, expected: str) -> None:
    path = tmp_path / "data.npz"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, dict):
        np.savez(path, **content)
    with pytest.raises(UsageError, match=expected):
        load_array_file(str(path))
    if content is None:
        with pytest.raises(UsageError, match="no array file"):
            check_exists(str(path))
