"""Keras's own dataset files: ``mnist.npz``, Fashion-MNIST's gzipped IDX files, CIFAR-10's
python batches (extracted or in their archive), and scikit-learn's bundled digits.

Found in the data directory (``--data-dir``, else SWEEP_DATA_DIR), then Keras's cache, then
downloaded through ``keras.datasets``. TensorFlow is imported only for a download.
"""

from __future__ import annotations

import gzip
import os
import pickle
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from sweep.errors import UsageError
from sweep.machine.environment import Environment

_FASHION_DIR = "fashion-mnist"
_FASHION_FILES = (
    "train-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
)
_CIFAR_DIR = "cifar-10-batches-py"
_CIFAR_ARCHIVE = "cifar-10-batches-py.tar.gz"
_CIFAR_BATCHES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")
# Where the extracted batches live, in every layout a Keras version has left in its cache:
# Keras 2, Keras 3 before 3.7 ("<fname>_extracted"), and Keras 3.7+ ("cifar-10-batches-py-target").
_CIFAR_FOLDERS = (
    Path(_CIFAR_DIR),
    Path(f"{_CIFAR_DIR}_extracted", _CIFAR_DIR),
    Path("cifar-10-batches-py-target", _CIFAR_DIR),
)

# What the user has to provide, for error messages.
_WANTED: dict[str, str] = {
    "mnist": "mnist.npz",
    "fashion_mnist": f"{_FASHION_DIR}/ ({', '.join(_FASHION_FILES)})",
    "cifar10": f"{_CIFAR_DIR}/ (or {_CIFAR_ARCHIVE})",
}

# The held-out test set of `digits` must never move, whatever seed a sweep uses.
_DIGITS_TEST_FRACTION = 0.2
_DIGITS_TEST_SEED = 0

_Arrays = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def resolve_data_dir(data_dir: str | None) -> Path | None:
    """The explicit --data-dir, else the SWEEP_DATA_DIR environment variable, else None."""
    chosen = data_dir or Environment.read().data_dir
    return Path(chosen).expanduser() if chosen else None


def _keras_cache() -> Path:
    """Keras's dataset cache, found the way Keras finds it."""
    home = os.environ.get("KERAS_HOME")
    return (Path(home) if home else Path("~/.keras")).expanduser() / "datasets"


def load_builtin(
    name: str, data_dir: str | None
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], str]:
    """Arrays of a Keras built-in dataset, from the data dir, Keras's cache or a download."""
    explicit = resolve_data_dir(data_dir)
    if explicit is not None:
        # An explicit data dir is final: silently using some other copy would hide a mistake.
        hint = "--data-dir" if data_dir else "SWEEP_DATA_DIR"
        if not explicit.is_dir():
            raise UsageError(
                f"data directory {explicit} does not exist or is not a folder; "
                f"create it with the dataset files or drop {hint}"
            )
        path = _locate(name, explicit)
        if path is None:
            raise UsageError(
                f"{name}: {_WANTED[name]} not found in {explicit}; put Keras's {_WANTED[name]} "
                f"there or drop {hint} to use Keras's cache"
            )
        return (*_read(name, path), str(path))

    cache = _keras_cache()
    path = _locate(name, cache)
    if path is not None:
        return (*_read(name, path), str(path))

    try:
        arrays = _download(name)
    except Exception as exc:
        raise UsageError(
            f"{name}: could not download {_WANTED[name]} (no network?); put it in {cache}/ "
            "or in a folder given with --data-dir / SWEEP_DATA_DIR"
        ) from exc
    return (*arrays, f"{cache} (downloaded)")


def _download(name: str) -> _Arrays:
    """Download through Keras's own loader, which also fills Keras's cache."""
    from sweep.machine.backend import load_keras

    keras = load_keras()

    loaders: dict[str, Callable[[], _Arrays]] = {
        "mnist": keras.datasets.mnist.load_data,
        "fashion_mnist": keras.datasets.fashion_mnist.load_data,
        "cifar10": keras.datasets.cifar10.load_data,
    }
    (x_train, y_train), (x_test, y_test) = loaders[name]()
    if name == "cifar10" and x_train.shape[1] == 3:
        # Keras honours a channels_first image_data_format; our arrays are always NHWC.
        x_train, x_test = x_train.transpose(0, 2, 3, 1), x_test.transpose(0, 2, 3, 1)
    return (x_train, y_train), (x_test, y_test)


