"""Tests for sweep.data.image_folders: image folders of train/<class>/ and test/<class>/ loaded as datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sweep.data.registry import load_dataset, results_name
from sweep.errors import UsageError
from tests.fixtures import check_common, write_image_folder


def test_image_folder_grayscale_png(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "shapes", n_train=6, n_test=3)
    d = load_dataset(str(root) + "/")
    check_common(d, 18, 9, (28, 28, 1))
    assert d.name == results_name(str(root)) and d.name.startswith("shapes-")
    assert d.source == f"{root} (image folder)"
    assert d.class_names == ["0", "1", "2"]
    # No shuffling of the test set, and pixels are the files' pixels (same size: no resampling).
    assert d.y_test.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    first = np.asarray(Image.open(root / "test" / "0" / "000.png"), dtype=np.float32)
    np.testing.assert_allclose(d.x_test[0, ..., 0] * 255, first, atol=1e-3)


def test_image_folder_rgb_jpg_auto(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "pets", mode="RGB", ext="JPG", size=(20, 24))
    d = load_dataset(str(root))
    check_common(d, 18, 9, (20, 24, 3))


@pytest.mark.parametrize(
    ("mode", "color_mode", "channels"),
    [("RGB", "grayscale", 1), ("L", "rgb", 3), ("RGBA", "auto", 3)],
)
def test_image_folder_color_mode(tmp_path: Path, mode: str, color_mode: str, channels: int) -> None:
    root = write_image_folder(tmp_path / "imgs", mode=mode, size=(12, 12))
    d = load_dataset(str(root), color_mode=color_mode)
    assert d.input_shape == (12, 12, channels)


def test_image_folder_numeric_class_order(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "n", classes=("10", "2", "1", "b", "a"), n_test=1)
    d = load_dataset(str(root))
    assert d.class_names == ["1", "2", "10", "a", "b"]
    # Label i really is the folder class_names[i].
    for label, name in enumerate(d.class_names):
        (i,) = np.flatnonzero(d.y_test == label)
        pixels = np.asarray(Image.open(root / "test" / name / "000.png"), dtype=np.float32)
        np.testing.assert_allclose(d.x_test[i, ..., 0] * 255, pixels, atol=1e-3)


def test_image_folder_explicit_size(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "imgs", size=(28, 28))
    assert load_dataset(str(root), image_size=(16, 20)).input_shape == (16, 20, 1)


def test_image_folder_large_images_scaled_down(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "big", size=(100, 50), n_train=2, n_test=1)
    assert load_dataset(str(root)).input_shape == (64, 32, 1)


def test_image_folder_class_with_one_training_image(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "imgs", n_train=2)
    (root / "train" / "1" / "001.png").unlink()
    with pytest.raises(UsageError, match="'1'"):
        load_dataset(str(root))


def _break(root: Path, how: str) -> Path:
    """Damage an image folder in one way; return the path the error message must name."""
    if how == "no-train":
        (root / "train").rename(root / "training")
        return root
    if how == "no-test":
        (root / "test").rename(root / "testing")
        return root
    if how == "no-classes":
        for class_dir in (root / "train").iterdir():
            for f in class_dir.iterdir():
                f.rename(root / "train" / f"{class_dir.name}-{f.name}")
            class_dir.rmdir()
        return root / "train"
    if how == "empty-class":
        empty = root / "test" / "2"
        for f in empty.iterdir():
            f.unlink()
        (empty / "notes.txt").write_text("not an image")
        return empty
    if how == "class-mismatch":
        (root / "test" / "2").rename(root / "test" / "two")
        return root
    if how == "corrupt-image":
        bad = root / "test" / "1" / "001.png"
        bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
        return bad
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["no-train", "no-test", "no-classes", "empty-class", "class-mismatch", "corrupt-image"])
def test_image_folder_errors(tmp_path: Path, how: str) -> None:
    root = write_image_folder(tmp_path / "imgs", n_train=2, n_test=2, size=(8, 8))
    named = _break(root, how)
    with pytest.raises(UsageError) as err:
        load_dataset(str(root))
    message = str(err.value)
    assert str(named) in message and "\n" not in message
    if how == "class-mismatch":
        assert "'2'" in message and "'two'" in message


def test_unknown_dataset(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(UsageError) as err:
        load_dataset(str(missing))
    message = str(err.value)
    assert str(missing) in message and "mnist" in message and "cifar10" in message
    assert "train/" in message and "test/" in message


def test_unknown_dataset_is_a_file(tmp_path: Path) -> None:
    file = tmp_path / "data.csv"
    file.write_text("1,2\n")
    with pytest.raises(UsageError, match="data.csv"):
        load_dataset(str(file))
