"""Tests for sweep.data.keras_files: Keras's dataset files, where they are looked for, and the digits."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from sweep.data import keras_files
from sweep.data.keras_files import resolve_data_dir
from sweep.data.registry import load_dataset
from sweep.errors import UsageError
from tests.fixtures import (
    CIFAR_LABEL_NAMES,
    check_common,
    write_cifar10,
    write_fashion_mnist,
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
