"""Array datasets: NumPy arrays from Python, or a ``.npz`` file holding them.

The file has Keras's ``mnist.npz`` layout: ``x_train``, ``y_train``, ``x_test``, ``y_test``, and
optionally ``class_names`` (strings). Images are (n, height, width) or (n, height, width, 1 or 3),
either integers in 0..255 or floats in [0, 1]; labels are integers 0..classes-1. Arrays are
checked here, before anything trains, and every problem is one line naming the array.
The Python API (:mod:`sweep.interface.api`) writes the user's arrays to such a file so that worker
processes, retrains and exports read the very same data.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sweep.data.keras_files import to_unit_float
from sweep.errors import UsageError
from sweep.files import atomic_write

ARRAY_FILE_SUFFIX = ".npz"
KEYS = ("x_train", "y_train", "x_test", "y_test")


def is_array_file(dataset: str) -> bool:
    """True when ``dataset`` names a ``.npz`` file of arrays (it need not exist yet)."""
    return dataset.lower().endswith(ARRAY_FILE_SUFFIX)


# The most classes a dataset without class names may have: its labels name them 0..k-1, and a
# stray label of 10^12 must not become 10^12 class names.
MAX_CLASSES = 100_000


def check_arrays(
    x_train: Any, y_train: Any, x_test: Any, y_test: Any, class_names: Sequence[str] | None = None
) -> list[str]:
    """Raise UsageError for arrays that cannot train a classifier; returns the class names
    (``class_names``, or "0", "1", … from the labels)."""
    images = {"x_train": x_train, "x_test": x_test}
    for name, x in images.items():
        _check_images(name, x)
    if x_train.shape[1:] != x_test.shape[1:]:
        raise UsageError(
            f"x_train's images are {_image_shape(x_train)} but x_test's are {_image_shape(x_test)}; "
            "give both splits images of one size"
        )
    labels = {"y_train": _labels("y_train", y_train, len(x_train)), "y_test": _labels("y_test", y_test, len(x_test))}
    highest = max(int(y.max()) for y in labels.values())
    present_anywhere = len(np.unique(np.concatenate([labels["y_train"], labels["y_test"]])))
    if class_names is None and highest + 1 > MAX_CLASSES:
        raise UsageError(
            f"labels go up to {highest} ({present_anywhere} distinct values); labels are class indices "
            f"0..k-1 with k at most {MAX_CLASSES:,}: renumber them (np.unique(y, return_inverse=True))"
        )
    names = [str(i) for i in range(highest + 1)] if class_names is None else list(class_names)
    if not all(isinstance(name, str) and name for name in names) or len(set(names)) != len(names):
        raise UsageError(f"class_names must be distinct, non-empty strings; got {list(names)!r}")
    if highest >= len(names):
        raise UsageError(
            f"labels go up to {highest} but there are {len(names)} class names; labels must be 0..{len(names) - 1}"
        )
    present = np.unique(labels["y_train"])
    if len(present) < 2:
        raise UsageError(f"y_train holds one class ({names[int(present[0])]!r}); a classifier needs at least two")
    return names


def _image_shape(x: np.ndarray) -> str:
    return "×".join(str(side) for side in x.shape[1:])


def _check_images(name: str, x: Any) -> None:
    if not isinstance(x, np.ndarray):
        raise UsageError(f"{name} is a {type(x).__name__}, not a NumPy array; pass np.asarray(...) of the images")
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in (1, 3)):
        raise UsageError(
            f"{name} has shape {x.shape}; images must be (n, height, width) or (n, height, width, channels) "
            "with 1 or 3 channels"
        )
    if len(x) == 0:
        raise UsageError(f"{name} holds no images")
    if min(x.shape[1:3]) < 4:
        raise UsageError(f"{name}'s images are {_image_shape(x)}; they must be at least 4×4 pixels")
    if np.issubdtype(x.dtype, np.integer):
        if x.min() < 0 or x.max() > 255:
            raise UsageError(f"{name} holds integers from {x.min()} to {x.max()}; integer pixels must be 0..255")
    elif np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all():
            raise UsageError(f"{name} holds NaN or infinite pixels")
        if x.min() < 0 or x.max() > 1:
            raise UsageError(
                f"{name} holds floats from {x.min():g} to {x.max():g}; float pixels must be in [0, 1] "
                "(divide by 255, or pass the uint8 images)"
            )
    else:
        raise UsageError(f"{name} has dtype {x.dtype}; images must be integers 0..255 or floats in [0, 1]")


def _labels(name: str, y: Any, count: int) -> np.ndarray:
    if not isinstance(y, np.ndarray):
        raise UsageError(f"{name} is a {type(y).__name__}, not a NumPy array; pass np.asarray(...) of the labels")
    if y.ndim == 2 and y.shape[1] > 1:
        raise UsageError(f"{name} has shape {y.shape}, one-hot perhaps; pass class indices: y.argmax(axis=1)")
    flat = y.reshape(-1)
    if y.ndim > 2 or len(flat) != count:
        raise UsageError(f"{name} has shape {y.shape} but there are {count} images; give one label per image")
    if not np.issubdtype(flat.dtype, np.integer):
        if not np.issubdtype(flat.dtype, np.floating) or not np.all(np.isfinite(flat)):
            raise UsageError(
                f"{name} has dtype {y.dtype} or values that are not numbers; labels must be class indices 0, 1, 2, …"
            )
        if not np.all(np.mod(flat, 1) == 0):
            raise UsageError(f"{name} has dtype {y.dtype}; labels must be class indices 0, 1, 2, …")
    if flat.min() < 0:
        raise UsageError(f"{name} holds the label {flat.min()}; labels must be class indices 0, 1, 2, …")
    return flat.astype(np.int64)


def save_array_file(
    path: Path,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    class_names: Sequence[str],
) -> Path:
    """Write checked arrays to ``path`` (atomically), in the layout :func:`load_array_file` reads."""

    def write(tmp: Path) -> None:
        np.savez(tmp, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, class_names=np.array(class_names))

    return atomic_write(path, write)


def load_array_file(
    dataset: str,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], list[str], str]:
    """The checked arrays of a ``.npz`` file, images as float32 in [0, 1]: train, test, class
    names and a description of the source."""
    path = Path(dataset).expanduser()
    if not path.is_file():
        raise UsageError(f"no array file {path}; a .npz dataset holds {', '.join(KEYS)} (and optionally class_names)")
    try:
        arrays = np.load(path, allow_pickle=False)
        if not isinstance(arrays, np.lib.npyio.NpzFile):  # one .npy array, renamed
            raise UsageError(f"{path} holds one array, not a .npz of {', '.join(KEYS)}; save them with np.savez")
        with arrays:
            missing = [key for key in KEYS if key not in arrays.files]
            if missing:
                raise UsageError(f"{path} lacks {', '.join(missing)}; a .npz dataset holds {', '.join(KEYS)}")
            data = {key: arrays[key] for key in (*KEYS, "class_names") if key in arrays.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise UsageError(f"cannot read {path} as a .npz file of arrays: {error or 'it is empty'}") from None
    except MemoryError:  # a member whose header declares more than this machine holds
        raise UsageError(f"cannot read {path}: an array in it is larger than this machine's memory") from None
    given = data.get("class_names")
    names = check_arrays(
        data["x_train"], data["y_train"], data["x_test"], data["y_test"],
        None if given is None else [str(name) for name in given],
    )  # fmt: skip
    train, test = normalized(data["x_train"], data["y_train"], data["x_test"], data["y_test"])
    return train, test, names, f"{path.resolve()} (arrays)"


def normalized(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Checked arrays as a dataset holds them: images float32 in [0, 1] (integers divided by
    255), labels flat int64."""

    def images(x: np.ndarray) -> np.ndarray:
        return to_unit_float(x) if np.issubdtype(x.dtype, np.integer) else x.astype(np.float32)

    def labels(y: np.ndarray) -> np.ndarray:
        return y.reshape(-1).astype(np.int64)

    return (images(x_train), labels(y_train)), (images(x_test), labels(y_test))
