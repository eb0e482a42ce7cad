"""The environment variables sweep reads: all of them, read and checked in one place.

``python -m sweep`` checks them before any command starts, so a bad value is one line and exit
code 2, not a failed trial an hour later. Keras's own ``KERAS_HOME`` is Keras's to read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from sweep.errors import UsageError
from sweep.machine.devices import PRECISIONS

# How often a running trial proves its worker is alive (seconds); after three missed beats the
# trial is failed and retried. Tests shorten it to see a killed worker recovered within seconds.
DEFAULT_HEARTBEAT_SECONDS = 20
# A heartbeat longer than a day detects no dead worker in any useful time (and 10^12 s
# overflows the thread's wait).
MAX_HEARTBEAT_SECONDS = 86_400


@dataclass(frozen=True)
class Environment:
    """What the environment says (None or the default where a variable is unset)."""

    data_dir: str | None  # SWEEP_DATA_DIR: where Keras's dataset files are
    threads: int | None  # SWEEP_THREADS: TensorFlow threads per process (default: every core)
    members: int | None  # SWEEP_MEMBERS: models the answer averages, one a core (None: decided by the machine)
    views: int | None  # SWEEP_VIEWS: test-time views the answer may average (None: every one, sweep.models.views)
    precision: str  # SWEEP_PRECISION: auto, float32, bfloat16 or float16
    heartbeat_seconds: int  # SWEEP_HEARTBEAT_SECONDS
    storage: str | None  # SWEEP_STORAGE: a worker's storage URL (kept off its command line)
    debug: bool  # SWEEP_DEBUG: set by --debug, shows TensorFlow's start-up log

    @classmethod
    def read(cls, environ: Mapping[str, str] = os.environ) -> Environment:
        """The variables of ``environ``, checked (UsageError names the variable)."""
        precision = environ.get("SWEEP_PRECISION") or "auto"
        if precision not in PRECISIONS:
            raise UsageError(
                f"SWEEP_PRECISION={precision!r} is not one of {', '.join(PRECISIONS)}; set it to one, or unset it"
            )
        threads = environ.get("SWEEP_THREADS")
        return cls(
            data_dir=environ.get("SWEEP_DATA_DIR") or None,
            # More threads than cores only share them (and 100,000 never start).
            threads=None if not threads else _positive("SWEEP_THREADS", threads, len(os.sched_getaffinity(0))),
            # One process per member, side by side: more than the cores would only take turns.
            members=(
                _positive("SWEEP_MEMBERS", environ["SWEEP_MEMBERS"], len(os.sched_getaffinity(0)))
                if environ.get("SWEEP_MEMBERS")
                else None
            ),
            # sweep.models.views has five.
            views=_positive("SWEEP_VIEWS", environ["SWEEP_VIEWS"], 5) if environ.get("SWEEP_VIEWS") else None,
            precision=precision,
            heartbeat_seconds=_positive(
                "SWEEP_HEARTBEAT_SECONDS",
                environ.get("SWEEP_HEARTBEAT_SECONDS") or str(DEFAULT_HEARTBEAT_SECONDS),
                MAX_HEARTBEAT_SECONDS,
            ),
            storage=environ.get("SWEEP_STORAGE") or None,
            debug=bool(environ.get("SWEEP_DEBUG")),
        )


def _positive(name: str, text: str, most: int | None = None) -> int:
    """A positive whole number of ASCII digits (at most ``most``), or a UsageError naming the
    variable (``str.isdigit`` also takes '²', which ``int`` refuses)."""
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise UsageError(f"{name}={text!r} is not a positive whole number; set it to one, or unset it")
    if most is not None and int(text) > most:
        raise UsageError(f"{name}={text} is more than {most:,}; set it to at most that, or unset it")
    return int(text)
