"""Run settings as flat dataclasses: what the CLI parsed, and what a study records about itself."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sweep.data.registry import Dataset, is_builtin, load_dataset, results_name
from sweep.deploy.constraints import Limits
from sweep.errors import UsageError
from sweep.files import claim_results
from sweep.machine.backend import usable_cpus
from sweep.machine.devices import default_workers, find_gpus
from sweep.progress import Display

SAMPLERS = ("tpe", "random", "cmaes", "grid")
PRUNERS = ("hyperband", "halving", "median", "none")
ENGINES = ("optuna", "kerastuner")
# Worker processes get the storage URL in this environment variable, not on their command line,
# which any local user can read (a URL may hold a password).
STORAGE_VARIABLE = "SWEEP_STORAGE"
TUNERS = ("hyperband", "bayesian", "random")  # KerasTuner's tuners, for --engine kerastuner


@dataclass(frozen=True)
class DataConfig:
    """Which data to load and how to split it; the results folder is derived from it."""

    dataset: str
    data_dir: str | None = None
    val_fraction: float = 0.1
    seed: int = 0
    color_mode: str = "auto"
    image_size: tuple[int, int] | None = None
    results: str = "results"

    @property
    def name(self) -> str:
        """The dataset's folder name under results/ (built-in name or image folder name)."""
        return results_name(self.dataset)

    @property
    def kind(self) -> str:
        """The built-in dataset's name, or 'image_folder' for the user's own images (a folder or
        arrays): picks the baseline and search space."""
        return self.dataset if is_builtin(self.dataset) else "image_folder"

    @property
    def folder(self) -> Path:
        return Path(self.results) / self.name

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DataConfig:
        size = data.get("image_size")
        return cls(**{**data, "image_size": tuple(size) if size else None})


@dataclass(frozen=True)
class SweepConfig:
    """How to search."""

    # An exact cap on finished trials; None: search until the time limit says stop.
    trials: int | None = None
    # Search time: no trial starts after it, and running trials stop within a few batches
    # unless in their last epoch (the baseline and starting points finish); the retrain and
    # export come after. None: only the time limit ends the search.
    timeout: float | None = None
    # The whole command, search + retrains + export, ends within about this: the search runs
    # until the retrains of the best trial and the baseline (estimated from their own speed)
    # need the rest. A slow machine gets a shorter search, not a longer sweep. None: no limit.
    time_limit: float | None = 1140.0
    sampler: str = "tpe"
    pruner: str = "hyperband"
    storage: str | None = None  # None: SQLite file results/<dataset>/study.db
    study: str | None = None  # None: the dataset's name
    space: str | None = None  # None: search_spaces/<dataset>.yaml
    # A user's model function, module:function (it replaces the space's own `model:`); None:
    # the space's, or sweep's CNN family.
    model: str | None = None
    # Worker processes: one per GPU, else each with cores / workers threads. On 2 cores,
    # 2 workers × 1 thread ran 625 one-epoch MNIST trials an hour against 451 for 1 × 2
    # (`make bench BENCH=workers`).
    workers: int = field(default_factory=lambda: default_workers(len(find_gpus()), usable_cpus()))
    # A worker process is replaced after this many trials: Keras and TensorFlow keep about
    # 10 MB per trial that clear_session() does not free (`make bench BENCH=memory`), and a
    # fresh process costs a few seconds, a few percent of 5 trials.
    recycle: int = 5
    # Who proposes trials: Optuna (sampler + pruner above), or KerasTuner's `tuner` in this
    # process, for comparing engines on the same space, data and training loop.
    engine: str = "optuna"
    tuner: str = "hyperband"
    # Deployment limits (MAX_PARAMS, MAX_SIZE_KB, MAX_LATENCY_MS): the answer must meet them.
    limits: Limits = field(default_factory=Limits)
    # What the search trades accuracy against (sweep.choice.pareto): "accuracy" alone, "latency" or "size".
    objective: str = "accuracy"

    def __post_init__(self) -> None:
        if self.trials is None and self.timeout is None and self.time_limit is None:
            raise UsageError("nothing ends this search: give --trials (make TRIALS=), --timeout or --time-limit")


def load_checked(data: DataConfig, display: Display) -> Dataset:
    """Stage one, with a line saying what was loaded; its results folder is claimed for it
    (:func:`sweep.files.claim_results`)."""
    started = time.monotonic()
    dataset = load_dataset(
        data.dataset,
        data_dir=data.data_dir,
        val_fraction=data.val_fraction,
        seed=data.seed,
        color_mode=data.color_mode,
        image_size=data.image_size,
    )
    claim_results(data.folder, {"dataset": data.dataset, "source": dataset.source, "fingerprint": dataset.fingerprint})
    display.log(
        f"Loaded {dataset.name} from {dataset.source} in {time.monotonic() - started:.1f}s: "
        f"{len(dataset.x_train)} train / {len(dataset.x_val)} validation / "
        f"{len(dataset.x_test)} test images of {'×'.join(map(str, dataset.input_shape))}, "
        f"{dataset.num_classes} classes"
    )
    return dataset
