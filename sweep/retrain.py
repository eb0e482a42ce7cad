"""Retrain the best trial from scratch on train + validation and evaluate it once on the test set.

The baseline configuration is retrained the same way (same data, same seed) and tested on the
same images, so the reported gain compares like with like.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from sweep.baseline import load_checked, write_model_report
from sweep.budget import TimeLimit, final_params
from sweep.config import DataConfig, SweepConfig
from sweep.datasets import Dataset
from sweep.errors import UsageError
from sweep.files import ensure_writable, write_json
from sweep.leaderboard import update_summary
from sweep.params import Architecture, baseline_params
from sweep.progress import Display
from sweep.study import (
    baseline_trial,
    best_trial,
    finished_count,
    load_study,
    recorded_data,
    recorded_settings,
)

if TYPE_CHECKING:
    from sweep.train import TrainResult


def fit_full(
    params: dict[str, Any], dataset: Dataset, seed: int, display: Display, label: str
) -> TrainResult:
    """Train from scratch on train + validation (no validation left: the epochs are fixed)."""
    from sweep import train as training

    arch = Architecture.from_params(params)
    x = np.concatenate([dataset.x_train, dataset.x_val])
    y = np.concatenate([dataset.y_train, dataset.y_val])
    model = training.new_model(arch, dataset.input_shape, dataset.num_classes, seed)
    with display.session(), display.task(f"retrain {label} epochs", arch.epochs) as task:
        return training.train(model, arch, x, y, seed=seed, task=task)


def retrained_test_accuracy(params: dict[str, Any], dataset: Dataset, seed: int, display: Display,
                            label: str) -> float:
    """Test accuracy of ``params`` trained from scratch on train + validation."""
    from sweep.train import evaluate

    model = fit_full(params, dataset, seed, display, label).model
    return evaluate(model, dataset.x_test, dataset.y_test, dataset.class_names).accuracy


def retrain_best(study: optuna.Study, dataset: Dataset, data: DataConfig, display: Display,
                 limit: TimeLimit | None = None) -> dict[str, Any]:
    """Retrain best and baseline, write results/<dataset>/best/, plots and the summary row.

    With a ``limit``, the baseline is retrained only if its retrain fits before the limit (the
    best's always runs).
    """
    from sweep import plots
    from sweep.export import export_model

    best = best_trial(study)
    if best is None:
        raise UsageError(f"study {study.study_name!r} has no completed trial yet; run the sweep longer")
    out = ensure_writable(data.folder / "best")
    base = baseline_trial(study)
    best_params = final_params(best)
    base_params = (
        final_params(base) if base is not None and base.state == TrialState.COMPLETE
        else baseline_params(data.kind, dataset.input_shape)
    )

    display.log(f"Retraining trial {best.number} on train + validation for {best_params['epochs']} epochs")
    result = fit_full(best_params, dataset, data.seed, display, f"trial {best.number}")
    base_won = base is not None and base.number == best.number  # same model, same accuracy
    skipped = None if base_won or limit is None else limit.skip_line(base, "the baseline")
    base_accuracy: float | None = None
    if skipped:
        display.log(skipped)
    elif not base_won:
        display.log(f"Retraining the baseline the same way for {base_params['epochs']} epochs")
        base_accuracy = retrained_test_accuracy(base_params, dataset, data.seed, display, "baseline")

    metrics = write_model_report(
        out, result, dataset, data, title=f"{dataset.name} best (trial {best.number})", samples=False,
        extra={"trial": best.number, "params": best_params, "epochs": best_params["epochs"],
               "val_accuracy": best.values[0]},
    )
    if base_won:
        base_accuracy = metrics["test_accuracy"]
    metrics["baseline_test_accuracy"] = base_accuracy
    metrics["test_gain"] = None if base_accuracy is None else metrics["test_accuracy"] - base_accuracy
    write_json(out / "metrics.json", metrics)
    write_json(out / "params.json", {
        "dataset": data.dataset, "trial": best.number, "params": best_params,
        "class_names": dataset.class_names, "input_shape": list(dataset.input_shape),
    })
    plots.plot_study(study, data.folder / "plots")
    export_model(result.model, data.folder / "export", "keras")
    update_summary(data.folder.parent / "leaderboard.csv", {
        "dataset": data.name, "study": study.study_name, "finished_trials": finished_count(study),
        "best_trial": best.number, "best_val_accuracy": best.values[0],
        "baseline_val_accuracy": base.values[0] if base is not None and base.values else None,
        "test_accuracy": metrics["test_accuracy"], "baseline_test_accuracy": base_accuracy,
        "test_gain": metrics["test_gain"], "updated": _now(),
    })
    display.log(
        f"\nBest trial {best.number} retrained: test accuracy {metrics['test_accuracy']:.4f} "
        f"({_baseline_words(base_accuracy, metrics['test_gain'])}); "
        f"{metrics['param_count']:,} parameters.\nFiles: {out}/ (model, metrics, plots), "
        f"{data.folder / 'plots'}/, {data.folder / 'export'}/model.keras, {data.folder.parent / 'leaderboard.csv'}"
    )
    return metrics


def _baseline_words(accuracy: float | None, gain: float | None) -> str:
    if accuracy is None or gain is None:
        return "baseline not retrained"
    return f"baseline retrained the same way: {accuracy:.4f}, gain {gain:+.4f}"


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run_retrain(data: DataConfig, settings: SweepConfig) -> int:
    """``sweep retrain``: retrain the best trial of an existing study, on the data split the
    study was created with."""
    study = load_study(data, settings)
    recorded = recorded_data(recorded_settings(study), data.data_dir, data.results)
    if recorded.dataset != data.dataset:
        raise UsageError(f"study {study.study_name!r} sweeps {recorded.dataset}, not {data.dataset}; "
                         f"pass --dataset {recorded.dataset}, or another --study name")
    data = recorded
    if best_trial(study) is None:
        raise UsageError(f"study {study.study_name!r} has no completed trial yet; run the sweep first")
    ensure_writable(data.folder / "best")
    display = Display()
    retrain_best(study, load_checked(data, display), data, display)
    return 0
