"""The portfolio's starting points chosen again, on validation data only (``BENCH=portfolio``).

Each candidate layout (:data:`CANDIDATES`) trains once per dataset and seed and is scored on
labelled images it did not train on, never on a test set:

- ``digits``: 5-fold cross-validation over scikit-learn's digits less the sweep's test split
  (1,437 images; each fold trains on about 1,150);
- ``mnist-1k``, ``mnist-10k``: ``BENCH=datasets``'s stratified subsets of MNIST's training
  images, scored on the other 59,000 or 50,000 training images;
- ``rgb-10k``: 10,000 MNIST training images drawn as photos are (:func:`rgb_digits`: a
  coloured digit on a coloured gradient with pixel noise, 32×32), scored on 10,000 other
  training images drawn the same way. Its backgrounds fill the image, as MNIST's never do.

Each candidate runs as a sweep would run it (:func:`sweep.space.portfolio.adapt`: its blocks
fitted to the image size, its epochs scaled to the training split, flips only on
mirror-symmetric classes), over the dataset's baseline. Two train at a time, one
single-thread process per core, as a sweep's workers do. Every finished run is kept under
``runs/``, so an interrupted benchmark resumes where it stopped, and the tables cover every
run kept (a dataset may have more seeds than another). The tables:
``results/bench/portfolio/portfolio.csv`` (one row per dataset, candidate and seed) and
``portfolio.md`` (accuracy per dataset, each candidate against the shipped first point on the
same images with a 95 % interval, and seconds).
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.common import machine_info
from sweep.choice.leaderboard import write_csv
from sweep.files import write_json, write_text
from sweep.machine.backend import usable_cpus
from sweep.space.portfolio import LIMITED, PORTFOLIO, narrow

DATASETS = ("digits", "mnist-1k", "mnist-10k", "rgb-10k")
FOLDS = 5  # digits' cross-validation
RGB_IMAGES = 10_000  # trained on, and as many scored on
REFERENCE = "small"  # the shipped first starting point: every candidate is compared with it

# The rule that picks the portfolio from the table (:func:`choose`), fixed before the MNIST 10k
# and RGB rows were read. The first point always runs, on a slow machine often alone, so it
# must be cheap: at most FIRST_COST times the shipped first point's seconds. Differences under
# TIE in mean accuracy are noise: the cheaper candidate wins them.
FIRST_COST = 1.25
TIE = 0.001

_SMALL, _DOUBLE, _VGG = dict(PORTFOLIO[0].params), dict(PORTFOLIO[1].params), dict(LIMITED[1].params)
# The candidates of docs/portfolio.md (letters there), each a layout on one of two recipes
# (learning-rate schedule, dropout, augmentation, epochs: small's and vgg's), so that what
# differs is the layout. None: the dataset's baseline, the notebook's CNN.
CANDIDATES: dict[str, dict[str, Any] | None] = {
    "baseline": None,
    # A: 2 blocks of one convolution (32, 64), flatten, dense 128
    "small-shallow": narrow(_SMALL, 2, 1.0, 0),
    # B: 3 blocks of two convolutions (32, 64, 128), global average pooling
    "vgg": _VGG,
    # C: 2 blocks of two convolutions (32, 64), flatten, dense 256
    "double": _DOUBLE,
    # D: B with half the filters (16, 32, 64)
    "vgg-half": narrow(_VGG, 3, 0.5, 0),
    # E: 3 blocks of one convolution (32, 64, 128), global average pooling
    "small-gap": {**_SMALL, "head": "gap", "dense_units": 0},
    # F: 3 blocks of one convolution (32, 64, 128), flatten, dense 128
    "small": _SMALL,
}


@dataclass(frozen=True)
class Split:
    """Images to train on and labelled images to score on (none of them from a test set)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_score: np.ndarray
    y_score: np.ndarray


def portfolio(names: list[str], seeds: list[int], data_dir: str | None, out: Path) -> pd.DataFrame:
    """One row per dataset, candidate and seed: its validation accuracy, epochs and seconds.
    ``names``: of DATASETS; ``data_dir``: the folder of Keras's mnist.npz (the MNIST sets)."""
    run_all(
        "portfolio",
        names,
        DATASETS,
        list(CANDIDATES),
        seeds,
        out,
        lambda name, candidate, seed, lock: _run(name, candidate, seed, lock, data_dir, out),
    )
    return write_tables("portfolio", out, summary, kept_runs(out))


