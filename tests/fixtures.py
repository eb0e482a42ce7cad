"""Builders for tiny, deterministic datasets in the exact on-disk formats `sweep.datasets` reads.

Images carry a class-dependent pattern (a bright horizontal band whose position depends on the
class, plus noise) so that a small model can actually learn them.
"""

from __future__ import annotations

import gzip
import pickle
import shutil
import struct
import tarfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

CIFAR_LABEL_NAMES = [
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
]


def patterned_images(
    labels: np.ndarray, num_classes: int, shape: tuple[int, ...], rng: np.random.Generator
) -> np.ndarray:
    """uint8 images of `shape` (h, w) or (h, w, c): class i lights the i-th horizontal band."""
    images = rng.integers(0, 60, size=(len(labels), *shape), dtype=np.uint8)
    height = shape[0]
    for i, label in enumerate(labels):
        top = int(label) * height // num_classes
        bottom = max(top + 1, (int(label) + 1) * height // num_classes)
        images[i, top:bottom] = 200 + rng.integers(0, 56, dtype=np.uint8)
    return images


def _cycling_labels(n: int, num_classes: int = 10) -> np.ndarray:
    # Cycling rather than random labels guarantees every class is present even in tiny sets.
    return (np.arange(n) % num_classes).astype(np.uint8)


def write_mnist_npz(folder: Path, n_train: int = 60, n_test: int = 20, seed: int = 0) -> Path:
    """Write Keras's mnist.npz format (uint8 28x28, labels 0..9) into `folder`; return the file."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    y_train, y_test = _cycling_labels(n_train), _cycling_labels(n_test)
    path = folder / "mnist.npz"
    np.savez(
        path,
        x_train=patterned_images(y_train, 10, (28, 28), rng),
        y_train=y_train,
        x_test=patterned_images(y_test, 10, (28, 28), rng),
        y_test=y_test,
    )
    return path


def write_fashion_mnist(folder: Path, n_train: int = 60, n_test: int = 20, seed: int = 0) -> Path:
    """Write Keras's gzipped IDX files into `folder`/fashion-mnist; return that folder."""
    rng = np.random.default_rng(seed)
    target = folder / "fashion-mnist"
    target.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = _cycling_labels(n)
        images = patterned_images(labels, 10, (28, 28), rng)
        # IDX headers: magic number, item count (and rows, cols for images), big-endian int32.
        with gzip.open(target / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(struct.pack(">II", 0x801, n) + labels.tobytes())
        with gzip.open(target / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(struct.pack(">IIII", 0x803, n, 28, 28) + images.tobytes())
    return target


def write_cifar10(folder: Path, n_per_batch: int = 10, archive: bool = False, seed: int = 0) -> Path:
    """Write the CIFAR-10 python version into `folder`; return the batches folder or archive.

    Creates `folder`/cifar-10-batches-py/ with data_batch_1..5, test_batch and batches.meta, or
    with `archive=True` only `folder`/cifar-10-batches-py.tar.gz holding that folder.
    """
    rng = np.random.default_rng(seed)
    target = folder / "cifar-10-batches-py"
    target.mkdir(parents=True, exist_ok=True)
    for batch in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = _cycling_labels(n_per_batch)
        # Pattern in HWC like every other image, stored channel-planar (N, 3*32*32) like CIFAR.
        images = patterned_images(labels, 10, (32, 32, 3), rng)
        data = images.transpose(0, 3, 1, 2).reshape(n_per_batch, 3072)
        entry = {
            b"batch_label": batch.encode(),
            b"labels": [int(v) for v in labels],
            b"data": data,
            b"filenames": [f"{batch}_{i}.png".encode() for i in range(n_per_batch)],
        }
        with open(target / batch, "wb") as f:
            pickle.dump(entry, f)
    meta = {
        b"label_names": [n.encode() for n in CIFAR_LABEL_NAMES],
        b"num_cases_per_batch": n_per_batch,
        b"num_vis": 3072,
    }
    with open(target / "batches.meta", "wb") as f:
        pickle.dump(meta, f)
    if not archive:
        return target
    path = folder / "cifar-10-batches-py.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(target, arcname=target.name)
    shutil.rmtree(target)
    return path


def write_image_folder(
    folder: Path,
    classes: Sequence[str] = ("0", "1", "2"),
    n_train: int = 6,
    n_test: int = 3,
    size: tuple[int, int] = (28, 28),
    mode: str = "L",
    ext: str = "png",
    seed: int = 0,
) -> Path:
    """Write `folder`/{train,test}/<class>/NNN.<ext> images with Pillow; return `folder`.

    `size` is (height, width); `n_train` and `n_test` are per class; `mode` is a PIL mode
    ("L", "RGB", "RGBA", ...).
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    channels = len(Image.new(mode, (1, 1)).getbands())
    shape = size if channels == 1 else (*size, channels)
    for split, n in (("train", n_train), ("test", n_test)):
        for index, name in enumerate(classes):
            class_dir = folder / split / name
            class_dir.mkdir(parents=True, exist_ok=True)
            labels = np.full(n, index)
            images = patterned_images(labels, len(classes), shape, rng)
            if channels == 4:
                images[..., 3] = 255  # opaque, so the alpha channel doesn't hide the pattern
            for i, pixels in enumerate(images):
                Image.fromarray(pixels).convert(mode).save(class_dir / f"{i:03d}.{ext}")
    return folder
