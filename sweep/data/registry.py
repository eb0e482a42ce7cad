"""Datasets: the built-in ones (:mod:`sweep.data.keras_files`), image folders
(:mod:`sweep.data.image_folders`) and arrays in a ``.npz`` file (:mod:`sweep.data.array_files`), loaded,
checked and split the same way.

Every loader returns a :class:`Dataset` with float32 images in [0, 1] shaped (n, h, w, c), int64
labels and a stratified, seeded validation split taken from the training set. TensorFlow and Keras
are imported only where pixels have to be decoded or a download is attempted, so that commands
which merely inspect datasets stay fast.
"""

from __future__ import annotations

import hashlib
import numbers
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sweep.data.array_files import is_array_file, load_array_file
from sweep.data.image_folders import COLOR_MODES, image_folder_root, load_image_folder, split_folders
from sweep.data.keras_files import load_builtin, load_digits, to_unit_float, with_channels
from sweep.errors import UsageError

BUILTIN: tuple[str, ...] = ("mnist", "fashion_mnist", "cifar10", "digits")

_BUILTIN_SHAPES: dict[str, tuple[int, int, int]] = {
    "mnist": (28, 28, 1),
    "fashion_mnist": (28, 28, 1),
    "cifar10": (32, 32, 3),
    "digits": (8, 8, 1),
}

_CLASS_NAMES: dict[str, list[str]] = {
    "mnist": [str(i) for i in range(10)],
    "digits": [str(i) for i in range(10)],
    "fashion_mnist": [
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
    ],
    "cifar10": [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ],
}


@dataclass
class Dataset:
    """A preprocessed dataset split into train, validation and test sets."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    source: str
    # A hash of the images and labels as loaded, before the split (see :func:`fingerprint`).
    fingerprint: str = ""

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Shape of one image: (height, width, channels)."""
        height, width, channels = self.x_train.shape[1:]
        return height, width, channels

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)


def builtin_input_shape(name: str) -> tuple[int, int, int] | None:
    """Input shape of a built-in dataset without loading it; None for anything else."""
    return _BUILTIN_SHAPES.get(name)


def is_image_folder(dataset: str) -> bool:
    """True when `dataset` is neither a built-in name nor a ``.npz`` file: a path to an image folder."""
    return dataset not in BUILTIN and not is_array_file(dataset)


def is_builtin(dataset: str) -> bool:
    """True for the names of the built-in datasets; anything else is the user's own data."""
    return dataset in BUILTIN


def results_name(dataset: str) -> str:
    """Folder name under results/: the built-in name, or the image folder's (or array file's) base
    name and a short hash of its full path, so that two folders (or a folder named ``digits`` and
    the built-in digits) never share one: ``pets-3fa2c1``, ``scans-9b01d4`` for ``scans.npz``."""
    if is_builtin(dataset):
        return dataset
    # realpath drops a trailing slash, turns "." into a real name and follows links.
    path = os.path.realpath(os.path.expanduser(dataset))
    digest = hashlib.sha1(path.encode()).hexdigest()[:6]
    base = Path(path).stem if is_array_file(dataset) else Path(path).name
    return f"{base or 'root'}-{digest}"


def check_exists(dataset: str) -> None:
    """Raise UsageError unless ``dataset`` is a built-in name, an existing ``.npz`` file or a
    folder with train/ and test/ (the cheap part of loading it: before anything is written for it)."""
    if is_array_file(dataset) and not Path(dataset).expanduser().is_file():
        raise UsageError(f"no array file {dataset}; a .npz dataset holds x_train, y_train, x_test and y_test")
    if is_image_folder(dataset):
        split_folders(image_folder_root(dataset, BUILTIN))


