"""``sweep export``: the best model in the format a deployment needs.

keras (``.keras``), h5 (legacy HDF5), savedmodel (TensorFlow Serving), tflite (LiteRT, for
phones) and tflite-int8 (full-integer quantization, for microcontrollers: its test accuracy is
measured in the interpreter beside the float file's). Every format is written beside, then
renamed into place.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from sweep.commands.ensemble import SINGLE_FILE, SINGLE_FOLDER
from sweep.errors import UsageError, first_line
from sweep.files import atomic_write, ensure_writable, make_folder
from sweep.settings import DataConfig

if TYPE_CHECKING:
    import keras
    import numpy as np

FILE_NAMES = {
    "keras": "model.keras",
    "h5": "model.h5",
    "savedmodel": "savedmodel",
    "tflite": "model.tflite",
    "tflite-int8": "model_int8.tflite",
}


def export_model(model: keras.Model, folder: Path, fmt: str, calibration: np.ndarray | None = None) -> Path:
    """Write ``model`` under ``folder`` in format ``fmt``; returns the file or folder written.
    ``tflite-int8`` needs ``calibration`` images (from the training split)."""
    if fmt not in FILE_NAMES:
        raise UsageError(f"unknown export format {fmt!r}; use {', '.join(FILE_NAMES)}")
    target = folder / FILE_NAMES[fmt]
    make_folder(folder)
    from sweep.models.build import portable

    model = portable(model)
    if fmt in ("keras", "h5"):
        return atomic_write(target, model.save)
    if fmt == "tflite":
        return atomic_write(target, lambda tmp: model.export(str(tmp), format="litert", verbose=False))
    if fmt == "tflite-int8":
        from sweep.deploy.deployment import tflite

        assert calibration is not None, "int8 quantization needs calibration images"
        try:
            blob = tflite(model, calibration)
        except Exception as error:  # the converter raises many types: one line naming the cause
            raise UsageError(
                f"this model cannot be fully quantized to int8 ({first_line(error)[:200]}); export tflite"
            ) from None
        return atomic_write(target, lambda tmp: tmp.write_bytes(blob))
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
    from sweep.machine.backend import load_keras

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


def _study_data(data: DataConfig) -> DataConfig:
    """The data settings the study recorded (split, image size, colour mode), where there is a
    study; ``data`` as given otherwise."""
    from sweep.search.study import load_study, recorded_data, recorded_settings
    from sweep.settings import SweepConfig

    try:
        record = recorded_settings(load_study(data, SweepConfig()))
    except UsageError:
        return data
    return recorded_data(record, data.data_dir, data.results)


def run_export(data: DataConfig, fmt: str, single: bool = False) -> int:
    """``sweep export``: convert results/<dataset>/best/model.keras (``single``: the first of the
    models it averages, best/single.keras, :mod:`sweep.commands.ensemble`)."""
    source = data.folder / "best" / "model.keras"
    if not source.is_file():
        raise UsageError(f"{source} not found: run `make sweep DATASET={data.dataset}` (or `make retrain`) first")
    if single:
        source = source.with_name(SINGLE_FILE)
        if not source.is_file():
            raise UsageError(f"{source} not found: the answer is one model already; export it without --single")
    folder = ensure_writable(data.folder / "export" / (SINGLE_FOLDER if single else ""))
    from sweep.models.build import load_saved

    model = load_saved(source)
    if fmt != "tflite-int8":
        print(f"Exported {source} as {fmt}: {export_model(model, folder, fmt)}")
        return 0
    from sweep.deploy.deployment import predict, tflite
    from sweep.files import write_json
    from sweep.progress import Display
    from sweep.settings import load_checked

    dataset = load_checked(_study_data(data), Display())
    written = export_model(model, folder, fmt, dataset.x_train)
    x, y = dataset.x_test, dataset.y_test
    floats = tflite(model)
    figures = {
        "int8_test_accuracy": float((predict(written.read_bytes(), x) == y).mean()),
        "float_test_accuracy": float((predict(floats, x) == y).mean()),
        "int8_kb": round(written.stat().st_size / 1024, 1),
        "float_kb": round(len(floats) / 1024, 1),
        "test_images": len(y),
    }
    write_json(folder / "model_int8.json", figures)
    loss = figures["float_test_accuracy"] - figures["int8_test_accuracy"]
    print(
        f"Exported {source} as {fmt}: {written}\n"
        f"Test accuracy in LiteRT: int8 {figures['int8_test_accuracy']:.4f}, float32 "
        f"{figures['float_test_accuracy']:.4f} ({loss:+.4f} lost); {figures['int8_kb']:,.1f} KiB against "
        f"{figures['float_kb']:,.1f} KiB ({figures['float_kb'] / figures['int8_kb']:.1f}× smaller). "
        f"Figures: {folder / 'model_int8.json'}"
    )
    return 0
