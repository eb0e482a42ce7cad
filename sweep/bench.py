"""Benchmarks, run by ``make bench`` (never by the tests): measured side by side, on this machine.

``python -m sweep.bench strategies`` runs the same sweep once per sampler/pruner pair, each in
its own process with the same wall-clock budget, seed, data split and search space, and writes
``results/bench/strategies/strategies.csv`` (one row per pair) and ``strategies.png`` (best
validation accuracy over time).

``python -m sweep.bench workers`` runs the same fixed trials (the MNIST baseline, one epoch at
batch 128) with 1 worker × all cores and with 2 workers × half the cores each, and reports
trials per hour and the per-trial overhead (the time spent outside Keras's ``fit``):
``results/bench/workers/workers.csv``.

``python -m sweep.bench throughput`` measures seconds per 60k-image MNIST epoch of the baseline
CNN: the notebook's plain ``fit`` against the sweep's trial path, and the compute floor
(:mod:`sweep.speed`): ``results/bench/throughput/throughput.csv`` and ``throughput.png``.

``python -m sweep.bench peers`` races the default sweep against KerasTuner Hyperband
(``max_epochs=9``, ``factor=3``, one iteration, whose wall time sets the budget) and Optuna TPE
without pruning, on one search space (the MNIST space with 1–9 epochs), split, batch sizes and
thread settings (only sweep starts from the space's first trials; a fourth run, sweep without
them, shows what they are worth); then retrains each one's best on train + validation and tests
it: ``results/bench/peers/peers.csv`` and ``peers.png``.

``python -m sweep.bench memory`` runs one sweep of ``--trials`` trials and records the summed
resident memory of its whole process tree (driver and workers) at the end of every trial:
``results/bench/memory/rss.csv`` and ``rss.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from sweep.backend import usable_cpus
from sweep.files import write_json
from sweep.leaderboard import write_csv

STRATEGIES = (("tpe", "hyperband"), ("tpe", "median"), ("tpe", "none"), ("random", "hyperband"))


def sweep_command(dataset: str, folder: Path, seed: int, *flags: str) -> list[str]:
    """The command line of a benchmark sweep: no retrain, results in its own folder."""
    return [sys.executable, "-m", "sweep", "sweep", "--dataset", dataset, "--results", str(folder),
            "--seed", str(seed), "--no-retrain", *flags]


def load_bench_study(dataset: str, folder: Path) -> optuna.Study:
    """The study a benchmark sweep left in ``folder``."""
    name = Path(dataset.rstrip("/")).name
    return optuna.load_study(study_name=name, storage=f"sqlite:///{folder / name / 'study.db'}")


def run_strategy(dataset: str, sampler: str, pruner: str, budget: float, seed: int, out: Path) -> Path:
    """One sweep in a fresh process; returns its results folder."""
    folder = out / f"{sampler}-{pruner}"
    shutil.rmtree(folder, ignore_errors=True)  # a fresh study: nothing left from an earlier run
    subprocess.run(
        sweep_command(dataset, folder, seed, "--sampler", sampler, "--pruner", pruner,
                      "--trials", "10000", "--timeout", str(budget)),
        check=True, stdout=subprocess.DEVNULL,
    )
    return folder


def best_over_time(study: optuna.Study, budget: float) -> pd.DataFrame:
    """Best validation accuracy of completed trials, by seconds since the first trial started."""
    trials = [t for t in study.trials if t.datetime_start and t.datetime_complete]
    start = min(t.datetime_start for t in trials)
    rows, best = [], 0.0
    for trial in sorted(trials, key=lambda t: t.datetime_complete):
        seconds = (trial.datetime_complete - start).total_seconds()
        if seconds > budget:
            break  # a trial that ends past the budget does not count: same budget for all
        if trial.state == TrialState.COMPLETE:
            best = max(best, trial.values[0])
        rows.append({"seconds": seconds, "best_val_accuracy": best, "state": trial.state.name.lower()})
    return pd.DataFrame(rows)


def strategies(dataset: str, budget: float, seed: int, out: Path) -> pd.DataFrame:
    """Compare sampler/pruner pairs at an equal wall budget; write CSV, curves and machine info."""
    from sweep import plots

    out.mkdir(parents=True, exist_ok=True)
    rows, curves = [], {}
    for sampler, pruner in STRATEGIES:
        started = time.monotonic()
        folder = run_strategy(dataset, sampler, pruner, budget, seed, out)
        study = load_bench_study(dataset, folder)
        curve = best_over_time(study, budget)
        curves[f"{sampler} + {pruner}"] = curve
        counts = curve["state"].value_counts().to_dict()
        rows.append({
            "sampler": sampler, "pruner": pruner, "budget_s": budget,
            "best_val_accuracy": curve["best_val_accuracy"].max(),
            "complete": counts.get("complete", 0), "pruned": counts.get("pruned", 0),
            "failed": counts.get("fail", 0), "wall_s": round(time.monotonic() - started, 1),
        })
        print(f"{sampler:>6} + {pruner:<9}: best val_accuracy {rows[-1]['best_val_accuracy']:.4f}, "
              f"{rows[-1]['complete']} complete, {rows[-1]['pruned']} pruned", flush=True)
    table = pd.DataFrame(rows).sort_values("best_val_accuracy", ascending=False)
    write_csv(table, out / "strategies.csv")
    plots.plot_curves(curves, out / "strategies.png",
                      f"{dataset}: best validation accuracy within {budget:.0f}s")
    write_json(out / "machine.json", machine_info())
    return table


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
        "trials": count, "trial_span_s": round(span, 1),
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
            sweep_command(dataset, folder, seed, "--space", str(space), "--trials", str(trials),
                          "--timeout", "100000", "--pruner", "none", "--workers", str(workers)),
            check=True, stdout=subprocess.DEVNULL,
        )
        wall = time.monotonic() - started
        done = [t for t in load_bench_study(dataset, folder).trials if t.state == TrialState.COMPLETE]
        threads = max(1, usable_cpus() // workers)
        row = {"workers": workers, "threads_each": threads, **time_use(done, workers),
               "wall_s": round(wall, 1)}
        rows.append(row)
        print(f"{workers} worker(s) × {threads} thread(s): {row['trials_per_hour']} trials/hour; per "
              f"trial {row['fit_s']} s in fit, {row['in_trial_s']} s around it, "
              f"{row['between_trials_s']} s between trials", flush=True)
    table = pd.DataFrame(rows)
    write_csv(table, out / "workers.csv")
    write_json(out / "machine.json", machine_info())
    return table


def throughput(out: Path) -> pd.DataFrame:
    """The notebook's fit, the trial path at several batch sizes and layouts, and the floor."""
    from sweep import plots, speed
    from sweep.params import Architecture, baseline_params

    out.mkdir(parents=True, exist_ok=True)
    cores = usable_cpus()
    runs = [("notebook", 32, 1, None)]  # TensorFlow's default threads, as in the notebook
    runs += [("trial", batch, 1, cores) for batch in (32, 128, 256)]
    if cores > 1:  # the default WORKERS layout: one process per core, side by side
        runs += [("trial", batch, cores, 1) for batch in (128, 256)]
    rows = []
    for mode, batch, processes, threads in runs:
        rows.append(speed.measure(mode, batch, processes, threads))
        print(f"{mode:>8} batch {batch:>3} × {processes} process(es): "
              f"{rows[-1]['seconds_per_60k']:.1f} s per 60k images", flush=True)
    gflops = speed.matmul_gflops()
    flops = Architecture.from_params(baseline_params("mnist", speed.MNIST_SHAPE)).training_flops(
        speed.MNIST_SHAPE, 10)
    floor = speed.floor_seconds(flops, gflops)
    rows.append({"setup": "compute floor", "batch_size": None, "processes": None,
                 "threads_each": cores, "images_per_s": round(60_000 / floor, 1),
                 "seconds_per_60k": round(floor, 2)})
    table = pd.DataFrame(rows)
    table["x_floor"] = (table["seconds_per_60k"] / floor).round(2)
    print(f"compute floor: {flops / 1e6:.1f} MFLOP per image at {gflops:.0f} GFLOP/s "
          f"= {floor:.1f} s per 60k images", flush=True)
    write_csv(table, out / "throughput.csv")
    plots.plot_throughput(table, out / "throughput.png",
                          f"MNIST baseline CNN on {cores} cores: seconds per 60k training images")
    write_json(out / "machine.json", {**machine_info(), "matmul_gflops": round(gflops, 1),
                                      "training_mflop_per_image": round(flops / 1e6, 2)})
    return table


