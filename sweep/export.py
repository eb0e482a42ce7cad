"""``sweep export``: the best model in the format a deployment needs.

keras (``.keras``), h5 (legacy HDF5), savedmodel (TensorFlow Serving) and tflite (LiteRT, for
phones and microcontrollers). Every format is written beside, then renamed into place.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from sweep.config import DataConfig
from sweep.errors import UsageError
from sweep.files import atomic_write, ensure_writable

if TYPE_CHECKING:
    import keras

FILE_NAMES = {"keras": "model.keras", "h5": "model.h5", "savedmodel": "savedmodel", "tflite": "model.tflite"}


def export_model(model: keras.Model, folder: Path, fmt: str) -> Path:
    """Write ``model`` under ``folder`` in format ``fmt``; returns the file or folder written."""
    if fmt not in FILE_NAMES:
        raise UsageError(f"unknown export format {fmt!r}; use {', '.join(FILE_NAMES)}")
    target = folder / FILE_NAMES[fmt]
    folder.mkdir(parents=True, exist_ok=True)
    from sweep.models import portable

    model = portable(model)
    if fmt in ("keras", "h5"):
        return atomic_write(target, model.save)
    if fmt == "tflite":
        return atomic_write(target, lambda tmp: model.export(str(tmp), format="litert", verbose=False))
    # A SavedModel is a folder: build it beside the old one, then swap.
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=".savedmodel."))
    try:
        _export_saved_model(model, staging / "model")
        old = folder / f".savedmodel.old.{os.getpid()}"
        if target.exists():
            target.rename(old)
        (staging / "model").rename(target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _export_saved_model(model: keras.Model, path: Path) -> None:
    """A SavedModel whose ``serve`` endpoint runs in inference mode.

    ``model.export`` calls the model without ``training=False``, which leaves the random
    augmentation layers active in the served graph; an explicit endpoint fixes that.
    """
    from sweep.backend import load_keras

    keras = load_keras()
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serve",
        fn=lambda images: model(images, training=False),
        input_signature=[tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="image")],
    )
    archive.write_out(str(path), verbose=False)


def run_export(data: DataConfig, fmt: str) -> int:
    """``sweep export``: convert results/<dataset>/best/model.keras."""
    source = data.folder / "best" / "model.keras"
    if not source.is_file():
        raise UsageError(f"{source} not found: run `make sweep DATASET={data.dataset}` (or `make retrain`) first")
    folder = ensure_writable(data.folder / "export")
    from sweep.models import load_saved

    written = export_model(load_saved(source), folder, fmt)
    print(f"Exported {source} as {fmt}: {written}")
    return 0
