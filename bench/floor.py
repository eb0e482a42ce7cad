"""The honest compute floor of this machine, and where the trial path's time goes layer by layer.

The floor is the best matrix-multiply rate reached here by any means at hand: TensorFlow and
NumPy's BLAS, in float32 and (where the CPU multiplies it natively) bfloat16, as one process
using every core and as one single-thread process per core side by side. Each candidate runs
in a fresh process so that thread settings do not leak; the table says which one won.

The layer table times each layer of the baseline CNN on its own (forward and both backward
passes, one thread, the trial path's batch and precision), so that a layer that cannot reach
the floor (the first convolution has one input channel) is measured, not guessed.

``python -m bench.floor matmul LIBRARY DTYPE THREADS`` and ``python -m bench.floor layers BATCH``
are the measuring children; each prints one JSON line.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Any

import pandas as pd

from bench.common import side_by_side

MATMUL_SIZE = 2048
# Each measurement keeps the fastest of the repeats it fits in this many seconds: the floor is
# what the hardware can do, so noise from a neighbour only ever makes a repeat slower.
MATMUL_SECONDS = 3.0
STEPS_PER_CALL, LAYER_CALLS = 16, 5  # timed training steps per layer: 80, after a warm-up call
IMAGES = 60_000


def floor_candidates(cores: int, bfloat16: bool) -> list[tuple[str, str, int, int]]:
    """(library, dtype, processes, threads each) to try: every library and dtype as one process
    on every core and as one single-thread process per core. NumPy has no bfloat16 product."""
    layouts = [(1, cores)] + ([(cores, 1)] if cores > 1 else [])
    dtypes = ["float32"] + (["bfloat16"] if bfloat16 else [])
    return [
        (library, dtype, processes, threads)
        for dtype in dtypes
        for library in ("tensorflow", "numpy")
        if not (library == "numpy" and dtype == "bfloat16")
        for processes, threads in layouts
    ]


def honest_floor(cores: int, bfloat16: bool) -> list[dict[str, Any]]:
    """GFLOP/s of every candidate of :func:`floor_candidates`, summed over side-by-side processes."""
    rows = []
    for library, dtype, processes, threads in floor_candidates(cores, bfloat16):
        results = side_by_side("bench.floor", ["matmul", library, dtype, str(threads)], processes)
        rows.append(
            {
                "library": library,
                "dtype": dtype,
                "processes": processes,
                "threads_each": threads,
                "gflops": round(sum(r["gflops"] for r in results), 1),
            }
        )
        print(
            f"  floor candidate {library} {dtype} {processes}×{threads}: {rows[-1]['gflops']:.0f} GFLOP/s", flush=True
        )
    return rows


def best_rate(rows: list[dict[str, Any]], dtype: str) -> dict[str, Any] | None:
    """The fastest candidate of ``dtype``, or None where none was measured."""
    of_dtype = [row for row in rows if row["dtype"] == dtype]
    return max(of_dtype, key=lambda row: row["gflops"]) if of_dtype else None


def dtype_of(precision: str) -> str:
    """The matrix-multiply dtype of a Keras precision policy ("mixed_bfloat16" → "bfloat16")."""
    return "bfloat16" if "bfloat16" in precision else "float32"


def layer_table(batch: int, best: dict[str, dict[str, Any] | None], cores: int) -> pd.DataFrame:
    """Each layer's seconds per 60k images on one thread (:func:`_layers`, in a fresh process),
    its GFLOP/s and its time over one core's share of the floor of its precision."""
    measured = side_by_side("bench.floor", ["layers", str(batch)], 1)[0]
    rate = best[dtype_of(measured["precision"])]
    per_core = rate["gflops"] / cores if rate else float("nan")
    table = pd.DataFrame(measured["layers"])
    flops = table["train_mflop_per_image"] * 1e6 * IMAGES
    table["gflops"] = (flops / table["seconds_per_60k"] / 1e9).round(1)
    table["x_floor"] = (table["seconds_per_60k"] / (flops / (per_core * 1e9))).round(2)
    table.loc[flops == 0, ["gflops", "x_floor"]] = None  # pooling, flattening: memory, not arithmetic
    table["share"] = (table["seconds_per_60k"] / table["seconds_per_60k"].sum()).round(3)
    table.insert(0, "precision", measured["precision"])
    return table


