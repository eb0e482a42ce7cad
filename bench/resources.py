"""Speed and memory: trials per hour by worker layout, seconds per epoch against the compute
floor, and resident memory over a sweep (``BENCH=workers``, ``throughput``, ``memory``)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from bench.common import load_bench_study, machine_info, sweep_command
from sweep.choice.leaderboard import write_csv
from sweep.files import write_json
from sweep.machine.backend import usable_cpus

# Memory grows per model built, not per epoch: short trials show a leak as well as long ones.
QUICK_SPACE = """\
description: MNIST CNNs with 1-2 epochs, for measuring memory over many trials quickly.
params:
  filters_1:     {type: int, low: 16, high: 64, step: 16}
  filters_2:     {type: int, low: 32, high: 128, step: 32}
  dense_units:   {type: categorical, choices: [64, 128, 256]}
  batch_norm:    {type: categorical, choices: [false, true]}
  learning_rate: {type: float, low: 3.0e-4, high: 3.0e-3, log: true}
  batch_size:    {type: categorical, choices: [128, 256]}
  epochs:        {type: int, low: 1, high: 2}
"""


# Every trial identical, so that throughput differences come from the worker layout only.
FIXED_SPACE = """\
description: One fixed configuration, for measuring trials per hour.
params:
  batch_size: {type: categorical, choices: [128]}
  epochs:     {type: categorical, choices: [1]}
