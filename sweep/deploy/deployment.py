"""What a trained model costs on a device: its TensorFlow Lite (LiteRT) files and its latency.

Measured the same way for every trial: the model as sweep exports it (plain Keras layers in
float32, :func:`sweep.models.build.portable`) converted to a float32 ``.tflite`` and to a full-integer
int8 one (post-training quantization, calibrated on up to :data:`CALIBRATION_IMAGES` training
images); latency is the median time of :data:`LATENCY_RUNS` single-image invocations of the
float32 file in the LiteRT interpreter on one thread of this CPU, after :data:`WARMUP_RUNS`
unmeasured ones. A median of a few hundred runs of a sub-millisecond call varies by a few percent
between runs on a quiet machine; on a busy one, compare latencies of one sweep only.

Imports TensorFlow: load lazily, where models are trained or exported.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from sweep.errors import first_line
from sweep.machine.backend import load_keras

CALIBRATION_IMAGES = 200
LATENCY_RUNS = 300
WARMUP_RUNS = 30


@dataclass(frozen=True)
class Deployment:
    """A trained model's deployment figures (sizes in KiB)."""

    tflite_kb: float
    int8_kb: float | None  # None: the model could not be quantized (see int8_error)
    latency_ms: float
    int8_error: str | None = None

    def attrs(self) -> dict[str, Any]:
        """As a trial's user attributes (the leaderboard's columns)."""
        figures: dict[str, Any] = {"tflite_kb": round(self.tflite_kb, 1), "latency_ms": round(self.latency_ms, 4)}
        if self.int8_kb is not None:
            figures["int8_kb"] = round(self.int8_kb, 1)
        if self.int8_error:
            figures["int8_error"] = self.int8_error
        return figures


@contextmanager
def quiet() -> Iterator[None]:
    """Silence what the converter and the interpreter print (Python and C alike) on the
    terminal, between a sweep's own lines; their errors still arrive as exceptions."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in zip((1, 2), saved, strict=True):
                os.dup2(copy, fd)
                os.close(copy)


def tflite(model: Any, calibration: np.ndarray | None = None) -> bytes:
    """``model`` as a float32 ``.tflite`` file, or, given calibration images, a full-integer one
    (int8 weights and activations, uint8 input and output as microcontrollers take them)."""
    load_keras()
    import tensorflow as tf

    from sweep.models.build import portable

    converter = tf.lite.TFLiteConverter.from_keras_model(portable(model))
    if calibration is not None:
        images = calibration[:CALIBRATION_IMAGES].astype(np.float32)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([image[None]] for image in images)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    with quiet(), warnings.catch_warnings():
        # "Statistics for quantized inputs were expected": the input's range is the images'.
        warnings.simplefilter("ignore", UserWarning)
        blob: bytes = converter.convert()
    return blob


def interpreter(blob: bytes) -> Any:
    """A LiteRT interpreter on one thread, tensors allocated."""
    try:
        from ai_edge_litert.interpreter import Interpreter  # type: ignore[import-untyped]
    except ImportError:  # platforms without the LiteRT wheel: TensorFlow's own
        load_keras()
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter  # noqa: N806
    with quiet():
        runner = Interpreter(model_content=blob, num_threads=1)
        runner.allocate_tensors()
    return runner


def latency_ms(blob: bytes) -> float:
    """Median milliseconds of one single-image invocation (see the module docstring)."""
    runner = interpreter(blob)
    source = runner.get_input_details()[0]
    image = np.zeros(source["shape"], source["dtype"])
    times = []
    for run in range(WARMUP_RUNS + LATENCY_RUNS):
        started = time.perf_counter()
        runner.set_tensor(source["index"], image)
        runner.invoke()
        if run >= WARMUP_RUNS:
            times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def predict(blob: bytes, images: np.ndarray) -> np.ndarray:
    """Class predictions of a ``.tflite`` model (float32, or full-integer with uint8 input),
    one image at a time, as a device runs it."""
    runner = interpreter(blob)
    source, target = runner.get_input_details()[0], runner.get_output_details()[0]
    scale, zero = source["quantization"]
    predicted = np.empty(len(images), dtype=np.int64)
    for index, image in enumerate(images):
        if source["dtype"] == np.uint8:
            image = np.clip(np.round(image / scale + zero), 0, 255)
        runner.set_tensor(source["index"], image[None].astype(source["dtype"]))
        runner.invoke()
        predicted[index] = int(np.argmax(runner.get_tensor(target["index"])[0]))
    return predicted


def measure(model: Any, calibration: np.ndarray) -> Deployment:
    """The deployment figures of a trained model."""
    floats = tflite(model)
    try:
        int8_kb, error = len(tflite(model, calibration)) / 1024, None
    except Exception as failure:  # the converter raises many types; the trial keeps its figures
        int8_kb, error = None, f"{type(failure).__name__}: {first_line(failure)[:200]}"
    return Deployment(len(floats) / 1024, int8_kb, latency_ms(floats), error)


def figures(model: Any, calibration: np.ndarray) -> dict[str, Any]:
    """:func:`measure`'s figures as attributes, or ``deploy_error`` where LiteRT cannot convert
    or run the model (an op of a user's model it lacks, say): what was trained still stands."""
    try:
        return measure(model, calibration).attrs()
    except Exception as error:
        return {"deploy_error": f"{type(error).__name__}: {error}"[:300]}
