"""Sampler and pruner pairs raced at an equal wall budget (``BENCH=strategies``)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import optuna
import pandas as pd
from optuna.trial import TrialState

from bench.common import load_bench_study, machine_info, sweep_command
from sweep.choice.leaderboard import write_csv
from sweep.files import write_json

STRATEGIES = (("tpe", "hyperband"), ("tpe", "median"), ("tpe", "none"), ("random", "hyperband"))


def run_strategy(dataset: str, sampler: str, pruner: str, budget: float, seed: int, out: Path) -> Path:
    """One sweep in a fresh process; returns its results folder."""
    folder = out / f"{sampler}-{pruner}"
    shutil.rmtree(folder, ignore_errors=True)  # a fresh study: nothing left from an earlier run
    subprocess.run(
        sweep_command(
            dataset,
            folder,
            seed,
            "--sampler",
            sampler,
            "--pruner",
            pruner,
            "--trials",
            "10000",
            "--timeout",
            str(budget),
        ),
        check=True,
        stdout=subprocess.DEVNULL,
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
        rows.append(
            {
                "sampler": sampler,
                "pruner": pruner,
                "budget_s": budget,
                "best_val_accuracy": curve["best_val_accuracy"].max(),
                "complete": counts.get("complete", 0),
                "pruned": counts.get("pruned", 0),
                "failed": counts.get("fail", 0),
                "wall_s": round(time.monotonic() - started, 1),
            }
        )
        print(
            f"{sampler:>6} + {pruner:<9}: best val_accuracy {rows[-1]['best_val_accuracy']:.4f}, "
            f"{rows[-1]['complete']} complete, {rows[-1]['pruned']} pruned",
            flush=True,
        )
    table = pd.DataFrame(rows).sort_values("best_val_accuracy", ascending=False)
    write_csv(table, out / "strategies.csv")
    plots.plot_curves(curves, out / "strategies.png", f"{dataset}: best validation accuracy within {budget:.0f}s")
    write_json(out / "machine.json", machine_info())
    return table
