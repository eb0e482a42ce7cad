"""Benchmarks, run by ``make bench`` (never by the tests): measured side by side, on this machine.

``python -m bench strategies`` runs the same sweep once per sampler/pruner pair, each in
its own process with the same wall-clock budget, seed, data split and search space, and writes
``results/bench/strategies/strategies.csv`` (one row per pair) and ``strategies.png`` (best
validation accuracy over time).

``python -m bench workers`` runs the same fixed trials (the MNIST baseline, one epoch at
batch 128) with 1 worker × all cores and with 2 workers × half the cores each, and reports
trials per hour and the per-trial overhead (the time spent outside Keras's ``fit``):
``results/bench/workers/workers.csv``.

``python -m bench throughput`` measures seconds per 60k-image MNIST epoch of the baseline
CNN: the notebook's plain ``fit`` against the sweep's trial path, and the compute floor
(:mod:`bench.speed`): ``results/bench/throughput/throughput.csv`` and ``throughput.png``.

``python -m bench datasets`` runs the bare default sweep, and KerasTuner Hyperband with the
same time limit, on every real dataset at hand (MNIST, MNIST as an image folder of JPEGs, MNIST
subsets of 1,000 and 10,000 training images, scikit-learn's digits) and tabulates time, trials,
the baseline's and the final model's test accuracy, the gain with its interval, and where the
final model came from: ``results/bench/datasets/datasets.csv`` and ``datasets.md``.

``python -m bench pruning --results DIR`` reruns in full a sample of the pruned trials of
a finished sweep and says how many would have ranked in the top 3: how often the pruner stops a
good slow starter (``results/bench/pruning/pruning.csv``).

``python -m bench memory`` runs one sweep of ``--trials`` trials and records the summed
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
from typing import Any

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
    from bench import plots

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
    from bench import plots, speed
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


# The real datasets this project has: MNIST (Keras's file), MNIST as the notebook's image folder
# (train/<class>/*.jpg), stratified MNIST subsets of 1,000 and 10,000 training images (the same
# 10,000 test images), and scikit-learn's digits.
DATASETS = ("mnist", "mnist-folder", "mnist-10k", "mnist-1k", "digits")
ENGINES_RACED = {"sweep": (), "kerastuner": ("--engine", "kerastuner", "--tuner", "hyperband")}


def bench_data(name: str, mnist: Path | None, folder: Path) -> tuple[str, str | None]:
    """The --dataset and --data-dir of benchmark dataset ``name``, writing its files under
    ``folder`` from Keras's ``mnist`` file the first time."""
    import numpy as np

    if name == "digits":
        return "digits", None
    if mnist is None:
        raise FileNotFoundError("needs Keras's mnist.npz: set SWEEP_DATA_DIR or pass --data-dir")
    if name == "mnist":
        return "mnist", str(mnist.parent)
    with np.load(mnist, allow_pickle=False) as arrays:
        data = {key: arrays[key] for key in arrays.files}
    if name == "mnist-folder":
        root = folder / "mnist-folder"
        if not (root / "test").is_dir():
            write_image_folder(data, root)
        return str(root), None
    size = int(name.removeprefix("mnist-").removesuffix("k")) * 1000
    target = folder / name / "mnist.npz"
    if not target.is_file():
        from sklearn.model_selection import train_test_split

        keep, _ = train_test_split(np.arange(len(data["y_train"])), train_size=size,
                                   stratify=data["y_train"], random_state=0)
        keep = np.sort(keep)
        target.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(target, x_train=data["x_train"][keep], y_train=data["y_train"][keep],
                            x_test=data["x_test"], y_test=data["y_test"])
    return "mnist", str(target.parent)


