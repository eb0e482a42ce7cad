"""Tests for sweep.machine.devices: GPUs found, workers, precision and threads chosen for the machine."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from sweep.machine.devices import (
    Gpu,
    default_workers,
    parse_gpus,
    pinned_threads,
    precision_policy,
    visible,
    worker_gpu,
)
from sweep.search.pool import worker_env
from tests.conftest import REPO

A100 = Gpu(0, "NVIDIA A100-SXM4-40GB", 8.0)
T4 = Gpu(1, "Tesla T4", 7.5)
K80 = Gpu(2, "Tesla K80", 3.7)


def test_nvidia_smi_listings_are_parsed_and_unusable_lines_skipped() -> None:
    listing = "0, NVIDIA A100-SXM4-40GB, 8.0\n1, Tesla T4, 7.5\n2, Tesla K80, [N/A]\n\ngarbage\n"
    assert parse_gpus(listing) == [A100, T4]
    assert parse_gpus("") == []


@pytest.mark.parametrize(
    ("mask", "indices"),
    [(None, [0, 1, 2]), ("", []), ("1", [1]), ("2,0", [2, 0]), ("0,7", [0]), ("GPU-uuid", [])],
)
def test_cuda_visible_devices_narrows_the_gpus(mask: str | None, indices: list[int]) -> None:
    assert [gpu.index for gpu in visible([A100, T4, K80], mask)] == indices


@pytest.mark.parametrize(("gpus", "cpus", "workers"), [(0, 1, 1), (0, 2, 2), (0, 16, 2), (1, 16, 1), (4, 16, 4)])
def test_one_worker_per_gpu_else_two_on_the_cores(gpus: int, cpus: int, workers: int) -> None:
    assert default_workers(gpus, cpus) == workers


@pytest.mark.parametrize(
    ("index", "gpus", "device"),
    [(0, [], None), (3, [], None), (0, [A100, T4], "0"), (1, [A100, T4], "1"), (2, [A100, T4], "0"), (0, [T4], "1")],
)
def test_workers_get_one_gpu_each_round_robin(index: int, gpus: list[Gpu], device: str | None) -> None:
    assert worker_gpu(index, gpus) == device


@pytest.mark.parametrize(
    ("choice", "gpus", "cpu_bf16", "policy"),
    [
        ("auto", [], False, "float32"),
        ("auto", [], True, "mixed_bfloat16"),
        ("auto", [A100], False, "mixed_float16"),
        ("auto", [T4], True, "mixed_float16"),  # the GPU trains, not the CPU
        ("auto", [K80], False, "float32"),  # no tensor cores: float16 would be slower
        ("auto", [A100, K80], False, "float32"),  # every worker's GPU must have them
        ("float32", [A100], True, "float32"),
        ("bfloat16", [], False, "mixed_bfloat16"),
        ("float16", [], False, "mixed_float16"),
    ],
)
def test_precision_is_chosen_for_the_device(choice: str, gpus: list[Gpu], cpu_bf16: bool, policy: str) -> None:
    assert precision_policy(choice, gpus, cpu_bf16) == policy


def test_an_unknown_precision_names_the_choices() -> None:
    with pytest.raises(ValueError, match="'float8' is not one of auto, float32, bfloat16, float16"):
        precision_policy("float8", [], False)


@pytest.mark.parametrize(
    ("gpus", "threads", "cpus", "pinned"),
    [([], None, 2, 2), ([], 1, 2, 1), ([A100], None, 16, None), ([A100], 4, 16, 4)],
)
def test_threads_are_pinned_on_cpus_and_left_to_tensorflow_on_gpus(
    gpus: list[Gpu], threads: int | None, cpus: int, pinned: int | None
) -> None:
    assert pinned_threads(gpus, threads, cpus) == pinned


def test_a_worker_process_gets_its_gpu_or_its_share_of_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWEEP_THREADS", raising=False)
    monkeypatch.setattr("sweep.search.pool.find_gpus", lambda: (A100, T4))
    env = worker_env("sqlite:///s.db", index=1, threads=1)
    assert env["CUDA_VISIBLE_DEVICES"] == "1" and "SWEEP_THREADS" not in env
    monkeypatch.setattr("sweep.search.pool.find_gpus", lambda: ())
    env = worker_env("sqlite:///s.db", index=1, threads=1)
    assert env["SWEEP_THREADS"] == "1" and env.get("CUDA_VISIBLE_DEVICES") == os.environ.get("CUDA_VISIBLE_DEVICES")


@pytest.mark.parametrize(("lists_a_gpu", "cuda_build"), [(True, True), (False, False)])
def test_make_installs_tensorflows_cuda_build_where_nvidia_smi_lists_a_gpu(
    tmp_path: Path, lists_a_gpu: bool, cuda_build: bool
) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\necho 'GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-1)'\n" if lists_a_gpu else "#!/bin/sh\nexit 9\n"
    )
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("GPU", None)
    done = subprocess.run(
        ["make", "-n", "install", f"VENV={tmp_path / 'venv'}"], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert ("tensorflow[and-cuda]" in done.stdout) is cuda_build
    assert ("pip uninstall --quiet --yes tensorflow-cpu" in done.stdout) is cuda_build
