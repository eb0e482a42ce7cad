"""Tests for sweep.machine.backend: the CPUs this process may use, and the fields of /proc/cpuinfo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this OS")
def test_workers_and_threads_follow_the_cpus_this_process_may_use() -> None:
    # As under taskset or Docker's --cpuset-cpus: os.cpu_count() still counts the host's CPUs.
    code = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
        "from sweep.machine.backend import usable_cpus; from sweep.settings import SweepConfig; "
        "print(usable_cpus(), SweepConfig().workers)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1"]


def test_cpu_info_reads_the_first_processors_fields(tmp_path: Path) -> None:
    from sweep.machine.backend import cpu_info

    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 fma\n\nprocessor\t: 1\nmodel name\t: other\n"
    )
    assert cpu_info("model name", str(info)) == "AMD EPYC"
    assert cpu_info("flags", str(info)).split() == ["fpu", "avx2", "fma"]
    assert cpu_info("bogomips", str(info)) == ""
    assert cpu_info("flags", str(tmp_path / "missing")) == ""
