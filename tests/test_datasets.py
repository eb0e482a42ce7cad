"""Tests for sweep.datasets: file formats, resolution order, splits and image folders."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sweep import keras_files
from sweep.datasets import (
    BUILTIN,
    Dataset,
    builtin_input_shape,
    fingerprint,
    is_image_folder,
    load_dataset,
    results_name,
    split_validation,
)
from sweep.errors import UsageError
from sweep.keras_files import resolve_data_dir
from tests.fixtures import (
    CIFAR_LABEL_NAMES,
    write_cifar10,
    write_fashion_mnist,
    write_image_folder,
    write_mnist_npz,
)

FASHION_NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point Keras's cache at an empty tmp folder and make any download attempt fail."""
    keras_home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    monkeypatch.delenv("SWEEP_DATA_DIR", raising=False)

    def no_download(name: str) -> None:
        raise RuntimeError("tests never download")

    monkeypatch.setattr(keras_files, "_download", no_download)
    return keras_home / "datasets"


@pytest.fixture
def cache(isolated: Path) -> Path:
    return isolated


def check_common(d: Dataset, n_total_train: int, n_test: int, shape: tuple[int, int, int]) -> None:
    """Shapes, dtypes and ranges every Dataset must satisfy."""
    assert d.input_shape == shape
    assert d.x_train.shape[1:] == d.x_val.shape[1:] == d.x_test.shape[1:] == shape
    assert len(d.x_train) + len(d.x_val) == n_total_train
    assert len(d.x_test) == n_test
    for x, y in ((d.x_train, d.y_train), (d.x_val, d.y_val), (d.x_test, d.y_test)):
        assert x.dtype == np.float32 and y.dtype == np.int64
        assert len(x) == len(y) and y.ndim == 1
        assert 0.0 <= x.min() and x.max() <= 1.0
        assert set(np.unique(y)) <= set(range(d.num_classes))
    assert d.x_train.max() > 0.5  # scaled, not all black


# --- built-in formats ----------------------------------------------------------------------


def test_mnist_npz(tmp_path: Path) -> None:
    path = write_mnist_npz(tmp_path / "data", n_train=100, n_test=20)
    d = load_dataset("mnist", data_dir=str(tmp_path / "data"))
    check_common(d, 100, 20, (28, 28, 1))
    assert len(d.x_val) == 10
    assert d.name == "mnist" and d.source == str(path)
    assert d.class_names == [str(i) for i in range(10)] and d.num_classes == 10
    with np.load(path) as raw:
        np.testing.assert_allclose(d.x_test[..., 0] * 255, raw["x_test"], atol=1e-3)
        np.testing.assert_array_equal(d.y_test, raw["y_test"])


def test_fashion_mnist(tmp_path: Path) -> None:
    write_fashion_mnist(tmp_path, n_train=50, n_test=30)
    d = load_dataset("fashion_mnist", data_dir=str(tmp_path))
    check_common(d, 50, 30, (28, 28, 1))
    assert d.class_names == FASHION_NAMES
    assert d.source == str(tmp_path / "fashion-mnist")


