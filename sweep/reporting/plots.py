"""Figures for people: sample grids, learning curves, confusion matrices, study plots.

Every figure is written atomically, with labelled axes and class names.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

if "ipykernel" not in sys.modules:  # a notebook keeps its inline plots; figures here are closed
    matplotlib.use("Agg")  # files only; no display needed on servers and in CI

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from sweep.files import atomic_write  # noqa: E402

if TYPE_CHECKING:
    import optuna


def save_figure(fig: Figure, path: Path) -> Path:
    """Write a figure atomically and free its memory."""
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight"))
    finally:
        plt.close(fig)


def plot_samples(
    images: np.ndarray, labels: np.ndarray, class_names: Sequence[str], path: Path, count: int = 25
) -> Path:
    """A grid of training images, each titled with its class name (as both notebooks show)."""
    count = min(count, len(images))
    side = int(np.ceil(np.sqrt(count)))
    fig, axes = plt.subplots(side, side, figsize=(1.6 * side, 1.7 * side), squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index < count:
            image = images[index]
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray")
            ax.set_title(class_names[int(labels[index])], fontsize=8)
    fig.suptitle("Training samples")
    return save_figure(fig, path)


def plot_history(history: Mapping[str, Sequence[float]], path: Path, title: str) -> Path:
    """Loss and accuracy per epoch, training and (if present) validation."""
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    epochs = np.arange(1, len(history["loss"]) + 1)
    for ax, metric, label in ((loss_ax, "loss", "Loss"), (acc_ax, "accuracy", "Accuracy")):
        ax.plot(epochs, history[metric], marker="o", label="training")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], marker="o", label="validation")
        ax.set_xlabel("Epoch")
        ax.set_ylabel(label)
        ax.set_xticks(epochs)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    return save_figure(fig, path)


def plot_mistakes(
    images: np.ndarray,
    true: np.ndarray,
    predicted: np.ndarray,
    confidence: np.ndarray,
    class_names: Sequence[str],
    path: Path,
    count: int = 25,
) -> Path:
    """The test images the model got wrong, most confident first: true class, predicted class
    and its probability under each (the notebooks' sample grid, for errors)."""
    order = np.argsort(-confidence)[:count]
    side = max(1, int(np.ceil(np.sqrt(len(order)))))
    fig, axes = plt.subplots(side, side, figsize=(2.0 * side, 2.1 * side), squeeze=False)
    for ax, index in zip(axes.flat, [*order, *[None] * (side * side - len(order))], strict=True):
        ax.axis("off")
        if index is not None:
            image = images[index]
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray")
            label = f"true {class_names[int(true[index])]}\npred {class_names[int(predicted[index])]}"
            ax.set_title(f"{label} ({confidence[index]:.0%})", fontsize=7)
    fig.suptitle(
        f"Test images it got wrong: {len(order)} of {len(images)}, most confident first"
        if len(images)
        else "No test image was misclassified"
    )
    return save_figure(fig, path)


def plot_curves(
    curves: Sequence[tuple[str, Sequence[tuple[float, float]], bool]], path: Path, xlabel: str, ylabel: str
) -> Path:
    """One line per ``(label, points, dashed)``: the report's learning curves."""
    fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    for label, points, dashed in curves:
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, "--" if dashed else "-", marker=".", label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_pareto(
    points: Sequence[tuple[float, float]],
    front: Sequence[tuple[float, float, str]],
    baseline: tuple[float, float] | None,
    path: Path,
    xlabel: str,
) -> Path:
    """Validation accuracy against a cost (log scale): every measured trial, the Pareto front
    labelled with its trial numbers, and the baseline."""
    fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    if points:
        ax.scatter(*zip(*points, strict=True), color="0.7", label="completed trials")
    xs, ys, labels = zip(*front, strict=True) if front else ((), (), ())
    ax.step(xs, ys, where="post", color="tab:red", marker="o", label="Pareto front")
    for x, y, label in zip(xs, ys, labels, strict=True):
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, -10), fontsize=8)
    if baseline is not None:
        ax.scatter(*baseline, marker="*", s=160, color="tab:blue", label="baseline", zorder=3)
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Validation accuracy")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ax.set_title("Accuracy against cost: the trials no other beats on both")
    return save_figure(fig, path)


def plot_confusion(matrix: np.ndarray, class_names: Sequence[str], path: Path, title: str) -> Path:
    """The confusion matrix with class names on both axes."""
    from sklearn.metrics import ConfusionMatrixDisplay

    size = max(5.0, 0.6 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ConfusionMatrixDisplay(matrix, display_labels=list(class_names)).plot(
        ax=ax, cmap="Blues", colorbar=False, xticks_rotation=45
    )
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    ax.set_title(title)
    return save_figure(fig, path)


# Parameter importances (fANOVA over the completed trials) and the parallel coordinates drawn
# from them need this many completed trials to mean anything; with fewer they rank noise.
MIN_TRIALS_FOR_IMPORTANCE = 10
# The parallel-coordinate plot shows this many of the most important parameters: with every
# parameter of a search space (15 and more) its labels overlap and nothing can be read.
PARALLEL_PARAMS = 6


def plot_study(study: optuna.Study, folder: Path) -> list[Path]:
    """Optuna's optimization history, parameter importances and parallel coordinates (of the
    PARALLEL_PARAMS most important parameters), the last two only from MIN_TRIALS_FOR_IMPORTANCE
    completed trials on (an older file of theirs is removed, so no report shows it).

    A plot that the study cannot support (a single varied parameter, several objectives) is
    skipped rather than failing the sweep.
    """
    import optuna
    from optuna.visualization import matplotlib as optuna_plots

    complete = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    plots: list[tuple[str, Any, dict[str, Any]]] = [
        ("optimization_history", optuna_plots.plot_optimization_history, {})
    ]
    if len(complete) >= MIN_TRIALS_FOR_IMPORTANCE:
        important = list(ranked_importances(study))[:PARALLEL_PARAMS]
        plots.append(("param_importances", optuna_plots.plot_param_importances, {}))
        if len(important) > 1:
            plots.append(("parallel_coordinate", optuna_plots.plot_parallel_coordinate, {"params": important}))
    written = []
    for name in ("param_importances", "parallel_coordinate"):
        if name not in {plot[0] for plot in plots}:
            (folder / f"{name}.png").unlink(missing_ok=True)
    for name, plot, options in plots:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ExperimentalWarning on every call
            try:
                ax = plot(study, target_name="Validation accuracy", **options)
            except (ValueError, RuntimeError, ZeroDivisionError):
                continue
        axes: Any = ax  # one Axes, or an array of them
        fig = (axes if hasattr(axes, "figure") else axes.flat[0]).figure
        written.append(save_figure(fig, folder / f"{name}.png"))
    return written


def ranked_importances(study: optuna.Study) -> dict[str, float]:
    """The parameters by importance, most important first; none where they cannot be told."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return optuna.importance.get_param_importances(study, target=lambda t: t.values[0])
        except (ValueError, RuntimeError, ZeroDivisionError):
            return {}
