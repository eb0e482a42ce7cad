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
    """Import tensorflow and keras with C++ start-up notes suppressed; returns keras."""
    if "tensorflow" not in sys.modules and not os.environ.get("SWEEP_DEBUG"):
        _import_quietly()
    import keras

    return keras


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
