"""The benchmarks' figures: best accuracy over time, memory, throughput."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from sweep.reporting.plots import save_figure


def plot_curves(curves: Mapping[str, pd.DataFrame], path: Path, title: str) -> Path:
    """Best validation accuracy over wall time, one step line per search strategy."""
    fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    for label, curve in curves.items():
        done = curve[curve["best_val_accuracy"] > 0]
        ax.step(done["seconds"], done["best_val_accuracy"], where="post", marker="o", label=label)
    ax.set_xlabel("Wall time (s)")
    ax.set_ylabel("Best validation accuracy so far")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, path)


def plot_rss(table: pd.DataFrame, path: Path, title: str) -> Path:
    """Resident memory after each trial."""
    fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    ax.plot(table["trials_finished"], table["rss_mb"], marker="o")
    ax.set_xlabel("Trials finished")
    ax.set_ylabel("Resident memory of all processes (MB)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_throughput(table: pd.DataFrame, path: Path, title: str) -> Path:
    """Seconds per 60k images for each setup, as bars, with the compute floor of the sweep's
    own precision (the first trial row's) and twice it as lines."""
    fig, ax = plt.subplots(figsize=(10, 4.5), layout="constrained")
    is_floor = table["setup"].str.startswith("compute floor")
    measured = table[~is_floor]
    labels = [
        f"{row.setup}, batch {row.batch_size:.0f}\n{row.processes:.0f}×{row.threads_each} thr, {row.precision}"
        for row in measured.itertuples()
    ]
    ax.bar(labels, measured["seconds_per_60k"], color="tab:blue")
    precision = measured.loc[measured["setup"] == "trial", "precision"].iloc[0]
    floors = table[is_floor & table["precision"].eq("bfloat16" if "bfloat16" in precision else "float32")]
    floor = float(floors["seconds_per_60k"].iloc[0])
    ax.axhline(
        floor, color="tab:red", linestyle="--", label=f"{floors['precision'].iloc[0]} compute floor ({floor:.1f} s)"
    )
    ax.axhline(2 * floor, color="tab:orange", linestyle=":", label=f"2 × floor ({2 * floor:.1f} s)")
    ax.set_ylabel("Seconds per 60k training images")
    ax.set_title(title)
    ax.legend()
    ax.tick_params(axis="x", labelsize=7, rotation=90)
    return save_figure(fig, path)
