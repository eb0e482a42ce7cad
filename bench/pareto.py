"""``python -m bench pareto``: does a Pareto search's sampler (multi-objective TPE on a copy of the
study, :mod:`sweep.search.pareto_sampler`) find a better front of accuracy against latency than the
single-objective TPE it replaced?

Per seed, the same ``OBJECTIVE=latency`` sweep (same data, split, space, starting points and
number of trials, one worker, no time limit) runs twice side by side, each pinned to its own core
where there are two: once as shipped ("pareto"), once with TPE maximising accuracy alone ("tpe").
The table has, per run, the Pareto-optimal trials, the latency range they span, and the front's
hypervolume: the area it dominates in (validation accuracy above ACCURACY_FLOOR, log10 of the
latency below the costliest trial of either run), larger is better:
``results/bench/pareto/pareto.csv``.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from bench.common import load_bench_study, machine_info, sweep_command
from bench.datasets import bench_data
from sweep.choice.leaderboard import write_csv
from sweep.choice.pareto import FIGURES, front
from sweep.files import write_json

ARMS = ("pareto", "tpe")
# The hypervolume counts accuracy above this: below it a model is of no use on these datasets.
ACCURACY_FLOOR = 0.9


def run_arm(arm: str, args: list[str]) -> int:
    """One sweep (``python -m bench.pareto ARM sweep-args…``); ``tpe``: with the sampler of an
    accuracy-only search, whatever the objective."""
    if arm == "tpe":
        from sweep.search.study import PARETO_SAMPLERS

        del PARETO_SAMPLERS["tpe"]  # this process only: TPE samples as for accuracy alone
    from sweep.interface.cli import main

    return main(args)


def hypervolume(points: list[FrozenTrial], reference_ms: float) -> float:
    """Area the front ``points`` (cheapest first) dominates over ACCURACY_FLOOR and log10 of
    the latency up to ``reference_ms``."""
    figure = FIGURES["latency"]
    edges = [t.user_attrs[figure] for t in points[1:]] + [reference_ms]
    return sum(
        (math.log10(edge) - math.log10(t.user_attrs[figure])) * max(t.values[0] - ACCURACY_FLOOR, 0.0)
        for t, edge in zip(points, edges)
    )


def pareto(dataset: str, trials: int, seeds: list[int], data_dir: str | None, out: Path) -> pd.DataFrame:
    """Run both arms for every seed; write and return the table."""
    out.mkdir(parents=True, exist_ok=True)
    chosen = Path(data_dir or os.environ.get("SWEEP_DATA_DIR", "")) / "mnist.npz"
    name, folder = bench_data(dataset, chosen if chosen.is_file() else None, out / "data")
    pin = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
    rows = []
    for seed in seeds:
        runs = {}
        for core, arm in enumerate(ARMS):
            results = out / f"{dataset}-seed{seed}-{arm}"
            shutil.rmtree(results, ignore_errors=True)
            command = sweep_command(
                name, results, seed, "--objective", "latency", "--trials", str(trials), "--time-limit", "0"
            )
            command = [sys.executable, "-m", "bench.pareto", arm, *command[3:], "--workers", "1"]
            if folder is not None:
                command += ["--data-dir", folder]
            log = (out / f"{dataset}-seed{seed}-{arm}.log").open("w")
            if pin:
                command = ["taskset", "-c", str(core), *command]
            runs[arm] = (results, subprocess.Popen(command, stdout=log, stderr=log))
        for arm, (_, process) in runs.items():
            if process.wait() != 0:
                raise SystemExit(f"the {arm} sweep of seed {seed} failed: see {out}/{dataset}-seed{seed}-{arm}.log")
        studies = {arm: load_bench_study(name, results).trials for arm, (results, _) in runs.items()}
        costliest = max(
            t.user_attrs.get(FIGURES["latency"], 0.0)
            for trials_of in studies.values()
            for t in trials_of
            if t.state == TrialState.COMPLETE
        )
        for arm, trials_of in studies.items():
            optimal = front(trials_of, "latency")
            latencies = [t.user_attrs[FIGURES["latency"]] for t in optimal]
            rows.append(
                {
                    "dataset": dataset,
                    "seed": seed,
                    "sampler": arm,
                    "complete": sum(t.state == TrialState.COMPLETE for t in trials_of),
                    "pruned": sum(t.state == TrialState.PRUNED for t in trials_of),
                    "pareto_optimal": len(optimal),
                    "latency_span": round(max(latencies) / min(latencies), 2) if latencies else None,
                    "hypervolume": round(hypervolume(optimal, 1.1 * costliest), 5),
                    "best_val_accuracy": max((t.values[0] for t in optimal), default=None),
                }
            )
            print(
                f"{dataset} seed {seed} {arm:>6}: {len(optimal)} Pareto-optimal over "
                f"{rows[-1]['latency_span']}x latency, hypervolume {rows[-1]['hypervolume']:.4f}",
                flush=True,
            )
    table = pd.DataFrame(rows)
    write_csv(table, out / "pareto.csv")
    write_json(out / "machine.json", machine_info())
    return table


if __name__ == "__main__":
    raise SystemExit(run_arm(sys.argv[1], sys.argv[2:]))
