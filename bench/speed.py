"""Training throughput of the MNIST baseline CNN, and how far it is from the compute floor.

Three figures, each measured in its own fresh process so that thread settings do not leak:

- the notebook: plain ``model.fit`` on NumPy arrays, batch 32, TensorFlow's default threads;
- the sweep's trial path (:func:`sweep.models.train.train`, validation included) at several batch
  sizes, in one process using every core and in one process per core side by side, as the
  default ``WORKERS`` layout runs trials; in float32 too where the machine computes in bfloat16,
  and compiled with XLA (``trial-xla``), which the sweep does not use because it loses here;
- the compute floor: the CNN's training FLOPs per image over the best matrix-multiply rate of
  the row's precision (:mod:`bench.floor`).

``python -m bench.speed notebook|trial|trial-xla BATCH`` is the measuring child; it prints one
JSON line.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from bench.common import side_by_side

# The sweep's epochs after the first: the first includes tracing and is not steady state.
TIMED_EPOCH = 2
TRIAL_BATCH = 128  # the default space's batch size
MNIST_SHAPE = (28, 28, 1)


# The slowest machine kind's trial path (2-core AMD EPYC, AVX2 only, float32): MNIST's baseline
# at batch 128, 2 processes x 1 thread, seconds per 60k images (shared/reference/slowest-kind/).
SLOWEST_SECONDS_PER_60K = 33.5


def slowest_time_limit(limit: float) -> tuple[float, float]:
    """The time limit that gives this machine the slowest kind's ``limit`` seconds of work, and
    r, this machine's trial-path time over the slowest kind's, both measured in float32 (which
    it sets for every child process of this benchmark)."""
    os.environ["SWEEP_PRECISION"] = "float32"
    measured = measure("trial", TRIAL_BATCH, processes=2, threads=1)["seconds_per_60k"]
    ratio = measured / SLOWEST_SECONDS_PER_60K
    return float(round(limit * ratio)), ratio


def floor_seconds(flops_per_image: float, gflops: float, images: int = 60_000) -> float:
    """Seconds to train on ``images`` images at the matrix-multiply rate: the compute floor."""
    return images * flops_per_image / (gflops * 1e9)


def child_environment(threads: int | None, precision: str | None) -> dict[str, str]:
    """A measuring child's environment: ``threads`` pins the sweep's thread pools (None:
    TensorFlow's own), ``precision`` sets SWEEP_PRECISION (None: the machine's or the caller's)."""
    env = {**os.environ}
    env.pop("SWEEP_THREADS", None)
    if threads is not None:
        env["SWEEP_THREADS"] = str(threads)
    if precision is not None:
        env["SWEEP_PRECISION"] = precision
    return env


def measure(
    mode: str, batch: int, processes: int = 1, threads: int | None = None, precision: str | None = None
) -> dict[str, Any]:
    """Train ``processes`` copies side by side; seconds per 60k images for all of them together."""
    results = side_by_side("bench.speed", [mode, str(batch)], processes, child_environment(threads, precision))
    images_per_s = sum(r["images"] / r["seconds"] for r in results)
    return {
        "setup": mode,
        "batch_size": batch,
        "processes": processes,
        "threads_each": threads if threads is not None else "default",
        "precision": results[0]["precision"],
        "images_per_s": round(images_per_s, 1),
        "seconds_per_60k": round(60_000 / images_per_s, 2),
    }


class _EpochTimer:
    """A Keras callback factory that records the wall time of every epoch."""

    @staticmethod
    def make(keras: Any) -> Any:
        class Timer(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.seconds: list[float] = []

            def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
                self.started = time.perf_counter()

            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                self.seconds.append(time.perf_counter() - self.started)

        return Timer()


def _notebook(batch: int) -> dict[str, float]:
    """The MNIST notebook's CNN and ``fit`` call, untouched: NumPy arrays, default threads."""
    import keras
    import numpy as np

    from sweep.data.registry import load_dataset

    data = load_dataset("mnist", val_fraction=0.1)
    x = np.concatenate([data.x_train, data.x_val])
    y = np.concatenate([data.y_train, data.y_val])
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input(MNIST_SHAPE),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    timer = _EpochTimer.make(keras)
    model.fit(x, y, batch_size=batch, epochs=TIMED_EPOCH, callbacks=[timer], verbose=0)
    return {"images": len(x), "seconds": timer.seconds[-1], "precision": model.dtype_policy.name}


def _trial(batch: int, xla: bool = False) -> dict[str, Any]:
    """The baseline CNN through the sweep's own trial path, validation included; ``xla``
    compiles its steps with XLA (``jit_compile``), as Keras does by default only on GPUs."""
    from sweep.data.registry import load_dataset
    from sweep.models import train as training
    from sweep.models.params import Architecture, baseline_params

    data = load_dataset("mnist", val_fraction=0.1)
    arch = Architecture.from_params({**baseline_params("mnist", MNIST_SHAPE), "batch_size": batch})
    model = training.new_model(arch, data.input_shape, data.num_classes, 0, len(data.x_train))
    if xla:
        model.jit_compile = True  # read when the first step is traced, so before training
    timer = _EpochTimer.make(training.keras)
    training.train(
        model,
        arch,
        data.x_train,
        data.y_train,
        seed=0,
        epochs=TIMED_EPOCH,
        validation=(data.x_val, data.y_val),
        callbacks=[timer],
    )
    return {"images": len(data.x_train), "seconds": timer.seconds[-1], "precision": model.dtype_policy.name}


if __name__ == "__main__":
    mode, size = sys.argv[1], int(sys.argv[2])
    result = _notebook(size) if mode == "notebook" else _trial(size, xla=mode == "trial-xla")
    print(json.dumps(result), flush=True)
