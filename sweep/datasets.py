"""Datasets: the built-in ones (read offline from Keras's cache files) and image folders.

Every loader returns a :class:`Dataset` with float32 images in [0, 1] shaped (n, h, w, c), int64
labels and a stratified, seeded validation split taken from the training set. TensorFlow and Keras
are imported only where pixels have to be decoded or a download is attempted, so that commands
which merely inspect datasets stay fast.
"""

from __future__ import annotations

import gzip
import hashlib
import numbers
import os
import pickle
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from sweep.environment import Environment
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
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ],
    "cifar10": [
        "airplane", "automobile", "bird", "cat", "deer",
        "dog", "frog", "horse", "ship", "truck",
    ],
}

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

# The same extensions Keras's image_dataset_from_directory reads, so that every file it loads has
# been verified first; matched case-insensitively like Keras does.
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
_GRAYSCALE_MODES = frozenset({"1", "L", "LA", "I", "I;16"})
COLOR_MODES = ("auto", "grayscale", "rgb")
# Default longest image side for image folders: large photos would make CPU training crawl.
_MAX_AUTO_SIDE = 64
# The held-out test set of `digits` must never move, whatever seed a sweep uses.
_DIGITS_TEST_FRACTION = 0.2
_DIGITS_TEST_SEED = 0

_Arrays = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


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
    """True when `dataset` is not a built-in name: it is then a path to an image folder."""
    return dataset not in BUILTIN


def results_name(dataset: str) -> str:
    """Folder name under results/: the built-in name, or the image folder's base name and a
    short hash of its full path, so that two folders (or a folder named ``digits`` and the
    built-in digits) never share one: ``pets-3fa2c1``."""
    if not is_image_folder(dataset):
        return dataset
    # realpath drops a trailing slash, turns "." into a real name and follows links.
    path = os.path.realpath(os.path.expanduser(dataset))
    digest = hashlib.sha1(path.encode()).hexdigest()[:6]
    return f"{Path(path).name or 'root'}-{digest}"


def check_exists(dataset: str) -> None:
    """Raise UsageError unless ``dataset`` is a built-in name or a folder with train/ and test/
    (the cheap part of loading it: before anything is written for it)."""
    if is_image_folder(dataset):
        _splits(_image_folder_root(dataset))


def fingerprint(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                y_test: np.ndarray) -> str:
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


def resolve_data_dir(data_dir: str | None) -> Path | None:
    """The explicit --data-dir, else the SWEEP_DATA_DIR environment variable, else None."""
    chosen = data_dir or Environment.read().data_dir
    return Path(chosen).expanduser() if chosen else None


def load_dataset(
    dataset: str,
    *,
    data_dir: str | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    color_mode: str = "auto",
    image_size: tuple[int, int] | None = None,
) -> Dataset:
    """Load, preprocess and split a built-in dataset or an image folder.

    `color_mode` and `image_size` apply to image folders only. Unknown names that are not
    existing folders raise UsageError listing the known datasets.
    """
    _check_fraction(val_fraction)
    if color_mode not in COLOR_MODES:
        raise UsageError(
            f"unknown color mode {color_mode!r}; use one of {', '.join(COLOR_MODES)}"
        )
    if image_size is not None:
        _check_image_size(image_size)

    if dataset == "digits":
        name, class_names = dataset, _CLASS_NAMES[dataset]
        (x_train, y_train), (x_test, y_test) = _load_digits()
        source = "scikit-learn load_digits"
    elif dataset in BUILTIN:
        name, class_names = dataset, _CLASS_NAMES[dataset]
        (x_train, y_train), (x_test, y_test), source = _load_builtin(dataset, data_dir)
        x_train, x_test = _to_unit_float(x_train), _to_unit_float(x_test)
    else:
        folder = _image_folder_root(dataset)
        name, source = results_name(dataset), f"{folder} (image folder)"
        (x_train, y_train), (x_test, y_test), class_names = _load_image_folder(
            folder, color_mode, image_size
        )

    x_train, x_test = _with_channels(x_train), _with_channels(x_test)
    y_train = np.asarray(y_train).reshape(-1).astype(np.int64)
    y_test = np.asarray(y_test).reshape(-1).astype(np.int64)
    loaded = fingerprint(x_train, y_train, x_test, y_test)
    x_train, y_train, x_val, y_val = split_validation(
        x_train, y_train, val_fraction, seed, class_names=class_names
    )
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
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=n_val, stratify=y, random_state=seed
    )
    return x_train, y_train, x_val, y_val


# --- validation of arguments ---------------------------------------------------------------


def _check_fraction(fraction: float) -> None:
    # numbers.Real also admits numpy scalars; a bool is never a meant fraction.
    ok = isinstance(fraction, numbers.Real) and not isinstance(fraction, bool)
    if not ok or not 0.0 < fraction < 1.0:
        raise UsageError(
            f"validation fraction must be between 0 and 1 (exclusive), got {fraction!r}; "
            "use e.g. --val-fraction 0.1"
        )


def _check_image_size(image_size: tuple[int, int]) -> None:
    try:
        ok = len(image_size) == 2 and all(int(s) == s and s > 0 for s in image_size)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise UsageError(
            f"image size must be two positive integers (height, width), got {image_size!r}"
        )


# --- built-in datasets ---------------------------------------------------------------------


def _keras_cache() -> Path:
    """Keras's dataset cache, found the way Keras finds it."""
    home = os.environ.get("KERAS_HOME")
    return (Path(home) if home else Path("~/.keras")).expanduser() / "datasets"


