"""Builders shared by the tests: tiny, deterministic datasets in the exact on-disk formats
`sweep.data.registry` reads, search spaces, made-up trials, and checks of a sweep's results.

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
from typing import Any

import numpy as np
import optuna
import pandas as pd
import yaml
from optuna.trial import FrozenTrial, TrialState, create_trial

from sweep.data.registry import Dataset
from sweep.models.params import MNIST_BASELINE
from sweep.space.spaces import SearchSpace, parse_space, shipped_spaces

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


# --- search spaces and models --------------------------------------------------------------

SOURCE = "my_space.yaml"


def parse(text: str, source: str = SOURCE) -> SearchSpace:
    """The search space of YAML ``text``, as if read from the file ``source``."""
    return parse_space(yaml.safe_load(text), source)


# The search spaces that ship with sweep, by name (mnist, ..., image_folder).
SHIPPED = {path.stem: path for path in shipped_spaces()}

# A tiny space so that every trial trains for a few seconds on digits.
FAST_SPACE = """\
params:
  filters_1:     {type: int, low: 8, high: 32, step: 8}
  dense_units:   {type: categorical, choices: [32, 64]}
  learning_rate: {type: float, low: 1.0e-3, high: 1.0e-2, log: true}
  epochs:        {type: int, low: 2, high: 4}
"""


def space_file(folder: Path) -> str:
    """FAST_SPACE written to `folder`/space.yaml; returns its path."""
    path = folder / "space.yaml"
    path.write_text(FAST_SPACE)
    return str(path)


# The MNIST notebook's CNN, with few filters and units: quick to build and train.
TINY = {**MNIST_BASELINE, "filters_1": 4, "filters_2": 4, "dense_units": 8}


# --- trials and studies --------------------------------------------------------------------


def timed_trial(
    number: int,
    value: float | None,
    *,
    fit: float | None = 100.0,
    epochs_run: int = 5,
    epochs: int = 5,
    best_epoch: int = 5,
    schedule: str = "constant",
    state: TrialState = TrialState.COMPLETE,
    epochs_seconds: float | None = None,
    stopped: bool = False,
    baseline: bool = False,
    augment: float | None = None,
) -> FrozenTrial:
    """A trial with the epochs and timings the time limit (`sweep.search.budget`) reads."""
    shifts = {} if augment is None else {"augment": augment}
    attrs: dict[str, Any] = {
        "params": {"epochs": epochs, "lr_schedule": schedule, **shifts},
        "epochs_run": epochs_run,
        "best_epoch": best_epoch,
    }
    if stopped:
        attrs["stopped"] = "timeout"
    if baseline:
        attrs["is_baseline"] = True
    if fit is not None:
        attrs["fit_seconds"] = fit
    if epochs_seconds is not None:
        attrs["epochs_seconds"] = epochs_seconds
    made = create_trial(state=state, value=value if state == TrialState.COMPLETE else None, user_attrs=attrs)
    made.number = number
    return made


def candidate_trial(
    number: int,
    value: float | None,
    *,
    baseline: bool = False,
    dense: int = 128,
    state: TrialState = TrialState.COMPLETE,
) -> FrozenTrial:
    """A trial that may become the answer (`sweep.search.rescore`); trials differ in their dense units."""
    attrs: dict[str, Any] = {"params": {"dense_units": dense, "epochs": 5}}
    if baseline:
        attrs["is_baseline"] = True
    made = create_trial(state=state, value=value if state == TrialState.COMPLETE else None, user_attrs=attrs)
    made.number = number
    return made


class PruneAll(optuna.pruners.BasePruner):
    """Prunes every trial at its first report, and remembers which trials asked."""

    def __init__(self) -> None:
        self.asked: set[int] = set()

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        self.asked.add(trial.number)
        return True


def check_study(study: optuna.Study, trials: int, leaderboard: Path) -> None:
    """TRIALS finished trials, numbers unique and gapless, and the CSV says what storage says."""
    numbers = [t.number for t in study.trials]
    assert numbers == list(range(len(numbers)))
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == trials
    board = pd.read_csv(leaderboard)
    assert sorted(board["trial"]) == numbers
    stored = {t.number: t.state.name.lower() for t in study.trials}
    assert dict(zip(board["trial"], board["state"])) == stored


# The seconds an epoch of the digits baseline took where the end-to-end tests' time limits were
# set (2-core AVX512-BF16, under load); on a machine k times slower those limits scale by k.
REFERENCE_DIGITS_EPOCH = 0.3


def scaled_limit(seconds: float) -> int:
    """``seconds`` of the reference machine on this one: a time limit scaled by how long an
    epoch of the digits baseline takes here (the median of three after the first, which traces),
    never below ``seconds``. Tests of the time limit's planning then hold on every processor."""
    import time

    from sweep.data.registry import load_dataset
    from sweep.models import train as training
    from sweep.models.params import Architecture, baseline_params

    data = load_dataset("digits")
    arch = Architecture.from_params(baseline_params("digits", data.input_shape))
    model = training.new_model(arch, data.input_shape, data.num_classes, 0, len(data.x_train))
    ends: list[float] = []
    training.train(
        model,
        arch,
        data.x_train,
        data.y_train,
        seed=0,
        epochs=4,
        validation=(data.x_val, data.y_val),
        callbacks=[training.EpochEnd(lambda epoch, logs: ends.append(time.perf_counter()))],
    )
    training.release()
    epoch = sorted(b - a for a, b in zip(ends, ends[1:]))[1]
    return round(seconds * max(1.0, epoch / REFERENCE_DIGITS_EPOCH))