def _raw_cifar_test(batches_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(batches_dir / "test_batch", "rb") as f:
        raw = pickle.load(f, encoding="bytes")
    x = raw[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return x, np.array(raw[b"labels"])


@pytest.mark.parametrize(
    "layout",
    ["", "cifar-10-batches-py_extracted", "cifar-10-batches-py-target"],
    ids=["keras2-folder", "keras3-extracted", "keras3.7-target"],
)
def test_cifar10_folders(tmp_path: Path, layout: str) -> None:
    batches = write_cifar10(tmp_path / layout, n_per_batch=10)
    d = load_dataset("cifar10", data_dir=str(tmp_path))
    check_common(d, 50, 10, (32, 32, 3))
    assert d.class_names == CIFAR_LABEL_NAMES
    assert d.source == str(batches)
    x, y = _raw_cifar_test(batches)
    np.testing.assert_allclose(d.x_test * 255, x, atol=1e-3)  # NHWC, channels not scrambled
    np.testing.assert_array_equal(d.y_test, y)


def test_cifar10_archive(tmp_path: Path) -> None:
    write_cifar10(tmp_path / "folder")
    archive = write_cifar10(tmp_path / "archive", archive=True)
    assert not (tmp_path / "archive" / "cifar-10-batches-py").exists()
    from_archive = load_dataset("cifar10", data_dir=str(tmp_path / "archive"))
    from_folder = load_dataset("cifar10", data_dir=str(tmp_path / "folder"))
    assert from_archive.source == str(archive)
    for field in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(from_archive, field), getattr(from_folder, field))


def test_cifar10_missing_batch(tmp_path: Path) -> None:
    batches = write_cifar10(tmp_path)
    (batches / "data_batch_3").unlink()
    with pytest.raises(UsageError, match="data_batch_3"):
        load_dataset("cifar10", data_dir=str(tmp_path))


@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist", "cifar10-batch", "cifar10-archive"])
def test_corrupt_files(tmp_path: Path, dataset: str) -> None:
    if dataset == "mnist":
        bad = write_mnist_npz(tmp_path)
    elif dataset == "fashion_mnist":
        bad = write_fashion_mnist(tmp_path) / "t10k-images-idx3-ubyte.gz"
    elif dataset == "cifar10-batch":
        bad = write_cifar10(tmp_path) / "data_batch_2"
    else:
        bad = write_cifar10(tmp_path, archive=True)
    bad.write_bytes(b"this is not the file you are looking for")
    name = dataset.split("-")[0]
    with pytest.raises(UsageError) as err:
        load_dataset(name, data_dir=str(tmp_path))
    assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_fashion_images_labels_mismatch(tmp_path: Path) -> None:
    folder = write_fashion_mnist(tmp_path, n_train=20)
    labels = write_fashion_mnist(tmp_path / "other", n_train=30) / "train-labels-idx1-ubyte.gz"
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(labels.read_bytes())
    with pytest.raises(UsageError, match="train-images-idx3-ubyte.gz"):
        load_dataset("fashion_mnist", data_dir=str(tmp_path))


# --- where files are looked for ------------------------------------------------------------


def test_data_dir_beats_cache(tmp_path: Path, cache: Path) -> None:
    write_mnist_npz(cache, n_train=100)
    path = write_mnist_npz(tmp_path / "data", n_train=120)
    d = load_dataset("mnist", data_dir=str(tmp_path / "data"))
    assert d.source == str(path) and len(d.x_train) + len(d.x_val) == 120


def test_cache_used_without_data_dir(cache: Path) -> None:
    path = write_mnist_npz(cache, n_train=100)
    d = load_dataset("mnist")
    assert d.source == str(path) and len(d.x_train) + len(d.x_val) == 100


def test_cache_in_home_without_keras_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    path = write_mnist_npz(tmp_path / ".keras" / "datasets")
    assert load_dataset("mnist").source == str(path)


def test_data_dir_missing_file_does_not_fall_back(tmp_path: Path, cache: Path) -> None:
    write_mnist_npz(cache)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError) as err:
        load_dataset("mnist", data_dir=str(empty))
    message = str(err.value)
    assert "mnist.npz" in message and str(empty) in message and "--data-dir" in message


def test_data_dir_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(UsageError, match="nope"):
        load_dataset("mnist", data_dir=str(missing))


def test_download_failure_names_file(cache: Path) -> None:
    with pytest.raises(UsageError) as err:
        load_dataset("cifar10")
    message = str(err.value)
    assert "could not download" in message and "cifar-10-batches-py" in message
    assert str(cache) in message and "--data-dir" in message and "\n" not in message


def test_download_used_when_nothing_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    labels = np.arange(40) % 10
    x = rng.integers(0, 256, size=(40, 28, 28), dtype=np.uint8)
    monkeypatch.setattr(keras_files, "_download", lambda name: ((x, labels), (x[:10], labels[:10])))
    d = load_dataset("mnist")
    check_common(d, 40, 10, (28, 28, 1))
    assert "downloaded" in d.source


def test_sweep_data_dir_env(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_mnist_npz(cache)
    path = write_mnist_npz(tmp_path / "env", n_train=80)
    monkeypatch.setenv("SWEEP_DATA_DIR", str(tmp_path / "env"))
    assert load_dataset("mnist").source == str(path)
    # The env var is as final as --data-dir, and the hint names it.
    with pytest.raises(UsageError, match="SWEEP_DATA_DIR"):
        load_dataset("fashion_mnist")


def test_resolve_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_data_dir(None) is None
    monkeypatch.setenv("SWEEP_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(None) == tmp_path / "env"
    assert resolve_data_dir(str(tmp_path / "explicit")) == tmp_path / "explicit"


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


# --- digits and validation splits ----------------------------------------------------------


def test_digits_fixed_test_set() -> None:
    a = load_dataset("digits", seed=0)
    b = load_dataset("digits", seed=1)
    check_common(a, 1437, 360, (8, 8, 1))
    assert a.x_train.max() == 1.0 and a.source == "scikit-learn load_digits"
    assert a.class_names == [str(i) for i in range(10)]
    np.testing.assert_array_equal(a.x_test, b.x_test)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_val, b.y_val)  # the user's seed moves only the validation set
    assert len(a.x_val) == 144
    assert set(np.unique(a.y_val)) == set(range(10)) == set(np.unique(a.y_test))


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


# --- image folders -------------------------------------------------------------------------


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
        "import sys, sweep.datasets; "
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; "
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