# (label, results folder, study name, extra sweep flags, whether it gets the space's first
# trials); KerasTuner runs first: it sets the budget. It cannot be handed first trials, and plain
# Optuna stands for a user without our priors: only sweep starts from them.
PEERS = (
    ("KerasTuner Hyperband", "kerastuner", "mnist-kerastuner",
     ("--engine", "kerastuner", "--tuner", "hyperband"), False),
    ("sweep (default)", "sweep", "mnist", (), True),
    ("Optuna TPE, no pruning", "optuna-tpe", "mnist", ("--pruner", "none", "--workers", "1"), False),
    # How much of sweep's lead the first trials make.
    ("sweep without first trials", "sweep-no-first-trials", "mnist", (), False),
)


def peers_space(first_trials: bool = True) -> str:
    """The shipped MNIST space with 1-9 epochs (KerasTuner Hyperband's max_epochs=9), with or
    without its first trials."""
    import yaml

    from sweep.spaces import default_space_path

    data = yaml.safe_load(default_space_path("mnist").read_text())
    data["description"] = "The MNIST space with 1-9 epochs, for racing sweep against its peers."
    data["params"]["epochs"] = {"type": "int", "low": 1, "high": 9}
    if not first_trials:
        data.pop("first_trials", None)
    return yaml.safe_dump(data, sort_keys=False)


