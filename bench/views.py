"""Test-time views checked on validation data only (``BENCH=views``): does the answer predict
better as the mean over the image and its one-pixel shifts (:mod:`sweep.models.views`)?

The shipped starting points (``small``, ``double``) train once per dataset and seed as a sweep
runs them, on BENCH=portfolio's splits (:func:`bench.portfolio.splits`, no test image), plus
``mnist-short``: 50,000 MNIST training images for 3 epochs, scored on the other 10,000, the
few epochs an answer gets at the slowest machine kind's speed. Each trained model is scored
alone and over every view of :data:`sweep.models.views.SHIFTS`, on the same images, whether
the rule applies there or not, so the table shows where it would have cost. Every finished
run is kept under ``runs/`` (a stopped benchmark resumes); the tables: ``views.csv`` and
``views.md``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from bench.portfolio import DATASETS as PORTFOLIO_SETS
from bench.portfolio import Split, fit_point, mnist_train, run_all, splits, write_tables
from sweep.files import write_json

DATASETS = (*PORTFOLIO_SETS, "mnist-short")
CANDIDATES = ("small", "double")  # the shipped portfolio (sweep.space.portfolio.PORTFOLIO)
SHORT_IMAGES, SHORT_EPOCHS = 50_000, 3


def views(names: list[str], seeds: list[int], data_dir: str | None, out: Path) -> pd.DataFrame:
    """One row per dataset, candidate and seed: accuracy alone and over the views, and
    whether the rule applies. ``data_dir``: the folder of Keras's mnist.npz."""
    run_all(
        "views",
        names,
        DATASETS,
        list(CANDIDATES),
        seeds,
        out,
        lambda name, candidate, seed, lock: _run(name, candidate, seed, lock, data_dir, out),
    )
    return write_tables("views", out, summary)


def view_splits(name: str, seed: int, data_dir: str | None) -> Iterator[Split]:
    """The splits of ``name``: BENCH=portfolio's, or mnist-short's (SHORT_IMAGES trained on, the rest scored)."""
    if name != "mnist-short":
        yield from splits(name, seed, data_dir)
        return
    x, y = mnist_train(data_dir)
    x = (x.astype(np.float32) / np.float32(255.0))[..., None]
    order = np.random.default_rng(seed).permutation(len(y))
    keep, rest = order[:SHORT_IMAGES], order[SHORT_IMAGES:]
    yield Split(x[keep], y[keep], x[rest], y[rest])


def _run(name: str, candidate: str, seed: int, lock: threading.Lock, data_dir: str | None, out: Path) -> None:
    """Train one candidate on one dataset and seed (every fold), score it alone and over the
    views, and keep the run under ``out/runs``; nothing where an earlier start kept it."""
    stem = out / "runs" / f"{name}-{candidate}-{seed}"
    if stem.with_suffix(".json").is_file():
        return
    import time

    from sweep.models.build import probabilities, with_views
    from sweep.models.views import SHIFTS, views_for

    alone: list[np.ndarray] = []
    viewed: list[np.ndarray] = []
    seconds, score_seconds, applies = 0.0, [0.0, 0.0], True
    for split in view_splits(name, seed, data_dir):
        result, point = fit_point(name, candidate, split, seed, SHORT_EPOCHS if name == "mnist-short" else None)
        applies = len(views_for(point, split.x_train.shape[1:], len(SHIFTS))) > 1
        with lock:
            for index, model in enumerate((result.model, with_views(result.model, SHIFTS))):
                started = time.perf_counter()
                right = probabilities(model, split.x_score).argmax(axis=1) == split.y_score
                score_seconds[index] += time.perf_counter() - started
                (alone if index == 0 else viewed).append(right)
        seconds += result.fit_seconds
    plain, over = np.concatenate(alone), np.concatenate(viewed)
    np.save(f"{stem}-alone.npy", plain)
    np.save(f"{stem}-views.npy", over)
    row = {
        "dataset": name,
        "candidate": candidate,
        "seed": seed,
        "rule_applies": applies,
        "scored_images": len(plain),
        "alone": float(plain.mean()),
        "views": float(over.mean()),
        "fit_seconds": round(seconds, 1),
        "score_seconds_alone": round(score_seconds[0], 2),
        "score_seconds_views": round(score_seconds[1], 2),
    }
    write_json(stem.with_suffix(".json"), row)
    print(f"{name} {candidate} seed {seed}: {row['alone']:.4f} alone, {row['views']:.4f} over views", flush=True)


def summary(table: pd.DataFrame, out: Path) -> str:
    """A markdown table: per dataset and candidate, accuracy alone and over the views (mean of
    the seeds), their paired difference with its 95 % interval, and scoring time."""
    from sweep.choice.stats import paired_difference, with_interval

    lines = [
        "| Dataset | Candidate | Seeds | Rule applies | Alone | Over views | Difference (95 %) | Scoring time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (name, candidate), runs in table.groupby(["dataset", "candidate"], sort=False):
        stems = [out / "runs" / f"{name}-{candidate}-{seed}" for seed in runs["seed"]]
        alone = np.concatenate([np.load(f"{stem}-alone.npy") for stem in stems])
        over = np.concatenate([np.load(f"{stem}-views.npy") for stem in stems])
        gain = with_interval(*paired_difference(over, alone), signed=True, words=False)
        cost = runs["score_seconds_views"].sum() / max(runs["score_seconds_alone"].sum(), 1e-9)
        lines.append(
            f"| {name} | {candidate} | {', '.join(map(str, runs['seed']))} | "
            f"{'yes' if runs['rule_applies'].all() else 'no'} | {runs['alone'].mean():.4f} | "
            f"{runs['views'].mean():.4f} | {gain} | {cost:.1f}× |"
        )
    return "\n".join(lines) + "\n"