def _locate(name: str, folder: Path) -> Path | None:
    """The file or folder holding `name` inside `folder`, or None."""
    if name == "mnist":
        path = folder / "mnist.npz"
        return path if path.is_file() else None
    if name == "fashion_mnist":
        path = folder / _FASHION_DIR
        return path if all((path / f).is_file() for f in _FASHION_FILES) else None
    for sub in _CIFAR_FOLDERS:
        path = folder / sub
        if path.is_dir():
            return path
    path = folder / _CIFAR_ARCHIVE
    return path if path.is_file() else None


def _read(name: str, path: Path) -> _Arrays:
    if name == "mnist":
        return _read_mnist(path)
    if name == "fashion_mnist":
        return _read_fashion(path)
    return _read_cifar(path)


@contextmanager
def _reading(path: Path, what: str) -> Iterator[None]:
    """Turn any failure while parsing `path` into a UsageError naming it."""
    try:
        yield
    except UsageError:
        raise
    except Exception as exc:  # numpy, gzip, pickle and tarfile fail in many different ways
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"{path} is not a readable {what} ({reason}); replace it with an intact copy") from exc


def _read_mnist(path: Path) -> _Arrays:
    with _reading(path, "Keras mnist.npz file"):
        with np.load(path, allow_pickle=False) as f:
            return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])


def _read_fashion(folder: Path) -> _Arrays:
    def idx(fname: str, offset: int) -> np.ndarray:
        path = folder / fname
        with _reading(path, "gzipped IDX file"):
            with gzip.open(path, "rb") as f:
                return np.frombuffer(f.read(), np.uint8, offset=offset)

    arrays = []
    for labels_file, images_file in zip(_FASHION_FILES[::2], _FASHION_FILES[1::2]):
        y, x = idx(labels_file, 8), idx(images_file, 16)
        with _reading(folder / images_file, f"IDX file of 28x28 images matching {labels_file}"):
            x = x.reshape(len(y), 28, 28)
        arrays.append((x, y))
    return arrays[0], arrays[1]


def _read_cifar(path: Path) -> _Arrays:
    """CIFAR-10 batches from an extracted folder or straight out of the .tar.gz archive."""
    if path.is_dir():
        batches = {}
        for batch in _CIFAR_BATCHES:
            batch_path = path / batch
            if not batch_path.is_file():
                raise UsageError(f"cifar10: {batch_path} is missing; put the complete {_CIFAR_DIR}/ folder there")
            with _reading(batch_path, "CIFAR-10 batch"), batch_path.open("rb") as f:
                batches[batch] = _parse_cifar_batch(f)
    else:
        with _reading(path, "CIFAR-10 archive"), tarfile.open(path, "r:gz") as tar:
            batches = {}
            for batch in _CIFAR_BATCHES:
                member = tar.extractfile(f"{_CIFAR_DIR}/{batch}")
                if member is None:
                    raise KeyError(f"{_CIFAR_DIR}/{batch} is not a file")
                batches[batch] = _parse_cifar_batch(member)
    train = [batches[b] for b in _CIFAR_BATCHES[:-1]]
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return (x_train, y_train), batches["test_batch"]


class _ArraysOnly(pickle.Unpickler):
    """Unpickles what a CIFAR-10 batch holds (dicts, lists, bytes, NumPy arrays) and nothing
    else: ``pickle.load`` would run any code a file planted in a data folder names."""

    ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which a CIFAR-10 batch never holds")
        return super().find_class(module, name)


def _parse_cifar_batch(f: IO[bytes]) -> tuple[np.ndarray, np.ndarray]:
    d = _ArraysOnly(f, encoding="bytes").load()
    x = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    y = np.asarray(d[b"labels"], dtype=np.uint8)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} images but {len(y)} labels")
    return x, y


def load_digits() -> _Arrays:
    """scikit-learn's 8x8 digits, scaled to [0, 1], with a fixed stratified 20 % test set."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)
    y = digits.target
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=_DIGITS_TEST_FRACTION, stratify=y, random_state=_DIGITS_TEST_SEED
    )
    return (x_train, y_train), (x_test, y_test)


def to_unit_float(x: np.ndarray) -> np.ndarray:
    scaled: np.ndarray = x.astype(np.float32) / np.float32(255.0)
    return scaled


def with_channels(x: np.ndarray) -> np.ndarray:
    return x[..., np.newaxis] if x.ndim == 3 else x