"""


def time_use(trials: list[FrozenTrial], workers: int) -> dict[str, float]:
    """Where the workers' time went, in seconds per trial, from the first trial's start to the
    last one's end (start-up is left out: it is the same for every layout).

    ``fit_s``: in Keras's ``fit`` (the first epoch's graph tracing included). ``in_trial_s``:
    the rest of a trial's record (sampling, model build, storage writes, freeing the model).
    ``between_trials_s``: worker time outside any trial (process restarts, waits for the study,
    a core idle at the end), the worker-seconds of the span not covered by a trial.
    """
    if not trials:
        raise ValueError("time_use needs at least one finished trial")
    start = min(t.datetime_start for t in trials)
    span = (max(t.datetime_complete for t in trials) - start).total_seconds()
    walls = [(t.datetime_complete - t.datetime_start).total_seconds() for t in trials]
    fits = [float(t.user_attrs.get("fit_seconds", 0.0)) for t in trials]
    count = len(trials)
    return {
        "trials": count,
        "trial_span_s": round(span, 1),
        "trials_per_hour": round(3600 * count / span, 1) if span else float("inf"),
        "fit_s": round(sum(fits) / count, 2),
        "in_trial_s": round((sum(walls) - sum(fits)) / count, 2),
        "between_trials_s": round((workers * span - sum(walls)) / count, 2),
    }


def workers_throughput(dataset: str, trials: int, seed: int, out: Path) -> pd.DataFrame:
    """Trials per hour with 1 worker × all cores against 2 workers × half the cores each."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    space = out / "space.yaml"
    space.write_text(FIXED_SPACE)
    rows = []
    for workers in (1, 2):
        folder = out / f"workers-{workers}"
        started = time.monotonic()
        subprocess.run(
            sweep_command(
                dataset,
                folder,
                seed,
                "--space",
                str(space),
                "--trials",
                str(trials),
                "--timeout",
                "100000",
                "--pruner",
                "none",
                "--workers",
                str(workers),
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wall = time.monotonic() - started
        done = [t for t in load_bench_study(dataset, folder).trials if t.state == TrialState.COMPLETE]
        threads = max(1, usable_cpus() // workers)
        row = {"workers": workers, "threads_each": threads, **time_use(done, workers), "wall_s": round(wall, 1)}
        rows.append(row)
        print(
            f"{workers} worker(s) × {threads} thread(s): {row['trials_per_hour']} trials/hour; per "
            f"trial {row['fit_s']} s in fit, {row['in_trial_s']} s around it, "
            f"{row['between_trials_s']} s between trials",
            flush=True,
        )
    table = pd.DataFrame(rows)
    write_csv(table, out / "workers.csv")
    write_json(out / "machine.json", machine_info())
    return table


def throughput(out: Path) -> pd.DataFrame:
    """The notebook's fit, the trial path at several batch sizes, layouts and precisions, and
    XLA, against the honest floor of each precision; the trial path's time per layer."""
    from bench import floor, plots, speed
    from sweep.machine.backend import cpu_has_bfloat16
    from sweep.models.params import Architecture, baseline_params

    out.mkdir(parents=True, exist_ok=True)
    cores, bfloat16 = usable_cpus(), cpu_has_bfloat16()
    side_by_side = (cores, 1) if cores > 1 else (1, 1)  # the default WORKERS layout
    runs: list[tuple[str, int, int, int | None, str | None]] = [("notebook", 32, 1, None, None)]
    runs += [("trial", batch, 1, cores, None) for batch in (32, 128, 256)]
    if cores > 1:
        runs += [("trial", 128, 1, 1, None)]  # one core alone: what the layer table adds up to
        runs += [("trial", batch, cores, 1, None) for batch in (128, 256)]
    if bfloat16:
        runs += [("trial", 128, *side_by_side, "float32")]
    runs += [("trial-xla", 128, *side_by_side, None)]
    rows = []
    for mode, batch, processes, threads, precision in runs:
        rows.append(speed.measure(mode, batch, processes, threads, precision))
        print(
            f"{mode:>9} batch {batch:>3} × {processes} process(es) {rows[-1]['precision']}: "
            f"{rows[-1]['seconds_per_60k']:.1f} s per 60k images",
            flush=True,
        )
    floors = floor.honest_floor(cores, bfloat16)
    flops = Architecture.from_params(baseline_params("mnist", speed.MNIST_SHAPE)).training_flops(speed.MNIST_SHAPE, 10)
    best = {dtype: floor.best_rate(floors, dtype) for dtype in ("float32", "bfloat16")}
    for dtype, rate in best.items():
        if rate is not None:
            rows.append(
                {
                    "setup": f"compute floor ({rate['library']} {rate['processes']}×{rate['threads_each']})",
                    "threads_each": rate["threads_each"],
                    "processes": rate["processes"],
                    "precision": dtype,
                    "images_per_s": round(rate["gflops"] * 1e9 / flops, 1),
                    "seconds_per_60k": round(speed.floor_seconds(flops, rate["gflops"]), 2),
                }
            )
            print(
                f"compute floor {dtype}: {flops / 1e6:.1f} MFLOP per image at {rate['gflops']:.0f} GFLOP/s", flush=True
            )
    table = pd.DataFrame(rows)
    table["x_floor"] = [
        round(seconds / speed.floor_seconds(flops, best[floor.dtype_of(precision)]["gflops"]), 2)  # type: ignore[index]
        for seconds, precision in zip(table["seconds_per_60k"], table["precision"], strict=True)
    ]
    layers = floor.layer_table(speed.TRIAL_BATCH, best, cores)
    write_csv(table, out / "throughput.csv")
    write_csv(pd.DataFrame(floors), out / "floors.csv")
    write_csv(layers, out / "layers.csv")
    print(layers.to_string(index=False), flush=True)
    plots.plot_throughput(
        table, out / "throughput.png", f"MNIST baseline CNN on {cores} cores: seconds per 60k training images"
    )
    write_json(
        out / "machine.json",
        {
            **machine_info(),
            **{f"matmul_gflops_{dtype}": rate["gflops"] for dtype, rate in best.items() if rate is not None},
            "training_mflop_per_image": round(flops / 1e6, 2),
        },
    )
    return table


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def memory(dataset: str, trials: int, workers: int, seed: int, out: Path) -> pd.DataFrame:
    """RSS of a whole sweep's process tree after every finished trial."""
    from bench import plots

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    space = out / "space.yaml"
    space.write_text(QUICK_SPACE)
    process = subprocess.Popen(
        sweep_command(
            dataset,
            out,
            seed,
            "--space",
            str(space),
            "--trials",
            str(trials),
            "--timeout",
            "100000",
            "--workers",
            str(workers),
        ),
        stdout=subprocess.DEVNULL,
    )
    db = out / Path(dataset.rstrip("/")).name / "study.db"
    rows, peak = [], 0
    while process.poll() is None:
        time.sleep(0.5)
        rss = tree_rss(process.pid)
        peak = max(peak, rss)
        if not db.is_file():
            continue
        try:
            study = load_bench_study(dataset, out)
        except (KeyError, RuntimeError, ValueError):
            continue
        done = sum(t.state.is_finished() for t in study.trials)
        while len(rows) < done:  # two trials may end between polls: one row each
            rows.append(
                {"trials_finished": len(rows) + 1, "rss_mb": round(rss / 2**20, 1), "peak_mb": round(peak / 2**20, 1)}
            )
            print(f"trial {len(rows)}: {rows[-1]['rss_mb']} MB (peak {rows[-1]['peak_mb']} MB)", flush=True)
    if process.returncode != 0:
        raise SystemExit(f"the sweep failed with exit code {process.returncode}")
    table = pd.DataFrame(rows)
    write_csv(table, out / "rss.csv")
    plots.plot_rss(table, out / "rss.png", f"{dataset}: memory of the sweep's processes, {workers} worker(s)")
    write_json(out / "machine.json", machine_info())
    return table
