"""The answer's trial model reused, checked on validation data only (``BENCH=reuse``): does the
mean of the answer's retrained model and the model its trial already trained predict better
than the retrain alone?

A sweep trains the answer's recipe twice: once as its trial, on the training split, and again
on train + validation for the final test. For each dataset, candidate and seed this benchmark
does the same on images no test set holds: the "trial" trains the candidate as a sweep runs it
on the split's training images less a tenth (what stands for the sweep's validation split),
the "retrain" on all of them with another seed; both are scored alone and averaged on the
split's scored images, each over its test-time views where :mod:`sweep.models.views`'s rule
applies, as the answer would be. ``mnist-50k``: 50,000 MNIST training images, scored on the
other 10,000, the candidate's own epochs (the fast machine's full MNIST). Every finished run is
kept under ``runs/``; the tables: ``reuse.csv`` and ``reuse.md``.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd

from bench.portfolio import DATASETS as PORTFOLIO_SETS
from bench.portfolio import Split, fit_point, run_all, write_tables
from bench.views import view_splits
from sweep.files import write_json

DATASETS = (*PORTFOLIO_SETS, "mnist-50k")
CANDIDATES = ("small", "double")  # the shipped portfolio (sweep.space.portfolio.PORTFOLIO)
HELD_OUT = 0.1  # of the training images: the sweep's validation split, which its trials do not train on
RETRAIN_SEED = 100  # added to the trial's seed: the retrain is another run of the recipe
SCORED = ("trial", "retrain", "averaged")


def reuse(names: list[str], seeds: list[int], data_dir: str | None, out: Path) -> pd.DataFrame:
    """One row per dataset, candidate and seed: the trial's, the retrain's and their mean's
    accuracy. ``data_dir``: the folder of Keras's mnist.npz."""
    run_all(
        "reuse",
        names,
        DATASETS,
        list(CANDIDATES),
        seeds,
        out,
        lambda name, candidate, seed, lock: _run(name, candidate, seed, lock, data_dir, out),
    )
    return write_tables("reuse", out, summary)


def trial_split(split: Split, seed: int) -> Split:
    """``split`` with HELD_OUT of its training images left out, each class in its share: what a
    trial trains on when the retrain trains on all of them."""
    from sweep.search.fidelity import subset

    kept = subset(split.y_train, int(round((1 - HELD_OUT) * len(split.y_train))), seed)
    return Split(split.x_train[kept], split.y_train[kept], split.x_score, split.y_score)


def _run(name: str, candidate: str, seed: int, lock: threading.Lock, data_dir: str | None, out: Path) -> None:
    """Train one candidate's trial and retrain on one dataset and seed (every fold), score them
    alone and averaged, and keep the run under ``out/runs``; nothing where an earlier start
    kept it."""
    stem = out / "runs" / f"{name}-{candidate}-{seed}"
    if stem.with_suffix(".json").is_file():
        return
    from sweep.models.build import average_of, probabilities, with_views
    from sweep.models.views import SHIFTS, views_for

    right: dict[str, list[np.ndarray]] = {what: [] for what in SCORED}
    seconds, views = 0.0, 1
    for split in view_splits("mnist-short" if name == "mnist-50k" else name, seed, data_dir):
        trial, point = fit_point(name, candidate, trial_split(split, seed), seed)
        retrain, _ = fit_point(name, candidate, split, seed + RETRAIN_SEED)
        shifts = views_for(point, split.x_train.shape[1:], len(SHIFTS))
        views = len(shifts)
        models = {
            "trial": trial.model,
            "retrain": retrain.model,
            "averaged": average_of([retrain.model, trial.model]),
        }
        with lock:
            for what, model in models.items():
                predicted = probabilities(with_views(model, shifts), split.x_score).argmax(axis=1)
                right[what].append(predicted == split.y_score)
        seconds += trial.fit_seconds + retrain.fit_seconds
    scored = {what: np.concatenate(parts) for what, parts in right.items()}
    for what, values in scored.items():
        np.save(f"{stem}-{what}.npy", values)
    row = {
        "dataset": name,
        "candidate": candidate,
        "seed": seed,
        "views": views,
        "scored_images": len(scored["retrain"]),
        **{what: float(values.mean()) for what, values in scored.items()},
        "fit_seconds": round(seconds, 1),
    }
    write_json(stem.with_suffix(".json"), row)
    print(
        f"{name} {candidate} seed {seed}: trial {row['trial']:.4f}, retrain {row['retrain']:.4f}, "
        f"averaged {row['averaged']:.4f}",
        flush=True,
    )


def summary(table: pd.DataFrame, out: Path) -> str:
    """A markdown table: per dataset and candidate, each model's accuracy (mean of the seeds)
    and the mean's paired difference from the retrain alone, with its 95 % interval."""
    from sweep.choice.stats import paired_difference, with_interval

    lines = [
        "| Dataset | Candidate | Seeds | Views | Trial | Retrain | Averaged | Averaged − retrain (95 %) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (name, candidate), runs in table.groupby(["dataset", "candidate"], sort=False):
        stems = [out / "runs" / f"{name}-{candidate}-{seed}" for seed in runs["seed"]]
        both = [np.concatenate([np.load(f"{stem}-{what}.npy") for stem in stems]) for what in ("averaged", "retrain")]
        gain = with_interval(*paired_difference(*both), signed=True, words=False)
        lines.append(
            f"| {name} | {candidate} | {', '.join(map(str, runs['seed']))} | {runs['views'].max()} | "
            f"{runs['trial'].mean():.4f} | {runs['retrain'].mean():.4f} | {runs['averaged'].mean():.4f} | {gain} |"
        )
    return "\n".join(lines) + "\n"
