"""Two models side by side, averaged, against one model on every core, in the same time.

The check of :mod:`sweep.commands.ensemble`'s rule on validation data: for each seed, a starting point
of the portfolio trains on TRAIN_IMAGES of the training split for
``--budget`` seconds, once as one process using every core and once as two single-thread
processes side by side, averaged. Both are scored on every other image of the training and
validation splits (never the test set): tens of thousands of images, so that differences of a
tenth of a percent are told apart. The table has each run's accuracy and epochs, the paired
difference and its 95 % interval: ``results/bench/ensemble/ensemble.csv``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.common import machine_info
from sweep.choice.leaderboard import write_csv
from sweep.files import write_json
from sweep.machine.backend import usable_cpus
from sweep.search.budget import DECAYING, GROW

RECIPE = "small"  # the portfolio's starting point that most often became the answer
# Few enough that the recipe's epochs fit a short budget on one core; the rest are scored on.
TRAIN_IMAGES = 9_000
MEMBERS = 2  # SWEEP_MEMBERS=2: one per core of this project's machines


def ensemble(dataset: str, seeds: list[int], budget: float, out: Path, one_thread: bool = False) -> pd.DataFrame:
    """One row per seed: one model on every core against two averaged, in ``budget`` seconds.
    ``one_thread``: the one model trains on one thread too, as on a machine whose second core
    does not speed one process up (the slowest kind): then both get about the same epochs."""
    from sweep.choice.stats import paired_difference, with_interval
    from sweep.commands import ensemble as members_of
    from sweep.data.registry import load_dataset
    from sweep.models.build import average_of
    from sweep.models.train import correct
    from sweep.progress import Display
    from sweep.search.fidelity import subset
    from sweep.space.portfolio import PORTFOLIO

    out.mkdir(parents=True, exist_ok=True)
    data = load_dataset(dataset, val_fraction=0.1)
    chosen = subset(data.y_train, min(TRAIN_IMAGES, len(data.y_train)), 0)
    rest = np.setdiff1d(np.arange(len(data.y_train)), chosen)
    x_train, y_train = data.x_train[chosen], data.y_train[chosen]
    x_score = np.concatenate([data.x_train[rest], data.x_val])
    y_score = np.concatenate([data.y_train[rest], data.y_val])
    params: dict[str, Any] = dict(next(start for start in PORTFOLIO if start.name == RECIPE).params)
    most = int(GROW * params["epochs"]) if params.get("lr_schedule") in DECAYING else int(params["epochs"])
    shape = (data.input_shape, data.num_classes)
    cores, display, rows = usable_cpus(), Display(), []
    for seed in seeds:
        runs = {}
        for name, count, threads in (("one", 1, 1 if one_thread else cores), ("averaged", MEMBERS, 1)):
            until = time.time() + budget
            runs[name] = members_of.fit_members(
                params, None, x_train, y_train, shape, seed, display, name, until, most, count, threads
            )
        one = correct(runs["one"][0].model, x_score, y_score)
        averaged = correct(average_of([r.model for r in runs["averaged"]]), x_score, y_score)
        alone = correct(runs["averaged"][0].model, x_score, y_score)
        gain, low, high = paired_difference(averaged, one)
        rows.append(
            {
                "seed": seed,
                "one_model_val": float(one.mean()),
                "one_model_epochs": runs["one"][0].epochs_run,
                "averaged_val": float(averaged.mean()),
                "member_epochs": "/".join(str(r.epochs_run) for r in runs["averaged"]),
                "member_alone_val": float(alone.mean()),
                "gain": gain,
                "gain_low": low,
                "gain_high": high,
            }
        )
        print(
            f"seed {seed}: one model {rows[-1]['one_model_val']:.4f} ({rows[-1]['one_model_epochs']} epochs), "
            f"two averaged {rows[-1]['averaged_val']:.4f} ({rows[-1]['member_epochs']} epochs), "
            f"gain {with_interval(gain, low, high, signed=True, words=False)}",
            flush=True,
        )
    table = pd.DataFrame(rows)
    write_csv(table, out / "ensemble.csv")
    write_json(
        out / "machine.json",
        {
            **machine_info(),
            "dataset": dataset,
            "recipe": RECIPE,
            "budget_seconds": budget,
            "one_model_threads": 1 if one_thread else cores,
            "val_images": len(data.y_val),
        },
    )
    print(
        f"{dataset}, {RECIPE}, {budget:.0f} s each: mean gain of two averaged models over one "
        f"{table['gain'].mean():+.4f} over {len(seeds)} seeds ({len(y_score):,} images not trained on, no test image)",
        flush=True,
    )
    return table