def run_all(
    what: str,
    names: list[str],
    known: tuple[str, ...],
    candidates: list[str],
    seeds: list[int],
    out: Path,
    run: Callable[[str, str, int, threading.Lock], None],
) -> None:
    """``run(name, candidate, seed, lock)`` for each of ``names`` (of ``known``; others stop
    benchmark ``what``), ``candidates`` and ``seeds``, a core each at a time, seed by seed (a
    benchmark stopped early has whole seeds of every dataset); ``lock``: scoring loads models
    in this process, one at a time. The machine's description goes to ``out``."""
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise SystemExit(f"unknown {what} datasets {unknown}: use some of {', '.join(known)}")
    (out / "runs").mkdir(parents=True, exist_ok=True)
    write_json(out / "machine.json", machine_info())
    jobs = [(name, candidate, seed) for seed in seeds for name in names for candidate in candidates]
    lock = threading.Lock()
    with ThreadPoolExecutor(max_workers=usable_cpus()) as pool:
        list(pool.map(lambda job: run(job[0], job[1], job[2], lock), jobs))


def write_tables(
    what: str, out: Path, summary: Callable[[pd.DataFrame, Path], str], table: pd.DataFrame | None = None
) -> pd.DataFrame:
    """``table`` (None: every run kept under ``out/runs``, by dataset, candidate and seed) as
    ``out/<what>.csv``, and ``summary(table, out)`` as ``out/<what>.md`` (printed too); the table."""
    if table is None:
        rows = [json.loads(path.read_text()) for path in sorted((out / "runs").glob("*.json"))]
        table = pd.DataFrame(rows).sort_values(["dataset", "candidate", "seed"]).reset_index(drop=True)
    text = summary(table, out)
    write_csv(table, out / f"{what}.csv")
    write_text(out / f"{what}.md", text)
    print(f"{text}\nWrote {out / f'{what}.csv'} and {out / f'{what}.md'}")
    return table


def _run(name: str, candidate: str, seed: int, lock: threading.Lock, data_dir: str | None, out: Path) -> None:
    """Train and score one candidate on one dataset and seed (every fold), and keep the run
    under ``out/runs``; nothing where an earlier start kept it."""
    stem = out / "runs" / f"{name}-{candidate}-{seed}"
    if stem.with_suffix(".json").is_file():
        return
    from sweep.models.build import probabilities
    from sweep.models.params import param_count_or_inf

    right, seconds, epochs, params = [], 0.0, 0, 0.0
    for split in splits(name, seed, data_dir):
        result, point = fit_point(name, candidate, split, seed)
        shape, classes = split.x_train.shape[1:], int(max(split.y_train.max(), split.y_score.max())) + 1
        with lock:
            right.append(probabilities(result.model, split.x_score).argmax(axis=1) == split.y_score)
        seconds += result.fit_seconds
        epochs, params = int(point["epochs"]), param_count_or_inf(point, shape, classes)
    correct = np.concatenate(right)
    np.save(stem.with_suffix(".npy"), correct)
    row = {
        "dataset": name,
        "candidate": candidate,
        "seed": seed,
        "epochs": epochs,
        "params": int(params),
        "scored_images": len(correct),
        "val_accuracy": float(correct.mean()),
        "fit_seconds": round(seconds, 1),
    }
    write_json(stem.with_suffix(".json"), row)
    print(f"{name} {candidate} seed {seed}: {row['val_accuracy']:.4f} in {seconds:.0f} s", flush=True)


