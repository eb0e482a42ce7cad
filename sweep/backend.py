"""Import TensorFlow and Keras once, without the C++ start-up chatter on the terminal.

TensorFlow 2.21 logs "oneDNN custom operations are on" and CPU-feature notes through absl
before its logging is set up, so TF_CPP_MIN_LOG_LEVEL cannot hide them. They are written to
file descriptor 2 during the import; this captures that descriptor for the import only, drops
the notes when the import succeeds and replays them when it fails. ``SWEEP_DEBUG=1`` (set by
``--debug``) leaves stderr alone.
"""

from __future__ import annotations

import os
import sys
import tempfile
from types import ModuleType


def load_keras() -> ModuleType:
    """Import tensorflow and keras (quietly, threads pinned) once; returns keras."""
    if "tensorflow" not in sys.modules:
        if os.environ.get("SWEEP_DEBUG"):
            import tensorflow  # noqa: F401
        else:
            _import_quietly()
        _pin_threads()
    import keras

    return keras


def _pin_threads() -> None:
    """One op at a time, each using every core (or SWEEP_THREADS of them).

    TensorFlow's defaults run several ops side by side, each with all cores, which
    oversubscribes a small CPU: on 2 cores, intra-op 2 / inter-op 1 trains the MNIST CNN
    20 % faster at batch 32 (13.2 s instead of 16.6 s per epoch) and at 128 and 256 too.
    """
    import tensorflow as tf

    threads = int(os.environ.get("SWEEP_THREADS") or os.cpu_count() or 1)
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)


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
