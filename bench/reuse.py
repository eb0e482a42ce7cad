"""The answer's trial model reused, checked on validation data only (``BENCH=reuse``): does the
mean of the answer's retrained model and the model its trial already trained predict better
than the retrain alone?

And does the retrain do better started from the trial's weights (``warm``, a fresh optimizer
and schedule: :mod:`sweep.search.kept`)?

A sweep trains the answer's recipe twice: once as its trial, on the training split, and again
on train + validation for the final test. For each dataset, candidate and seed this benchmark
does the same on images no test set holds: the "trial" trains the candidate as a sweep runs it
on the split's training images less a tenth (what stands for the sweep's validation split),
the "retrain" on all of them with another seed, from scratch and from the trial's weights;
each is scored alone (the retrain also averaged with the trial) on the split's scored images,
over its test-time views where :mod:`sweep.models.views`'s rule applies, as the answer would
be. ``mnist-50k``: 50,000 MNIST training images, scored on the other 10,000, the candidate's
own epochs (the fast machine's full MNIST). ``mnist-slow``: the same images as the slowest
kind's sweep trains on them, the trial on an eighth (SLOW_SHARE) for SLOW_TRIAL_EPOCHS and
the retrain for SLOW_RETRAIN_EPOCHS. Every finished run is kept under ``runs/``; the tables:
``reuse.csv`` and ``reuse.md``.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import numpy as np
import pandas as pd

from bench.portfolio import DATASETS as PORTFOLIO_SETS
from bench.portfolio import Split, fit_point, run_all, write_tables
from bench.views import view_splits
from sweep.files import write_json

DATASETS = (*PORTFOLIO_SETS, "mnist-50k", "mnist-slow")
CANDIDATES = ("small", "double")  # the shipped portfolio (sweep.space.portfolio.PORTFOLIO)
HELD_OUT = 0.1  # of the training images: the sweep's validation split, which its trials do not train on
RETRAIN_SEED = 100  # added to the trial's seed: the retrain is another run of the recipe
SCORED = ("trial", "retrain", "averaged", "warm")
# The slowest kind's 19 minutes on MNIST: trials explore on an eighth of the images
# (sweep.search.fidelity), and the answer retrains 2.7-3.5 epochs on all of them.
SLOW_SHARE, SLOW_TRIAL_EPOCHS, SLOW_RETRAIN_EPOCHS = 8, 20, 3
SPLITS = {"mnist-50k": "mnist-short", "mnist-slow": "mnist-short"}  # bench.views's 50,000 and 10,000


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


def trial_split(split: Split, seed: int, share: float = 1 - HELD_OUT) -> Split:
    """``split`` with ``share`` of its training images, each class in its share (HELD_OUT left
    out: what a trial trains on when the retrain trains on all of them)."""
    from sweep.search.fidelity import subset

    kept = subset(split.y_train, int(round(share * len(split.y_train))), seed)
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
    slow = name == "mnist-slow"
    share, epochs = (1 / SLOW_SHARE, SLOW_RETRAIN_EPOCHS) if slow else (1 - HELD_OUT, None)
    for split in view_splits(SPLITS.get(name, name), seed, data_dir):
        trial, point = fit_point(
            name, candidate, trial_split(split, seed, share), seed, SLOW_TRIAL_EPOCHS if slow else None
        )
        retrain, _ = fit_point(name, candidate, split, seed + RETRAIN_SEED, epochs)
        with tempfile.TemporaryDirectory() as folder:
            trial.model.save(Path(folder) / "trial.keras")
            warm, _ = fit_point(name, candidate, split, seed + RETRAIN_SEED, epochs, Path(folder) / "trial.keras")
        shifts = views_for(point, split.x_train.shape[1:], len(SHIFTS))
        views = len(shifts)
        models = {
            "trial": trial.model,
            "retrain": retrain.model,
            "averaged": average_of([retrain.model, trial.model]),
            "warm": warm.model,
        }
        with lock:
            for what, model in models.items():
                predicted = probabilities(with_views(model, shifts), split.x_score).argmax(axis=1)
                right[what].append(predicted == split.y_score)
        seconds += trial.fit_seconds + retrain.fit_seconds + warm.fit_seconds
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
        f"averaged {row['averaged']:.4f}, warm {row['warm']:.4f}",
        flush=True,
    )


def summary(table: pd.DataFrame, out: Path) -> str:
    """A markdown table: per dataset and candidate, each model's accuracy (mean of the seeds)
    and the paired differences of the mean and of the warm start from the retrain alone, with
    their 95 % intervals."""
    from sweep.choice.stats import paired_difference, with_interval

    lines = [
        "| Dataset | Candidate | Seeds | Views | Trial | Retrain | Averaged | Warm | Averaged − retrain (95 %) "
        "| Warm − retrain (95 %) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (name, candidate), runs in table.groupby(["dataset", "candidate"], sort=False):
        stems = [out / "runs" / f"{name}-{candidate}-{seed}" for seed in runs["seed"]]
        right = {what: np.concatenate([np.load(f"{stem}-{what}.npy") for stem in stems]) for what in SCORED[1:]}
        averaged, warm = (
            with_interval(*paired_difference(right[what], right["retrain"]), signed=True, words=False)
            for what in ("averaged", "warm")
        )
        lines.append(
            f"| {name} | {candidate} | {', '.join(map(str, runs['seed']))} | {runs['views'].max()} | "
            f"{runs['trial'].mean():.4f} | {runs['retrain'].mean():.4f} | {runs['averaged'].mean():.4f} | "
            f"{runs['warm'].mean():.4f} | {averaged} | {warm} |"
        )
    return "\n".join(lines) + "\n"