def fit_point(
    name: str, candidate: str, split: Split, seed: int, epochs: int | None = None, start: Path | None = None
) -> tuple[Any, dict[str, Any]]:
    """Train ``candidate`` (of CANDIDATES) on ``split`` of dataset ``name`` as a sweep runs it
    (:func:`sweep.space.portfolio.adapt`; ``epochs``: that many instead; ``start``: from that
    saved model's weights), in one single-thread process: its TrainResult and its parameters."""
    from sweep.commands.ensemble import fit_members
    from sweep.models.params import baseline_params
    from sweep.progress import Display
    from sweep.space.portfolio import adapt, mirror_symmetric

    shape = split.x_train.shape[1:]
    classes = int(max(split.y_train.max(), split.y_score.max())) + 1
    point = baseline_params("digits" if name == "digits" else "mnist", shape)
    chosen = CANDIDATES[candidate]
    if chosen is not None:
        symmetric = mirror_symmetric(split.x_train, split.y_train)
        point = {**point, **adapt(chosen, shape, classes, len(split.y_train), symmetric)}
    if epochs is not None:
        point["epochs"] = epochs
    quiet = Display(_quiet_console())
    (result,) = fit_members(
        point, None, split.x_train, split.y_train, (shape, classes), seed, quiet, candidate, members=1, start=start
    )
    return result, point


def kept_runs(out: Path) -> pd.DataFrame:
    """Every run kept under ``out/runs`` (this start's and earlier ones'), in the order of
    DATASETS and CANDIDATES: a dataset may have more seeds than another."""
    rows = [json.loads(path.read_text()) for path in sorted((out / "runs").glob("*.json"))]
    table = pd.DataFrame(rows)
    table["order"] = [
        DATASETS.index(d) * 100 + list(CANDIDATES).index(c) for d, c in zip(table["dataset"], table["candidate"])
    ]
    return table.sort_values(["order", "seed"]).drop(columns="order").reset_index(drop=True)


def _quiet_console() -> Any:
    """A console that shows nothing: the members' per-epoch lines would bury the results."""
    from rich.console import Console

    return Console(file=io.StringIO(), force_terminal=False)


def splits(name: str, seed: int, data_dir: str | None) -> Iterator[Split]:
    """The train/score splits of benchmark dataset ``name`` (one, or FOLDS for digits)."""
    if name == "digits":
        from sklearn.model_selection import StratifiedKFold

        from sweep.data.registry import load_dataset

        data = load_dataset("digits", val_fraction=0.1)  # the sweep's split: its test images left out
        x, y = np.concatenate([data.x_train, data.x_val]), np.concatenate([data.y_train, data.y_val])
        for train, score in StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(x, y):
            yield Split(x[train], y[train], x[score], y[score])
        return
    x, y = mnist_train(data_dir)
    if name == "rgb-10k":
        order = np.random.default_rng(0).permutation(len(y))[: 2 * RGB_IMAGES]
        images = rgb_digits(x[order], np.random.default_rng(1))
        yield Split(images[:RGB_IMAGES], y[order[:RGB_IMAGES]], images[RGB_IMAGES:], y[order[RGB_IMAGES:]])
        return
    from bench.datasets import subset_split

    # The subset BENCH=datasets trains its sweeps on (bench.datasets.bench_data).
    keep, rest = (np.sort(part) for part in subset_split(y, name))
    yield Split(_unit(x[keep]), y[keep], _unit(x[rest]), y[rest])


