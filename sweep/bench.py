"""Benchmarks, run by ``make bench`` (never by the tests): measured side by side, on this machine.

``python -m sweep.bench strategies`` runs the same sweep once per sampler/pruner pair, each in
its own process with the same wall-clock budget, seed, data split and search space, and writes
``results/bench/strategies.csv`` (one row per pair) and ``strategies.png`` (best validation
accuracy over time).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
from optuna.trial import TrialState

from sweep.files import write_json
from sweep.leaderboard import write_csv

STRATEGIES = (("tpe", "hyperband"), ("tpe", "median"), ("tpe", "none"), ("random", "hyperband"))


def run_strategy(dataset: str, sampler: str, pruner: str, budget: float, seed: int, out: Path) -> Path:
    """One sweep in a fresh process; returns its results folder."""
    folder = out / f"{sampler}-{pruner}"
    shutil.rmtree(folder, ignore_errors=True)  # a fresh study: nothing left from an earlier run
    subprocess.run(
        [sys.executable, "-m", "sweep", "sweep", "--dataset", dataset, "--results", str(folder),
         "--sampler", sampler, "--pruner", pruner, "--trials", "10000", "--timeout", str(budget),
         "--seed", str(seed), "--no-retrain"],
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
        name = Path(dataset.rstrip("/")).name
        study = optuna.load_study(study_name=name, storage=f"sqlite:///{folder / name / 'study.db'}")
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


def machine_info() -> dict[str, object]:
    """Where a benchmark ran: results are only comparable on the same kind of machine."""
    from sweep.backend import load_keras

    keras = load_keras()
    import tensorflow as tf

    return {
        "machine": platform.machine(), "processor": platform.processor(),
        "cores": os.cpu_count(), "python": platform.python_version(),
        "tensorflow": tf.__version__, "keras": keras.__version__, "optuna": optuna.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sweep.bench", description=__doc__.splitlines()[0])
    parser.add_argument("benchmark", choices=("strategies",))
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--budget", type=float, default=600.0, help="seconds per strategy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results/bench")
    args = parser.parse_args(argv)
    table = strategies(args.dataset, args.budget, args.seed, Path(args.out) / args.benchmark)
    print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
