"""The answer's share of the time limit chosen on held-out training images (``BENCH=share``).

The answer's retrain may take at most ``ANSWER_SHARE`` of the time limit (:mod:`sweep.search.budget`):
a larger share trains the final model longer and leaves the search less time. The bare sweep
runs once per share, dataset and seed, the share set through ``SWEEP_ANSWER_SHARE``, and its
final model is scored on labelled images it never saw, never on a test set: each dataset is
written in Keras's ``mnist.npz`` layout whose "test" images are MNIST *training* images kept
out of the sweep, so the sweep's own test accuracy is this benchmark's held-out score.

- ``mnist-50k``: 50,000 of MNIST's 60,000 training images, scored on the other 10,000;
- ``mnist-10k``: ``BENCH=datasets``'s 10,000-image subset, scored on 10,000 of the other 50,000;
- ``rgb-10k``: ``BENCH=portfolio``'s RGB digits (:func:`bench.portfolio.rgb_digits`, 32×32
  colour photos of 10,000 MNIST training images), scored on 10,000 others drawn the same way; a
  user's array file to the sweep, so it searches as it would for a user's own images.

With ``--slowest`` every sweep runs at the slowest machine kind's speed (:mod:`bench.speed`).
Each finished run is kept under ``runs/`` (an interrupted benchmark resumes); the tables:
``results/bench/share/[slowest/]share.csv`` (one row a run) and ``share.md`` (per dataset and
share: held-out accuracy over the seeds, each share against the shipped one on the same images
with a 95 % interval, the answer's epochs, the trials and the time line).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import machine_info, sweep_command
from bench.datasets import subset_split
from bench.portfolio import RGB_IMAGES, mnist_train, rgb_digits
from sweep.choice.leaderboard import write_csv
from sweep.files import write_json, write_text
from sweep.search.budget import ANSWER_SHARE, SHARE_VARIABLE

DATASETS = ("mnist-50k", "mnist-10k", "rgb-10k")
SCORED = 10_000  # held-out images a dataset is scored on
# The rule that picks the share from the table (:func:`choose`), fixed before the second seed's
# rows were read: the best held-out accuracy averaged over datasets and seeds, where means within
# TIE of the best are a tie, which the smallest share wins (it leaves the search the most time,
# which datasets unlike these may need more than MNIST does).
TIE = 0.0005


def share(
    names: list[str], shares: list[float], seeds: list[int], time_limit: float, data_dir: str | None, out: Path
) -> pd.DataFrame:
    """One bare sweep per dataset, share and seed, each with ``time_limit``; the table of runs kept."""
    unknown = sorted(set(names) - set(DATASETS))
    if unknown:
        raise SystemExit(f"unknown share datasets {unknown}: use some of {', '.join(DATASETS)}")
    (out / "runs").mkdir(parents=True, exist_ok=True)
    write_json(out / "machine.json", machine_info())
    # Seed by seed, every share in turn: a machine whose speed drifts drifts for every share.
    for seed in seeds:
        for name in names:
            dataset = held_out_data(name, data_dir, out / "data")
            for value in shares:
                _run(name, dataset, value, seed, time_limit, out)
    table = pd.DataFrame([json.loads(path.read_text()) for path in sorted((out / "runs").glob("*.json"))])
    table = table.sort_values(["dataset", "share", "seed"]).reset_index(drop=True)
    text = summary(table, out)
    write_csv(table, out / "share.csv")
    write_text(out / "share.md", text)
    print(f"{text}\nWrote {out / 'share.csv'} and {out / 'share.md'}")
    return table


def held_out_data(name: str, data_dir: str | None, folder: Path) -> Path:
    """The file of ``name`` in mnist.npz's layout: training images to sweep on, and as "test"
    images SCORED other MNIST training images (MNIST's test images are never read). MNIST's
    subsets are ``<name>/mnist.npz``, for the built-in loader (``--data-dir``); the RGB digits
    ``<name>.npz``, a user's array file."""
    from sklearn.model_selection import train_test_split

    target = folder / name / "mnist.npz" if name.startswith("mnist-") else folder / f"{name}.npz"
    if target.is_file():
        return target
    x, y = mnist_train(data_dir)
    if name == "rgb-10k":
        # BENCH=portfolio's images (bench.portfolio.splits), as the 0..255 integers of a photo.
        order = np.random.default_rng(0).permutation(len(y))[: RGB_IMAGES + SCORED]
        x, y = np.round(rgb_digits(x[order], np.random.default_rng(1)) * 255).astype(np.uint8), y[order]
        keep, rest = np.arange(RGB_IMAGES), np.arange(RGB_IMAGES, len(y))
    else:
        # The same subset as bench.datasets.bench_data's for the same size.
        keep, rest = subset_split(y, name)
        if len(rest) > SCORED:
            rest, _ = train_test_split(rest, train_size=SCORED, stratify=y[rest], random_state=0)
        keep, rest = np.sort(keep), np.sort(rest)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name("partial.npz")
    np.savez_compressed(partial, x_train=x[keep], y_train=y[keep], x_test=x[rest], y_test=y[rest])
    partial.rename(target)
    return target


def sweep_arguments(data: Path) -> tuple[str, list[str]]:
    """The sweep's --dataset for a file of :func:`held_out_data`, and its other data flags."""
    if data.name == "mnist.npz":
        return "mnist", ["--data-dir", str(data.parent)]
    return str(data), []


def _run(name: str, data: Path, value: float, seed: int, time_limit: float, out: Path) -> None:
    """One bare sweep with the answer's share ``value``, its row kept under ``out/runs``; nothing
    where an earlier start kept it."""
    stem = out / "runs" / run_name(name, value, seed)
    if stem.with_suffix(".json").is_file():
        return
    folder = out / "sweeps" / stem.name
    shutil.rmtree(folder, ignore_errors=True)
    dataset, flags = sweep_arguments(data)
    command = sweep_command(dataset, folder, seed, "--time-limit", str(time_limit), *flags, retrain=True)
    started = time.monotonic()
    log = stem.with_suffix(".log")
    with open(log, "w") as stream:
        subprocess.run(
            command, check=True, stdout=stream, stderr=subprocess.STDOUT, env={**os.environ, SHARE_VARIABLE: str(value)}
        )
    wall = time.monotonic() - started
    (results,) = (path for path in folder.iterdir() if path.is_dir())  # results/<dataset's folder>/
    metrics = json.loads((results / "best" / "metrics.json").read_text())
    board = pd.read_csv(results / "leaderboard.csv")
    chosen = board.loc[board["trial"] == metrics["trial"]]
    right = held_out_correct(results / "best" / "model.keras", data)
    if abs(right.mean() - metrics["test_accuracy"]) > 1e-4:  # the saved model is the one the sweep tested
        raise SystemExit(
            f"{stem.name}: best/model.keras scores {right.mean():.4f}, the sweep said {metrics['test_accuracy']:.4f}"
        )
    row = {
        "dataset": name,
        "share": value,
        "seed": seed,
        "held_out": metrics["test_accuracy"],
        "baseline_held_out": metrics["baseline_test_accuracy"],
        "answer_from": chosen["origin"].iloc[0] if len(chosen) else "?",
        "answer_epochs": metrics.get("epochs"),
        "trials": len(board),
        "minutes": round(wall / 60, 2),
        "time_limit": time_limit,
        "time": time_line(log.read_text()),
    }
    np.save(stem.with_suffix(".npy"), right)
    write_json(stem.with_suffix(".json"), row)
    print(f"{name} share {value:g} seed {seed}: held out {row['held_out']:.4f} in {row['minutes']} min", flush=True)


def run_name(name: str, value: float, seed: int) -> str:
    """A run's file stem: the share in percent, as a dot would read as a file suffix."""
    return f"{name}-share{value * 100:g}-seed{seed}"


def held_out_correct(model: Path, data: Path) -> np.ndarray:
    """Which held-out images (the "test" images of :func:`held_out_data`'s file ``data``, read
    by the sweep's own loader) ``model`` gets right."""
    from sweep.data.registry import load_dataset
    from sweep.models.build import load_saved, probabilities

    dataset, flags = sweep_arguments(data)
    loaded = load_dataset(dataset, data_dir=flags[1] if flags else None)
    right: np.ndarray = probabilities(load_saved(model), loaded.x_test).argmax(axis=1) == loaded.y_test
    return right


def time_line(log: str) -> str:
    """The sweep's closing ``Time:`` line (where the time went), or '' where it printed none."""
    lines = re.findall(r"^Time: .*$", log, flags=re.MULTILINE)
    return lines[-1] if lines else ""


def summary(table: pd.DataFrame, out: Path) -> str:
    """Per dataset, a markdown row per share: mean held-out accuracy over the seeds, its
    difference from the shipped share's on the same images (95 % interval), epochs, trials."""
    lines = []
    for name, rows in table.groupby("dataset", sort=False):
        lines += [
            f"\n**{name}** ({SCORED:,} held-out images a seed)\n",
            f"| Share | Seeds | Held out | Against {ANSWER_SHARE:g} | Answer's epochs | Trials | Minutes |",
            "|---|---|---|---|---|---|---|",
        ]
        for value, runs in rows.groupby("share"):
            lines.append(
                f"| {value:g} | {', '.join(map(str, runs['seed']))} | {runs['held_out'].mean():.4f} | "
                f"{_against(out, name, float(value), list(runs['seed']))} | "
                f"{', '.join(str(e) for e in runs['answer_epochs'])} | {runs['trials'].mean():.0f} | "
                f"{runs['minutes'].mean():.1f} |"
            )
    lines.append(f"\nThe rule (bench.share.choose) picks {choose(table):g}.")
    return "\n".join(lines) + "\n"


def choose(table: pd.DataFrame) -> float:
    """The share with the best held-out accuracy averaged over the datasets (each a mean over
    its seeds); within TIE of the best, the smallest share."""
    means = table.pivot_table(index="share", columns="dataset", values="held_out", aggfunc="mean").mean(axis=1)
    return float(min(value for value, mean in means.items() if mean >= means.max() - TIE))


def _against(out: Path, name: str, value: float, seeds: list[int]) -> str:
    """``value``'s held-out accuracy less the shipped share's, paired on the same images and
    seeds, with its 95 % interval; '-' for the shipped share itself or where it has no run."""
    from sweep.choice.stats import paired_difference, with_interval

    def correct(share: float) -> np.ndarray | None:
        paths = [out / "runs" / f"{run_name(name, share, seed)}.npy" for seed in seeds]
        return np.concatenate([np.load(p) for p in paths]) if all(p.is_file() for p in paths) else None

    mine, shipped = correct(value), correct(ANSWER_SHARE)
    if value == ANSWER_SHARE or mine is None or shipped is None:
        return "-"
    return with_interval(*paired_difference(mine, shipped), signed=True, words=False)