def first_reaching(curve: pd.DataFrame, target: float) -> float | None:
    """Seconds until a best-so-far curve first reaches ``target`` (None: never)."""
    reached = curve[curve["best_val_accuracy"] >= target - 1e-12]
    return float(reached["seconds"].iloc[0]) if len(reached) else None


def peers(seed: int, out: Path) -> pd.DataFrame:
    """Best validation accuracy over time for sweep and its peers at KerasTuner's budget."""
    from sweep import plots
    from sweep.baseline import load_checked
    from sweep.config import DataConfig
    from sweep.progress import Display
    from sweep.trials import final_params
    from sweep.retrain import retrained_test_accuracy
    from sweep.study import best_trial

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    spaces = {True: out / "space.yaml", False: out / "space-without-first-trials.yaml"}
    for first_trials, path in spaces.items():
        path.write_text(peers_space(first_trials))
    budget, curves, rows = None, {}, []
    for label, folder, name, flags, first_trials in PEERS:
        started = time.monotonic()
        limit = ("--timeout", f"{budget:.0f}") if budget else ("--timeout", "100000")
        subprocess.run(sweep_command("mnist", out / folder, seed,
                                     "--space", str(spaces[first_trials]),
                                     "--trials", "100000", *limit, *flags),
                       check=True, stdout=subprocess.DEVNULL)
        study = optuna.load_study(study_name=name,
                                  storage=f"sqlite:///{out / folder / 'mnist' / 'study.db'}")
        if budget is None:  # KerasTuner's one Hyperband iteration, first trial start to last end
            trials = [t for t in study.trials if t.datetime_complete]
            budget = (max(t.datetime_complete for t in trials)
                      - min(t.datetime_start for t in trials)).total_seconds()
        curves[label] = best_over_time(study, budget)
        best = best_trial(study)
        rows.append({"engine": label, "budget_s": round(budget), "trials": len(curves[label]),
                     "best_val_accuracy": curves[label]["best_val_accuracy"].max(),
                     "best_trial": best.number, "best_params": json.dumps(final_params(best)),
                     "wall_s": round(time.monotonic() - started)})
        print(f"{label}: best val_accuracy {rows[-1]['best_val_accuracy']:.4f} in "
              f"{rows[-1]['trials']} trials within {budget:.0f}s", flush=True)
    # The same retrain for every best configuration: train + validation, same seed, one test.
    display = Display()
    dataset = load_checked(DataConfig("mnist", seed=seed), display)
    for row in rows:
        row["test_accuracy"] = retrained_test_accuracy(
            json.loads(row["best_params"]), dataset, seed, display, row["engine"])
        print(f"{row['engine']}: retrained test accuracy {row['test_accuracy']:.4f}", flush=True)
    ours = curves["sweep (default)"]
    for row in rows:
        curve = curves[row["engine"]]
        reached = first_reaching(curve, row["best_val_accuracy"])
        row["seconds_to_own_best"] = reached
        mine = first_reaching(ours, row["best_val_accuracy"])
        row["sweep_seconds_to_this_best"] = mine
        row["sweep_time_ratio"] = round(mine / reached, 3) if mine is not None and reached else None
    table = pd.DataFrame(rows)
    write_csv(table, out / "peers.csv")
    plots.plot_curves(curves, out / "peers.png",
                      f"MNIST: best validation accuracy within KerasTuner Hyperband's {budget:.0f}s")
    write_json(out / "machine.json", machine_info())
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
    from sweep import plots

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    space = out / "space.yaml"
    space.write_text(QUICK_SPACE)
    process = subprocess.Popen(
        sweep_command(dataset, out, seed, "--space", str(space), "--trials", str(trials),
                      "--timeout", "100000", "--workers", str(workers)),
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
            rows.append({"trials_finished": len(rows) + 1, "rss_mb": round(rss / 2**20, 1),
                         "peak_mb": round(peak / 2**20, 1)})
            print(f"trial {len(rows)}: {rows[-1]['rss_mb']} MB (peak {rows[-1]['peak_mb']} MB)",
                  flush=True)
    if process.returncode != 0:
        raise SystemExit(f"the sweep failed with exit code {process.returncode}")
    table = pd.DataFrame(rows)
    write_csv(table, out / "rss.csv")
    plots.plot_rss(table, out / "rss.png", f"{dataset}: memory of the sweep's processes, "
                   f"{workers} worker(s)")
    write_json(out / "machine.json", machine_info())
    return table


def machine_info() -> dict[str, object]:
    """Where a benchmark ran: results are only comparable on the same kind of machine."""
    from sweep.backend import cpu_info, load_keras

    keras = load_keras()
    import tensorflow as tf

    flags = set(cpu_info("flags").split())
    return {
        "machine": platform.machine(), "processor": cpu_info("model name") or platform.processor(),
        # AVX-512 and native bfloat16 made the largest differences between machines seen here.
        "vector_units": " ".join(sorted(flags & {"avx2", "avx512f", "avx512_bf16", "amx_bf16"})),
        "precision": keras.mixed_precision.global_policy().name,
        # ONEDNN_MAX_CPU_ISA=AVX2 keeps TensorFlow's oneDNN kernels to AVX2 code on an AVX-512
        # CPU: how this project's AVX2-only machines' kernels fare, at this CPU's speed.
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL"),
        "cores": usable_cpus(), "python": platform.python_version(),
        "tensorflow": tf.__version__, "keras": keras.__version__, "optuna": optuna.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sweep.bench", description=__doc__.splitlines()[0])
    parser.add_argument("benchmark",
                        choices=("strategies", "workers", "memory", "throughput", "peers"))
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--budget", type=float, default=600.0, help="strategies: seconds each")
    parser.add_argument("--trials", type=int, default=40, help="memory, workers: trials to run")
    parser.add_argument("--workers", type=int, default=1, help="memory: worker processes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results/bench")
    args = parser.parse_args(argv)
    out = Path(args.out) / args.benchmark
    if args.benchmark == "strategies":
        table = strategies(args.dataset, args.budget, args.seed, out)
    elif args.benchmark == "peers":
        table = peers(args.seed, out)
    elif args.benchmark == "throughput":
        table = throughput(out)
    elif args.benchmark == "workers":
        table = workers_throughput(args.dataset, args.trials, args.seed, out)
    else:
        table = memory(args.dataset, args.trials, args.workers, args.seed, out)
        if len(table) >= 40:
            rss = table["rss_mb"]
            print(f"RSS growth from the end of trial 5 to the end of trial 40: "
                  f"{rss.iloc[39] - rss.iloc[4]:+.0f} MB (highest after trial 5: "
                  f"{rss.iloc[4:40].max() - rss.iloc[4]:+.0f} MB)")
    print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