def layer_macs(kernel_shape: tuple[int, ...], output_shape: tuple[int | None, ...]) -> int:
    """Multiply-adds per image of a layer with a kernel: every kernel weight once per output
    position (a dense layer has one position; a convolution one per output pixel)."""
    positions = output_shape[1:-1]  # between the batch and the channel axes
    return math.prod(kernel_shape) * math.prod(size or 1 for size in positions)


def _matmul(library: str, dtype: str, threads: int) -> dict[str, float]:
    """The best rate of a MATMUL_SIZE² product on ``threads`` threads, in GFLOP/s."""
    if library == "numpy":
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(threads)  # read when NumPy loads its BLAS, so before the import
        import numpy as np

        a, b = (np.random.default_rng(seed).random((MATMUL_SIZE, MATMUL_SIZE), dtype=np.float32) for seed in (0, 1))

        def product() -> object:
            return a @ b

    else:
        os.environ["SWEEP_THREADS"] = str(threads)
        from sweep.machine.backend import load_keras

        load_keras()  # TensorFlow quietly, its pools pinned to ``threads``
        import tensorflow as tf

        a, b = (tf.cast(tf.random.normal((MATMUL_SIZE, MATMUL_SIZE), seed=seed), dtype) for seed in (0, 1))

        def product() -> object:
            return tf.linalg.matmul(a, b).numpy()

    product()  # warm-up
    best, ends = float("inf"), time.perf_counter() + MATMUL_SECONDS
    while time.perf_counter() < ends:
        started = time.perf_counter()
        product()
        best = min(best, time.perf_counter() - started)
    return {"gflops": 2 * MATMUL_SIZE**3 / best / 1e9}


def _layers(batch: int) -> dict[str, Any]:
    """Each layer of MNIST's baseline CNN trained alone on one thread: seconds per 60k images."""
    os.environ["SWEEP_THREADS"] = "1"
    from sweep.machine.backend import load_keras

    keras = load_keras()
    import tensorflow as tf

    from bench.speed import MNIST_SHAPE
    from sweep.models.build import cnn
    from sweep.models.params import Architecture, baseline_params

    model = cnn(Architecture.from_params(baseline_params("mnist", MNIST_SHAPE)), MNIST_SHAPE, 10)
    rows = []
    for index, layer in enumerate(model.layers):
        if isinstance(layer, keras.layers.InputLayer):
            continue
        # One input per step: identical steps on one tensor would be merged as common subexpressions.
        inputs = tf.random.uniform((STEPS_PER_CALL, batch, *layer.input.shape[1:]), dtype=layer.compute_dtype)
        upstream = tf.random.uniform((batch, *layer.output.shape[1:]), dtype=layer.compute_dtype)
        # The first layer's input is the image: the trial path never needs its gradient.
        wants_input_gradient = index > 0 and not isinstance(model.layers[index - 1], keras.layers.InputLayer)

        @tf.function
        def steps(x: Any, dy: Any, layer: Any = layer, wants: bool = wants_input_gradient) -> Any:
            total = tf.constant(0.0)
            for index in range(STEPS_PER_CALL):  # unrolled: one call's overhead over many steps
                step_input = x[index]
                with tf.GradientTape() as tape:
                    tape.watch(step_input)
                    y = layer(step_input, training=True)
                sources = list(layer.trainable_weights) + ([step_input] if wants else [])
                grads = tape.gradient(y, sources, output_gradients=tf.cast(dy, y.dtype)) if sources else [y]
                # Summing every gradient keeps each step's work from being pruned as unused.
                total += tf.add_n([tf.reduce_sum(tf.cast(g, "float32")) for g in grads])
            return total

        steps(inputs, upstream).numpy()  # traces and warms up
        started = time.perf_counter()
        for _ in range(LAYER_CALLS):
            steps(inputs, upstream).numpy()
        seconds = (time.perf_counter() - started) / (LAYER_CALLS * STEPS_PER_CALL * batch) * IMAGES
        kernel = getattr(layer, "kernel", None)
        macs = layer_macs(tuple(kernel.shape), tuple(layer.output.shape)) if kernel is not None else 0
        rows.append(
            {
                "layer": layer.name,
                "output": "×".join(str(size) for size in layer.output.shape[1:]),
                "train_mflop_per_image": round(2 * macs * (3 if wants_input_gradient else 2) / 1e6, 3),
                "seconds_per_60k": round(seconds, 3),
            }
        )
    return {"precision": keras.mixed_precision.global_policy().name, "layers": rows}


if __name__ == "__main__":
    if sys.argv[1] == "matmul":
        result: dict[str, Any] = _matmul(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        result = _layers(int(sys.argv[2]))
    print(json.dumps(result), flush=True)
