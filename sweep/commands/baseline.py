"""``sweep baseline``: the notebooks' four stages for a dataset's baseline CNN.

load and preprocess → define the architecture → train → evaluate once on the test set.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweep.choice.stats import with_interval
from sweep.data.registry import Dataset, check_exists
from sweep.files import ensure_writable
from sweep.models.params import Architecture, baseline_params
from sweep.progress import Display
from sweep.settings import DataConfig, load_checked

if TYPE_CHECKING:
    from sweep.models.train import Evaluation, TrainResult


def run_baseline(data: DataConfig, epochs: int | None = None) -> int:
    """Train the baseline on the training split (validated on the validation split) and test it."""
    check_exists(data.dataset)
    out = ensure_writable(data.folder / "baseline")
    display = Display()
    dataset = load_checked(data, display)
    params = baseline_params(data.kind, dataset.input_shape)
    if epochs is not None:
        params["epochs"] = epochs
    arch = Architecture.from_params(params)
    arch.check_fits(dataset.input_shape)

    from sweep.models import train as training  # TensorFlow starts here

    model = training.new_model(arch, dataset.input_shape, dataset.num_classes, data.seed, len(dataset.x_train))
    model.summary(print_fn=lambda line, **_: display.log(line))
    with display.session(), display.task("baseline epochs", arch.epochs) as task:
        result = training.train(
            model,
            arch,
            dataset.x_train,
            dataset.y_train,
            seed=data.seed,
            validation=(dataset.x_val, dataset.y_val),
            task=task,
        )
    metrics, _ = write_model_report(
        out,
        result,
        dataset,
        data,
        extra={"params": params, "epochs": result.epochs_run},
        title=f"{dataset.name} baseline",
    )
    display.log(
        f"\nBaseline on {dataset.name}: test accuracy "
        f"{with_interval(metrics['test_accuracy'], *metrics['test_accuracy_ci95'])}, "
        f"test loss {metrics['test_loss']:.4f}, {metrics['param_count']:,} parameters, "
        f"trained {result.epochs_run} epochs in {result.fit_seconds:.0f}s.\nFiles in {out}/: "
        "model.keras, metrics.json, samples.png, history.png, confusion_matrix.png"
    )
    return 0


def write_model_report(
    out: Path,
    result: TrainResult,
    dataset: Dataset,
    data: DataConfig,
    extra: dict[str, Any],
    title: str,
    samples: bool = True,
) -> tuple[dict[str, Any], Evaluation]:
    """Evaluate once on the test set and write model, metrics and figures into ``out``.

    What is evaluated is what is saved: the float32 copy (:func:`sweep.models.build.portable`), so
    the test accuracy is the saved model's to the image, whatever precision trained it."""
    from sweep.choice.stats import wilson
    from sweep.files import atomic_write, write_json, write_text
    from sweep.models.build import portable
    from sweep.models.train import evaluate, library_versions
    from sweep.reporting import plots

    shipped = portable(result.model)
    evaluation = evaluate(shipped, dataset.x_test, dataset.y_test, dataset.class_names)
    atomic_write(out / "model.keras", shipped.save)
    metrics = {
        "dataset": dataset.name,
        "data_source": dataset.source,
        "class_names": dataset.class_names,
        "test_accuracy": evaluation.accuracy,
        "test_accuracy_ci95": list(wilson(int(evaluation.correct.sum()), len(evaluation.correct))),
        "test_images": len(evaluation.correct),
        "train_images": len(dataset.x_train),
        "val_images": len(dataset.y_val),
        "test_loss": evaluation.loss,
        "param_count": result.model.count_params(),
        "train_seconds": round(result.fit_seconds, 2),
        "seed": data.seed,
        **extra,
        "per_class": {name: evaluation.report[name] for name in dataset.class_names},
        "history": result.history,
        "versions": library_versions(),
    }
    write_json(out / "metrics.json", metrics)
    if samples:
        plots.plot_samples(dataset.x_train, dataset.y_train, dataset.class_names, out / "samples.png")
    plots.plot_history(result.history, out / "history.png", f"{title}: loss and accuracy")
    plots.plot_confusion(
        evaluation.confusion,
        dataset.class_names,
        out / "confusion_matrix.png",
        f"{title}: test set confusion matrix",
    )
    wrong = (~evaluation.correct).nonzero()[0]
    plots.plot_mistakes(
        dataset.x_test[wrong],
        dataset.y_test[wrong],
        evaluation.predicted[wrong],
        evaluation.confidence[wrong],
        dataset.class_names,
        out / "mistakes.png",
    )
    lines: list[str] = []
    result.model.summary(print_fn=lambda line, **_: lines.append(line))
    write_text(out / "summary.txt", "\n".join(lines) + "\n")
    return metrics, evaluation