def mnist_train(data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    """MNIST's 60,000 training images (uint8) and labels from Keras's mnist.npz; its test
    images are never read."""
    import os

    folder = data_dir or os.environ.get("SWEEP_DATA_DIR")
    if not folder or not (Path(folder) / "mnist.npz").is_file():
        raise SystemExit("the MNIST sets need Keras's mnist.npz: set SWEEP_DATA_DIR or pass --data-dir")
    with np.load(Path(folder) / "mnist.npz", allow_pickle=False) as arrays:
        return arrays["x_train"], arrays["y_train"].astype(np.int64)


def _unit(x: np.ndarray) -> np.ndarray:
    """uint8 grayscale images as the loaders give them: float32 in [0, 1], one channel."""
    scaled: np.ndarray = (x.astype(np.float32) / np.float32(255.0))[..., None]
    return scaled


def rgb_digits(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """MNIST digits ``x`` (n, 28, 28, uint8) as 32×32 colour photos, float32 in [0, 1]: each
    digit in one random colour on a background that fades between two others along a random
    direction, with pixel noise. The digit's colour differs from the background's mean by at
    least 0.4 (Euclidean, in RGB), so it stays legible."""
    n = len(x)
    ink = np.pad(x.astype(np.float32) / 255.0, ((0, 0), (2, 2), (2, 2)))[..., None]
    start, end = rng.random((n, 1, 1, 3)), rng.random((n, 1, 1, 3))
    angle = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    rows, cols = np.meshgrid(np.linspace(-0.5, 0.5, 32), np.linspace(-0.5, 0.5, 32), indexing="ij")
    fade = (np.cos(angle) * cols + np.sin(angle) * rows + 0.5)[..., None]
    background = start + (end - start) * fade
    colour = rng.random((n, 1, 1, 3))
    mean = background.mean(axis=(1, 2), keepdims=True)
    while (dull := np.linalg.norm(colour - mean, axis=-1)[..., 0, 0] < 0.4).any():
        colour[dull] = rng.random((int(dull.sum()), 1, 1, 3))
    noisy = background * (1 - ink) + colour * ink + rng.normal(0, 0.05, (n, 32, 32, 3))
    images: np.ndarray = np.clip(noisy, 0, 1).astype(np.float32)
    return images


def summary(table: pd.DataFrame, out: Path) -> str:
    """A markdown table per dataset: each candidate's mean validation accuracy over the seeds,
    its difference from REFERENCE on the same images and seeds (95 % interval), and seconds."""
    from sweep.choice.stats import paired_difference, with_interval

    lines = []
    for name, rows in table.groupby("dataset", sort=False):
        seeds = sorted(rows["seed"].unique())
        lines += [
            f"\n**{name}** ({int(rows['scored_images'].iloc[0]):,} images scored a seed; "
            f"seeds {', '.join(map(str, seeds))})\n",
            f"| Candidate | Epochs | Parameters | Validation | Against {REFERENCE} | Seconds a run |",
            "|---|---|---|---|---|---|",
        ]
        for candidate, runs in rows.groupby("candidate", sort=False):
            versus = "-"
            if candidate != REFERENCE and REFERENCE in set(rows["candidate"]):
                gain = paired_difference(_correct(out, name, candidate, seeds), _correct(out, name, REFERENCE, seeds))
                versus = with_interval(*gain, signed=True, words=False)
            lines.append(
                f"| {candidate} | {runs['epochs'].iloc[0]} | {runs['params'].iloc[0]:,} | "
                f"{runs['val_accuracy'].mean():.4f} | {versus} | {runs['fit_seconds'].mean():.0f} |"
            )
    first, second = choose(table)
    lines.append(f"\nThe rule (bench.portfolio.choose) picks: {first}, then {second}.")
    return "\n".join(lines) + "\n"


def choose(table: pd.DataFrame) -> tuple[str, str]:
    """The portfolio the table supports, greedily (as Auto-sklearn 2.0 builds its portfolio):
    first, the candidate with the best validation accuracy averaged over the datasets, among
    those at most FIRST_COST times REFERENCE's seconds (summed over the datasets); then the
    one that most raises the average of the better of the two on each dataset. Accuracies are
    means over seeds; the baseline is not a candidate."""
    accuracy = table.pivot_table(index="candidate", columns="dataset", values="val_accuracy", aggfunc="mean")
    seconds = table.pivot_table(index="candidate", columns="dataset", values="fit_seconds", aggfunc="mean").sum(axis=1)
    accuracy, seconds = (
        accuracy.drop(index="baseline", errors="ignore"),
        seconds.drop(index="baseline", errors="ignore"),
    )

    def best(scores: pd.Series, allowed: pd.Index) -> str:
        top = scores[allowed].max()
        return str(seconds[[c for c in allowed if scores[c] >= top - TIE]].idxmin())

    cheap = seconds.index[seconds <= FIRST_COST * seconds[REFERENCE]]
    first = best(accuracy.mean(axis=1), cheap)
    together = accuracy.clip(lower=accuracy.loc[first], axis=1).mean(axis=1)
    second = best(together, accuracy.index.drop(first))
    return first, second


def _correct(out: Path, name: str, candidate: str, seeds: list[int]) -> np.ndarray:
    """Which scored images a candidate got right, seed after seed."""
    return np.concatenate([np.load(out / "runs" / f"{name}-{candidate}-{seed}.npy") for seed in seeds])
