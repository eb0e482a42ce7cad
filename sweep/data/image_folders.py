"""Image folders: ``dir/train/<class>/*`` and ``dir/test/<class>/*``, the MNIST notebook's layout.

Every file is checked with PIL first (one clear line for a broken one), then decoded and resized
with Keras's ``image_dataset_from_directory`` (TensorFlow is imported for that).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sweep.errors import UsageError, first_line

# The same extensions Keras's image_dataset_from_directory reads, so that every file it loads has
# been verified first; matched case-insensitively like Keras does.
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
_GRAYSCALE_MODES = frozenset({"1", "L", "LA", "I", "I;16"})
COLOR_MODES = ("auto", "grayscale", "rgb")
# Default longest image side for image folders: large photos would make CPU training crawl.
_MAX_AUTO_SIDE = 64


def image_folder_root(dataset: str, builtin: Sequence[str]) -> Path:
    folder = Path(dataset).expanduser()
    if not folder.is_dir():
        raise UsageError(
            f"unknown dataset {dataset!r}: not one of {', '.join(builtin)} and no folder "
            f"{folder} exists; an image folder needs train/ and test/ subfolders with one "
            "folder of images per class (or give a .npz file of arrays)"
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
            raise UsageError(f"class folder {split_dir / name} holds no images; add .png/.jpg files to it or remove it")
        for path in files:
            try:
                with Image.open(path) as img:
                    mode, (width, height) = img.mode, img.size
                    img.verify()
            except Exception as exc:  # PIL raises many types for broken files
                raise UsageError(f"cannot read image {path} ({type(exc).__name__}); fix or remove the file") from exc
            info.append((mode, (height, width)))
    return info


def _default_image_size(height: int, width: int) -> tuple[int, int]:
    longest = max(height, width)
    if longest <= _MAX_AUTO_SIDE:
        return height, width
    scale = _MAX_AUTO_SIDE / longest
    return max(1, round(height * scale)), max(1, round(width * scale))


def split_folders(folder: Path) -> dict[str, Path]:
    """An image folder's train/ and test/ subfolders, which must exist."""
    splits = {split: folder / split for split in ("train", "test")}
    for split, path in splits.items():
        if not path.is_dir():
            raise UsageError(
                f"image folder {folder} has no {split}/ subfolder; it needs train/<class>/ "
                "and test/<class>/ folders of images"
            )
    return splits


def load_image_folder(
    folder: Path, color_mode: str, image_size: tuple[int, int] | None
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], list[str]]:
    """Verify an image folder's layout and files, then decode them with Keras."""
    splits = split_folders(folder)
    class_names = _class_folders(splits["train"])
    if not class_names:
        raise UsageError(
            f"{splits['train']} has no class subfolders; put each class's images in {splits['train']}/<class name>/"
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
    from sweep.machine.backend import load_keras

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
        raise UsageError(
            f"cannot decode the images in {split_dir} ({first_line(exc)}); re-save them as PNG or JPEG"
        ) from exc
    x = np.concatenate([b[0] for b in batches]).astype(np.float32) / np.float32(255.0)
    y = np.concatenate([b[1] for b in batches])
    return x, y