def _load_builtin(
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
    from sweep.backend import load_keras

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
        raise UsageError(
            f"{path} is not a readable {what} ({reason}); replace it with an intact copy"
        ) from exc


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
                raise UsageError(
                    f"cifar10: {batch_path} is missing; put the complete {_CIFAR_DIR}/ folder there"
                )
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
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
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


def _load_digits() -> _Arrays:
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


def _to_unit_float(x: np.ndarray) -> np.ndarray:
    scaled: np.ndarray = x.astype(np.float32) / np.float32(255.0)
    return scaled


def _with_channels(x: np.ndarray) -> np.ndarray:
    return x[..., np.newaxis] if x.ndim == 3 else x


# --- image folders -------------------------------------------------------------------------


def _image_folder_root(dataset: str) -> Path:
    folder = Path(dataset).expanduser()
    if not folder.is_dir():
        raise UsageError(
            f"unknown dataset {dataset!r}: not one of {', '.join(BUILTIN)} and no folder "
            f"{folder} exists; an image folder needs train/ and test/ subfolders with one "
            "folder of images per class"
        )
    return Path(os.path.abspath(folder))


def _class_sort_key(name: str) -> tuple[int, int, str]:
    # Numeric names sort as numbers so that "2" comes before "10".
    if name.isascii() and name.isdigit():
        return (0, int(name), name)
    return (1, 0, name)


def _class_folders(split_dir: Path) -> list[str]:
    # Hidden folders are skipped because Keras skips them too.
    names = [p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(names, key=_class_sort_key)


def _image_files(class_dir: Path) -> list[Path]:
    """Image files under a class folder, recursively and in order, as Keras indexes them."""
    found = []
    for root, _, files in sorted(os.walk(class_dir), key=lambda w: w[0]):
        found += [Path(root, f) for f in sorted(files) if f.lower().endswith(_IMAGE_EXTENSIONS)]
    return found


def _verify_images(split_dir: Path, class_names: list[str]) -> list[tuple[str, tuple[int, int]]]:
    """Check every image with PIL; return each one's (mode, (height, width)) in sorted order."""
    from PIL import Image

    info = []
    for name in class_names:
        files = _image_files(split_dir / name)
        if not files:
            raise UsageError(
                f"class folder {split_dir / name} holds no images; add .png/.jpg files to it "
                "or remove it"
            )
        for path in files:
            try:
                with Image.open(path) as img:
                    mode, (width, height) = img.mode, img.size
                    img.verify()
            except Exception as exc:  # PIL raises many types for broken files
                raise UsageError(
                    f"cannot read image {path} ({type(exc).__name__}); fix or remove the file"
                ) from exc
            info.append((mode, (height, width)))
    return info


def _default_image_size(height: int, width: int) -> tuple[int, int]:
    longest = max(height, width)
    if longest <= _MAX_AUTO_SIDE:
        return height, width
    scale = _MAX_AUTO_SIDE / longest
    return max(1, round(height * scale)), max(1, round(width * scale))


def _splits(folder: Path) -> dict[str, Path]:
    """An image folder's train/ and test/ subfolders, which must exist."""
    splits = {split: folder / split for split in ("train", "test")}
    for split, path in splits.items():
        if not path.is_dir():
            raise UsageError(
                f"image folder {folder} has no {split}/ subfolder; it needs train/<class>/ "
                "and test/<class>/ folders of images"
            )
    return splits


def _load_image_folder(
    folder: Path, color_mode: str, image_size: tuple[int, int] | None
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], list[str]]:
    """Verify an image folder's layout and files, then decode them with Keras."""
    splits = _splits(folder)
    class_names = _class_folders(splits["train"])
    if not class_names:
        raise UsageError(
            f"{splits['train']} has no class subfolders; put each class's images in "
            f"{splits['train']}/<class name>/"
        )
    if len(class_names) < 2:
        raise UsageError(
            f"{splits['train']} has one class folder ({class_names[0]}); a classifier needs at "
            "least two: add a folder of images for each other class"
        )
    test_classes = _class_folders(splits["test"])
    if set(test_classes) != set(class_names):
        only_train = sorted(set(class_names) - set(test_classes), key=_class_sort_key)
        only_test = sorted(set(test_classes) - set(class_names), key=_class_sort_key)
        raise UsageError(
            f"image folder {folder}: train/ and test/ have different classes (only in train: "
            f"{only_train or 'none'}; only in test: {only_test or 'none'}); use the same class "
            "folders in both"
        )

    train_info = _verify_images(splits["train"], class_names)
    _verify_images(splits["test"], class_names)
    if color_mode == "auto":
        grayscale = all(mode in _GRAYSCALE_MODES for mode, _ in train_info)
        color_mode = "grayscale" if grayscale else "rgb"
    size = image_size or _default_image_size(*train_info[0][1])
    size = (int(size[0]), int(size[1]))

    train = _decode_split(splits["train"], class_names, color_mode, size)
    test = _decode_split(splits["test"], class_names, color_mode, size)
    return train, test, class_names


def _decode_split(
    split_dir: Path, class_names: list[str], color_mode: str, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Decode and resize one split with Keras; pixels come back scaled to [0, 1]."""
    from sweep.backend import load_keras

    keras = load_keras()

    try:
        ds = keras.utils.image_dataset_from_directory(
            split_dir,
            labels="inferred",
            label_mode="int",
            class_names=class_names,
            color_mode=color_mode,
            image_size=size,
            shuffle=False,
            batch_size=256,
            verbose=False,
        )
        batches = list(ds.as_numpy_iterator())
    except Exception as exc:  # TensorFlow decoding errors for files PIL accepted
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"cannot decode the images in {split_dir} ({reason}); re-save them as PNG or JPEG"
        ) from exc
    x = np.concatenate([b[0] for b in batches]).astype(np.float32) / np.float32(255.0)
    y = np.concatenate([b[1] for b in batches])
    return x, y
