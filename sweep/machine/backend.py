"""Import TensorFlow and Keras once, without the C++ start-up chatter on the terminal.

TensorFlow 2.21 logs "oneDNN custom operations are on" and CPU-feature notes through absl
before its logging is set up, so TF_CPP_MIN_LOG_LEVEL cannot hide them. They are written to
file descriptor 2 during the import; this captures that descriptor for the import only, drops
the notes when the import succeeds and replays them when it fails. ``SWEEP_DEBUG=1`` (set by
``--debug``) leaves stderr alone.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
from types import ModuleType

from sweep.machine.devices import find_gpus, pinned_threads, precision_policy
from sweep.machine.environment import Environment


def load_keras() -> ModuleType:
    """Import tensorflow and keras (quietly, threads pinned) once; returns keras.

    Modules that use Keras at import time call it for that, then ``import keras`` plainly.
    """
    if "tensorflow" not in sys.modules:
        if Environment.read().debug:
            import tensorflow  # noqa: F401
        else:
            _import_quietly()
        _quiet_retracing()
        _pin_threads()
        apply_precision()
        _freeze_imports()
    import keras

    module: ModuleType = keras
    return module


def usable_cpus() -> int:
    """How many CPUs this process may run on: its affinity mask (taskset, Docker's
    --cpuset-cpus), not ``os.cpu_count()``, which counts every CPU of the host."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cpu_info(field: str, path: str = "/proc/cpuinfo") -> str:
    """The first ``field`` of /proc/cpuinfo ("flags", "model name"); "" where there is none."""
    try:
        with open(path) as info:
            line = next((line for line in info if line.split(":")[0].strip() == field), "")
    except OSError:
        return ""
    return line.partition(":")[2].strip()


def cpu_has_bfloat16() -> bool:
    """Whether the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX); Linux only."""
    flags = cpu_info("flags").split()
    return "avx512_bf16" in flags or "amx_bf16" in flags


@functools.cache
def chosen_precision() -> str:
    """Keras's mixed-precision policy for this process: float16 on GPUs with tensor cores,
    bfloat16 on CPUs that multiply it natively (weights stay float32), float32 elsewhere
    (:func:`sweep.machine.devices.precision_policy`); ``SWEEP_PRECISION`` overrides the choice.
    bfloat16 about halves an epoch where the CPU has it, and would be emulated and slower
    elsewhere.
    """
    return precision_policy(Environment.read().precision, find_gpus(), cpu_has_bfloat16())


def apply_precision() -> None:
    """Set :func:`chosen_precision` as Keras's global policy. ``clear_session`` (ours after
    every trial, KerasTuner's before every build) resets Keras's global settings, the policy
    among them, so every model is built after this call, not only the process's first."""
    import keras

    keras.mixed_precision.set_global_policy(chosen_precision())


def _quiet_retracing() -> None:
    """Every trial builds a new model, so TensorFlow's "triggered tf.function retracing" warning
    (meant for a loop that rebuilds one function) is expected here and only noise in the log."""
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")


def _pin_threads() -> None:
    """One op at a time, each using every core (or SWEEP_THREADS of them): TensorFlow's
    defaults run several ops side by side, each with all cores, which oversubscribes a small
    CPU (20 % slower on 2 cores)."""
    import tensorflow as tf

    threads = pinned_threads(find_gpus(), Environment.read().threads, usable_cpus())
    if threads is None:  # a GPU does the work: threads are TensorFlow's to choose
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)  # workers may share a GPU
        return
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def _freeze_imports() -> None:
    """Leave the objects of the imports (about 390,000, mostly TensorFlow's) out of every later
    garbage collection: they live as long as the process, and walking them made the collection
    after every trial (:func:`sweep.models.train.release`) take 0.45 s instead of 0.02 s."""
    import gc

    gc.collect()  # what the imports left as garbage goes now, not frozen with the rest
    gc.freeze()


def _import_quietly() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