def write_image_folder(data: dict[str, Any], root: Path) -> None:
    """MNIST as the notebook's image folder: <split>/<digit>/<n>.jpg, written beside, then
    renamed into place."""
    from PIL import Image

    staging = root.with_name(root.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    for split in ("train", "test"):
        for index, (pixels, label) in enumerate(zip(data[f"x_{split}"], data[f"y_{split}"])):
            path = staging / split / str(label) / f"{index:05d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(path, quality=95)
    staging.rename(root)


def race(name: str, engine: str, dataset: str, data_dir: str | None, time_limit: float, seed: int,
         out: Path) -> dict[str, object]:
    """One bare sweep (or KerasTuner's) on one dataset; its row of the datasets table."""
    folder = out / name / engine
    shutil.rmtree(folder, ignore_errors=True)
    command = [sys.executable, "-m", "sweep", "sweep", "--dataset", dataset, "--results", str(folder),
               "--seed", str(seed), "--time-limit", str(time_limit), *ENGINES_RACED[engine]]
    if data_dir is not None:
        command += ["--data-dir", data_dir]
    started = time.monotonic()
    with open(out / name / f"{engine}.log", "w") as log:
        subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)
    wall = time.monotonic() - started
    results = next(folder.iterdir())  # results/<dataset name>/
    metrics = json.loads((results / "best" / "metrics.json").read_text())
    board = pd.read_csv(results / "leaderboard.csv")
    states = board["state"].value_counts().to_dict()
    winner = board.loc[board["trial"] == metrics["trial"], "origin"]
    low, high = metrics["test_gain_ci95"] or (None, None)
    return {
        "dataset": name, "engine": engine, "minutes": round(wall / 60, 1),
        "trials": len(board), "complete": states.get("complete", 0), "pruned": states.get("pruned", 0),
        "baseline_test": metrics["baseline_test_accuracy"], "final_test": metrics["test_accuracy"],
        "gain": metrics["test_gain"], "gain_low": low, "gain_high": high,
        "final_from": winner.iloc[0] if len(winner) else "?", "final_trial": metrics["trial"],
    }


def datasets(names: list[str], engines: list[str], time_limit: float, seed: int,
             data_dir: str | None, out: Path) -> pd.DataFrame:
    """The bare default sweep and KerasTuner Hyperband, each with the same time limit, on every
    benchmark dataset: ``datasets.csv`` and a Markdown table ``datasets.md``."""
    from sweep.datasets import resolve_data_dir

    out.mkdir(parents=True, exist_ok=True)
    chosen = resolve_data_dir(data_dir)
    mnist = chosen / "mnist.npz" if chosen is not None and (chosen / "mnist.npz").is_file() else None
    rows = []
    for name in names:
        try:
            dataset, folder = bench_data(name, mnist, out / "data")
        except FileNotFoundError as error:
            print(f"{name}: skipped ({error})", flush=True)
            continue
        (out / name).mkdir(exist_ok=True)
        for engine in engines:
            rows.append(race(name, engine, dataset, folder, time_limit, seed, out))
            row = rows[-1]
            print(f"{name} {engine}: {row['minutes']} min, {row['trials']} trials, baseline "
                  f"{row['baseline_test']}, final {row['final_test']:.4f} ({row['final_from']})",
                  flush=True)
            table = pd.DataFrame(rows)
            write_csv(table, out / "datasets.csv")  # after every run: a long bench keeps its rows
    (out / "datasets.md").write_text(markdown_table(table) + "\n")
    write_json(out / "machine.json", machine_info())
    return table


def markdown_table(table: pd.DataFrame) -> str:
    """The datasets table as the README shows it."""
    lines = ["| Dataset | Engine | Minutes | Trials (complete + pruned) | Baseline test | Final test "
             "| Gain (95 % interval) | Final model from |", "|---|---|---|---|---|---|---|---|"]
    for row in table.itertuples():
        gain = "—" if pd.isna(row.gain) else f"{row.gain:+.4f} ({row.gain_low:+.4f} to {row.gain_high:+.4f})"
        base = "—" if pd.isna(row.baseline_test) else f"{row.baseline_test:.4f}"
        lines.append(f"| {row.dataset} | {row.engine} | {row.minutes} | {row.trials} "
                     f"({row.complete} + {row.pruned}) | {base} | {row.final_test:.4f} | {gain} "
                     f"| {row.final_from} (trial {row.final_trial}) |")
    return "\n".join(lines)


