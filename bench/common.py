"""What every benchmark uses: a benchmark sweep's command line and study, the machine it ran on."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna

from sweep.machine.backend import usable_cpus


def sweep_command(dataset: str, folder: Path, seed: int, *flags: str, retrain: bool = False) -> list[str]:
    """The command line of a benchmark sweep, results in its own folder; no retrain unless asked."""
    command = [sys.executable, "-m", "sweep", "sweep", "--dataset", dataset, "--results", str(folder)]
    return [*command, "--seed", str(seed), *([] if retrain else ["--no-retrain"]), *flags]


def load_bench_study(dataset: str, folder: Path) -> optuna.Study:
    """The study a benchmark sweep left in ``folder``."""
    name = Path(dataset.rstrip("/")).name
    return optuna.load_study(study_name=name, storage=f"sqlite:///{folder / name / 'study.db'}")


def machine_info() -> dict[str, object]:
    """Where a benchmark ran: results are only comparable on the same kind of machine."""
    from sweep.machine.backend import cpu_info, load_keras

    keras = load_keras()
    import tensorflow as tf

    flags = set(cpu_info("flags").split())
    return {
        "machine": platform.machine(),
        "processor": cpu_info("model name") or platform.processor(),
        # AVX-512 and native bfloat16 made the largest differences between machines seen here.
        "vector_units": " ".join(sorted(flags & {"avx2", "avx512f", "avx512_bf16", "amx_bf16"})),
        "precision": keras.mixed_precision.global_policy().name,
        # ONEDNN_MAX_CPU_ISA=AVX2 keeps TensorFlow's oneDNN kernels to AVX2 code on an AVX-512
        # CPU: how this project's AVX2-only machines' kernels fare, at this CPU's speed.
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL"),
        "cores": usable_cpus(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "optuna": optuna.__version__,
    }


def side_by_side(
    module: str, args: list[str], processes: int, env: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Run ``processes`` copies of ``python -m MODULE ARGS`` at once (``env``: their environment,
    None: this one's); the last JSON line each printed. One that fails ends the benchmark."""
    children = [
        subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(processes)
    ]
    results = []
    for child in children:
        out, _ = child.communicate()
        if child.returncode != 0:
            raise SystemExit(f"{module} {' '.join(args)} failed (exit {child.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results
