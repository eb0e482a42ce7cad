"""What the sweep computes on: CPU cores or NVIDIA GPUs, how many workers, which precision.

Plain functions of what the machine has, so that the choices are tested on any machine;
:mod:`sweep.machine.backend` applies them when TensorFlow loads. GPUs are found with ``nvidia-smi``
(no TensorFlow import), the same way the Makefile decides to install a GPU build.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

# SWEEP_PRECISION's values. auto: float16 mixed precision on GPUs with tensor cores, bfloat16
# on CPUs that multiply it natively, float32 elsewhere.
PRECISIONS = ("auto", "float32", "bfloat16", "float16")
# Tensor cores (Volta, compute capability 7.0) make float16 matrix products several times
# faster than float32; older GPUs would emulate it slower.
FLOAT16_CAPABILITY = 7.0


@dataclass(frozen=True)
class Gpu:
    """One NVIDIA GPU as ``nvidia-smi`` lists it."""

    index: int
    name: str
    capability: float  # CUDA compute capability, 8.0 for an A100


def parse_gpus(listing: str) -> list[Gpu]:
    """GPUs from ``nvidia-smi --query-gpu=index,name,compute_cap --format=csv,noheader``."""
    gpus = []
    for line in listing.strip().splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) != 3:
            continue
        try:
            gpus.append(Gpu(int(parts[0]), parts[1], float(parts[2])))
        except ValueError:
            continue  # "[N/A]" and the like: not a GPU TensorFlow can use
    return gpus


@functools.cache
def find_gpus() -> tuple[Gpu, ...]:
    """The GPUs this process may use: none without ``nvidia-smi``, and only those that
    CUDA_VISIBLE_DEVICES lists where it is set."""
    if shutil.which("nvidia-smi") is None:
        return ()
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=index,name,compute_cap", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return ()
    listed = parse_gpus(done.stdout) if done.returncode == 0 else []
    return tuple(visible(listed, os.environ.get("CUDA_VISIBLE_DEVICES")))


def visible(gpus: list[Gpu], mask: str | None) -> list[Gpu]:
    """The GPUs of ``gpus`` that a CUDA_VISIBLE_DEVICES value ``mask`` leaves visible."""
    if mask is None:
        return gpus
    wanted = [int(part) for part in mask.split(",") if part.strip().isdigit()]
    by_index = {gpu.index: gpu for gpu in gpus}
    return [by_index[index] for index in wanted if index in by_index]


def default_workers(gpus: int, cpus: int) -> int:
    """Worker processes by default: one per GPU, else two on two or more cores (measured 40 %
    more trials an hour than one on 2 cores), one on a single core."""
    return gpus if gpus else min(2, cpus)


def worker_gpu(index: int, gpus: Sequence[Gpu]) -> str | None:
    """The CUDA_VISIBLE_DEVICES of worker ``index``: one GPU each, round robin; None on CPUs."""
    if not gpus:
        return None
    return str(gpus[index % len(gpus)].index)


def precision_policy(choice: str, gpus: Sequence[Gpu], cpu_bfloat16: bool) -> str:
    """Keras's mixed-precision policy for SWEEP_PRECISION ``choice`` on this machine."""
    if choice not in PRECISIONS:
        raise ValueError(f"precision {choice!r} is not one of {', '.join(PRECISIONS)}")
    if choice == "auto" and gpus:
        return "mixed_float16" if min(gpu.capability for gpu in gpus) >= FLOAT16_CAPABILITY else "float32"
    if choice == "auto":
        return "mixed_bfloat16" if cpu_bfloat16 else "float32"
    return {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}[choice]


def pinned_threads(gpus: Sequence[Gpu], threads: int | None, cpus: int) -> int | None:
    """TensorFlow's intra-op threads: SWEEP_THREADS, else every core on a CPU; None (TensorFlow's
    own choice) where a GPU does the work and the cores only feed it."""
    if threads is not None:
        return threads
    return None if gpus else cpus