def pruning(results: Path, study_name: str, sample: int, seed: int, data_dir: str | None,
            out: Path) -> pd.DataFrame:
    """How often the pruner stopped a trial that would have ranked in the top 3: ``sample`` of a
    finished sweep's pruned trials (``results``: its results root) run again in full, on the
    study's own split, and ranked among its completed trials (``pruning.csv``)."""
    import random

    from sweep.baseline import load_checked
    from sweep.objective import Objective
    from sweep.params import baseline_params
    from sweep.progress import Display
    from sweep.spaces import parse_space
    from sweep.study import load_study_at, recorded_data, recorded_settings

    out.mkdir(parents=True, exist_ok=True)
    folder = next(path for path in results.iterdir() if (path / "study.db").is_file())
    study = load_study_at(f"sqlite:///{(folder / 'study.db').resolve()}", study_name)
    record = recorded_settings(study)
    data = recorded_data(record, data_dir, str(results))
    display = Display()
    dataset = load_checked(data, display)
    space = parse_space(record["space"], record["space_source"]).for_data(len(dataset.x_train))
    completed = sorted((t.values[0] for t in study.trials if t.state == TrialState.COMPLETE), reverse=True)
    third = completed[min(2, len(completed) - 1)]
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED and not t.user_attrs.get("stopped")]
    chosen = random.Random(seed).sample(pruned, min(sample, len(pruned)))
    replay = optuna.create_study(direction="maximize")  # no pruner: every trial runs in full
    baseline = baseline_params(data.kind, dataset.input_shape)
    rows = []
    for trial in chosen:
        replay.enqueue_trial(trial.params)
        run = replay.ask()
        value = Objective(dataset, space, baseline, data.seed, display)(run)
        replay.tell(run, value)
        stopped_at = max(trial.intermediate_values) if trial.intermediate_values else 0
        rows.append({"trial": trial.number, "pruned_at_percent": stopped_at,
                     "score_when_pruned": trial.intermediate_values.get(stopped_at),
                     "full_score": value, "third_best_complete": third, "top3": value >= third})
        print(f"trial {trial.number}: pruned at {stopped_at} %, in full {value:.4f} "
              f"({'top 3' if value >= third else 'not top 3'}; third best {third:.4f})", flush=True)
    table = pd.DataFrame(rows)
    write_csv(table, out / "pruning.csv")
    if len(table):
        print(f"{int(table['top3'].sum())} of {len(table)} pruned trials would have ranked in the "
              f"top 3 ({table['top3'].mean():.0%})", flush=True)
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
    from bench import plots

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
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("benchmark",
                        choices=("datasets", "pruning", "strategies", "workers", "memory", "throughput"))
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--datasets", default=",".join(DATASETS),
                        help=f"datasets: which ones (default {','.join(DATASETS)})")
    parser.add_argument("--engines", default=",".join(ENGINES_RACED),
                        help="datasets: sweep, kerastuner or both (default)")
    parser.add_argument("--time-limit", type=float, default=1140.0,
                        help="datasets: each sweep's --time-limit (default 1140)")
    parser.add_argument("--data-dir", help="datasets, pruning: folder with Keras's dataset "
                        "files (default $SWEEP_DATA_DIR)")
    parser.add_argument("--results", help="pruning: the results root of a finished sweep")
    parser.add_argument("--study", help="pruning: its study name (default: the dataset's)")
    parser.add_argument("--sample", type=int, default=8, help="pruning: pruned trials rerun in full")
    parser.add_argument("--budget", type=float, default=600.0, help="strategies: seconds each")
    parser.add_argument("--trials", type=int, default=40, help="memory, workers: trials to run")
    parser.add_argument("--workers", type=int, default=1, help="memory: worker processes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results/bench")
    args = parser.parse_args(argv)
    out = Path(args.out) / args.benchmark
    if args.benchmark == "datasets":
        table = datasets(args.datasets.split(","), args.engines.split(","), args.time_limit,
                         args.seed, args.data_dir, out)
    elif args.benchmark == "pruning":
        if not args.results:
            raise SystemExit("pruning needs --results: the results root of a finished sweep")
        table = pruning(Path(args.results), args.study or Path(args.dataset.rstrip("/")).name,
                        args.sample, args.seed, args.data_dir, out)
    elif args.benchmark == "strategies":
        table = strategies(args.dataset, args.budget, args.seed, out)
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