def fingerprint(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> str:
    """A short hash of a dataset's labels, shapes and a sample of its pixels, before the
    validation split: what its results folder and its study record, so that two datasets of one
    name (MNIST and a subset of it, a folder before and after images were added) never mix."""
    digest = hashlib.sha1()
    for array in (y_train, y_test):
        digest.update(np.ascontiguousarray(array).tobytes())
    for array in (x_train, x_test):
        digest.update(repr(array.shape).encode())
        digest.update(np.ascontiguousarray(array[:: max(1, len(array) // 64)]).tobytes())
    return digest.hexdigest()[:12]


def load_dataset(
    dataset: str,
    *,
    data_dir: str | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    color_mode: str = "auto",
    image_size: tuple[int, int] | None = None,
) -> Dataset:
    """Load, preprocess and split a built-in dataset, an image folder or a ``.npz`` file of arrays.

    `color_mode` and `image_size` apply to image folders only. Unknown names that are not
    existing folders raise UsageError listing the known datasets.
    """
    _check_fraction(val_fraction)
    if color_mode not in COLOR_MODES:
        raise UsageError(f"unknown color mode {color_mode!r}; use one of {', '.join(COLOR_MODES)}")
    if image_size is not None:
        _check_image_size(image_size)

    if dataset == "digits":
        name, class_names = dataset, _CLASS_NAMES[dataset]
        (x_train, y_train), (x_test, y_test) = load_digits()
        source = "scikit-learn load_digits"
    elif dataset in BUILTIN:
        name, class_names = dataset, _CLASS_NAMES[dataset]
        (x_train, y_train), (x_test, y_test), source = load_builtin(dataset, data_dir)
        _check_builtin(dataset, source, (x_train, y_train, x_test, y_test), len(class_names))
        x_train, x_test = to_unit_float(x_train), to_unit_float(x_test)
    elif is_array_file(dataset):
        name = results_name(dataset)
        (x_train, y_train), (x_test, y_test), class_names, source = load_array_file(dataset)
    else:
        folder = image_folder_root(dataset, BUILTIN)
        name, source = results_name(dataset), f"{folder} (image folder)"
        (x_train, y_train), (x_test, y_test), class_names = load_image_folder(folder, color_mode, image_size)

    x_train, x_test = with_channels(x_train), with_channels(x_test)
    y_train = np.asarray(y_train).reshape(-1).astype(np.int64)
    y_test = np.asarray(y_test).reshape(-1).astype(np.int64)
    loaded = fingerprint(x_train, y_train, x_test, y_test)
    x_train, y_train, x_val, y_val = split_validation(x_train, y_train, val_fraction, seed, class_names=class_names)
    return Dataset(
        name=name,
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=y_test,
        class_names=list(class_names),
        source=source,
        fingerprint=loaded,
    )


def _check_builtin(name: str, source: str, arrays: tuple[np.ndarray, ...], classes: int) -> None:
    """Refuse a file under a built-in dataset's name that holds other images or labels (8×8
    images in three classes saved as mnist.npz), before it fails in a trial."""
    x_train, y_train, x_test, y_test = arrays
    shape = _BUILTIN_SHAPES[name]
    for x in (x_train, x_test):
        got = tuple(x.shape[1:]) + ((1,) if x.ndim == 3 else ())
        if got != shape:
            raise UsageError(
                f"{source} holds images of {'×'.join(map(str, got))}, not {name}'s "
                f"{'×'.join(map(str, shape))}; put Keras's own file there, or load it as arrays (a .npz path)"
            )
    for y in (y_train, y_test):
        labels = np.asarray(y).reshape(-1)
        if labels.size and (labels.min() < 0 or labels.max() >= classes):
            raise UsageError(f"{source} holds labels {labels.min()}..{labels.max()}, not {name}'s 0..{classes - 1}")


def split_validation(
    x: np.ndarray,
    y: np.ndarray,
    fraction: float,
    seed: int,
    *,
    class_names: list[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified, seeded split of a training set into (x_train, y_train, x_val, y_val).

    The validation set gets at least one sample per class (stratification needs it);
    `class_names` only makes error messages name classes instead of label numbers.
    """
    from sklearn.model_selection import train_test_split

    _check_fraction(fraction)
    labels, counts = np.unique(y, return_counts=True)
    for label, count in zip(labels, counts):
        if count < 2:
            shown = class_names[int(label)] if class_names else str(label)
            raise UsageError(
                f"class {shown!r} has only {count} training sample; every class needs at least "
                "2 so that one can go to the validation set; add images to it"
            )
    n, k = len(y), len(labels)
    n_val = max(k, int(round(fraction * n)))
    if n - n_val < k:
        raise UsageError(
            f"validation fraction {fraction} leaves fewer training samples ({n - n_val}) than "
            f"classes ({k}); use a smaller --val-fraction or add training data"
        )
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=n_val, stratify=y, random_state=seed)
    return x_train, y_train, x_val, y_val


# --- validation of arguments ---------------------------------------------------------------


def _check_fraction(fraction: float) -> None:
    # numbers.Real also admits numpy scalars; a bool is never a meant fraction.
    ok = isinstance(fraction, numbers.Real) and not isinstance(fraction, bool)
    if not ok or not 0.0 < fraction < 1.0:
        raise UsageError(
            f"validation fraction must be between 0 and 1 (exclusive), got {fraction!r}; use e.g. --val-fraction 0.1"
        )


def _check_image_size(image_size: tuple[int, int]) -> None:
    try:
        ok = len(image_size) == 2 and all(int(s) == s and s > 0 for s in image_size)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise UsageError(f"image size must be two positive integers (height, width), got {image_size!r}")
